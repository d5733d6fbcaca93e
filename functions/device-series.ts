/**
 * GET /api/v1/devices/{deviceId}/series: chart series of a device's readings
 * in a time window, at most `points` per parameter, downsampled with LTTB
 * with min/max bands and split at gaps (lib/readings/series.ts). The drive
 * page's series are this window mapped from a drive.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../lib/http/env.ts";
import { DeviceIdSchema, requireDevice } from "../lib/http/auth.ts";
import { errorResponse as error } from "../lib/http/errors.ts";
import { readSeries } from "../lib/readings/series.ts";
import { afterFrom, SeriesSchema, windowFields } from "../lib/readings/window.ts";


const route = createRoute({
  method: "get",
  path: "/api/v1/devices/{deviceId}/series",
  summary: "A window of a device's readings as chart series, downsampled to at most `points` each",
  description:
    "Every reading when the window has no more than `points` per parameter; otherwise LTTB (Steinarsson 2013) on the raw readings, " +
    "each point with the minimum and maximum of the readings it stands for, so no peak is lost. Where a parameter's readings stop " +
    "for longer than 10 s and 5 times its mean interval, the series is split: a null breaks the line and each piece is downsampled on its own.",
  tags: ["readings"],
  request: {
    params: z.object({ deviceId: DeviceIdSchema }),
    query: z.object({ ...windowFields, points: z.coerce.number().int().min(10).max(10_000).default(1500) }).superRefine(afterFrom),
  },
  responses: {
    200: {
      description: "One series per parameter (empty ones for parameters without readings in the window)",
      content: { "application/json": { schema: z.object({ deviceId: z.string(), from: z.string(), to: z.string(), series: z.record(z.string(), SeriesSchema) }) } },
    },
    401: error("Missing or invalid API key or session"),
    403: error("A device key for another device"),
    404: error("Another device's data, asked with a device's dashboard session"),
    422: error("An invalid deviceId, window, parameter list or points, or no list for a window of more than 32 parameters"),
  },
});

export function registerDeviceSeries(app: App) {
  app.openapi(route, async (c) => {
    const { deviceId } = c.req.valid("param");
    const { from, to, points, parameters } = c.req.valid("query");
    requireDevice(c, deviceId);
    const series = await readSeries(c.var.deps.db.pool, { deviceId, parameters, from, to, points });
    return c.json({ deviceId, from: from.toISOString(), to: to.toISOString(), series }, 200);
  });
}
