/**
 * GET /api/v1/drives: the drives the server has found (lib/drives/), newest
 * first, with their stored summaries and latest analysis; a page at a time,
 * the next page starting `before` the last drive's start. A device key sees
 * only its own device.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../lib/http/env.ts";
import { DeviceIdSchema, listedDevice } from "../lib/http/auth.ts";
import { errorResponse as error } from "../lib/http/errors.ts";
import { DriveSchema, listDrives } from "../lib/drives/list.ts";
import { instant } from "../lib/readings/window.ts";

const route = createRoute({
  method: "get",
  path: "/api/v1/drives",
  summary: "List drives, newest first, with their summaries",
  description:
    "Every drive the syncs brought, open or closed. A closed drive's summary is computed once, when its rows have settled, and stored; " +
    "listing reads only those stored figures, never the readings.",
  tags: ["drives"],
  request: {
    query: z.object({
      deviceId: DeviceIdSchema.optional().openapi({ description: "Defaults to a device key's device; all devices for the admin key" }),
      limit: z.coerce.number().int().min(1).max(200).default(50),
      before: instant("2026-04-19T09:00:00Z").optional().openapi({ description: "Only drives that started before this time: the previous page's last start" }),
    }),
  },
  responses: {
    200: { description: "The drives", content: { "application/json": { schema: z.object({ drives: z.array(DriveSchema) }) } } },
    401: error("Missing or invalid API key"),
    403: error("A device key for another device"),
    422: error("An invalid deviceId, limit or before"),
  },
});

export function registerDrives(app: App) {
  app.openapi(route, async (c) => {
    const { deviceId, limit, before } = c.req.valid("query");
    const device = listedDevice(c, deviceId);
    const drives = await listDrives(c.var.deps.db.pool, { deviceIds: device === undefined ? undefined : [device], limit, before });
    return c.json({ drives }, 200);
  });
}
