/**
 * GET /metrics: Prometheus text format (lib/http/metrics.ts). Outside /api, so it
 * checks the key itself: the admin key, or none when METRICS_PUBLIC=true.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../lib/http/env.ts";
import { authenticate } from "../lib/http/auth.ts";
import { ApiError, errorResponse as error } from "../lib/http/errors.ts";

const route = createRoute({
  method: "get",
  path: "/metrics",
  summary: "Prometheus metrics: syncs, rows, request durations, backups, analysis jobs, time since each device's last sync",
  description: "Needs the admin API key (a device key gets 403), unless the server runs with METRICS_PUBLIC=true.",
  tags: ["status"],
  responses: {
    200: {
      description: "Prometheus text exposition format 0.0.4",
      content: { "text/plain": { schema: z.string().openapi({ example: 'obd2_sync_batches_total{device="eclipse-pi",result="ok"} 42' }) } },
    },
    401: error("Missing or invalid API key"),
    403: error("A device key; metrics need the admin key"),
  },
});

export function registerMetrics(app: App) {
  app.openapi(route, async (c) => {
    const { config, metrics } = c.var.deps;
    if (!config.METRICS_PUBLIC && (await authenticate(c)).kind !== "admin") throw new ApiError(403, "Metrics need the admin API key");
    return c.text(await metrics.registry.metrics(), 200, { "Content-Type": metrics.registry.contentType });
  });
}
