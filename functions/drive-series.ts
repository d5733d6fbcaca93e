/**
 * GET /api/v1/drives/{deviceId}/{driveId}/series: chart series of a drive,
 * the device series (functions/device-series.ts, lib/readings/series.ts) of
 * the drive's window or of a window inside it (a zoom). What the drive page
 * draws.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../lib/http/env.ts";
import { DeviceIdSchema, visibleDrive } from "../lib/http/auth.ts";
import { errorResponse as error } from "../lib/http/errors.ts";
import { DriveIdSchema } from "../lib/drives/list.ts";
import { readSeries } from "../lib/readings/series.ts";
import { driveWindowFields, SeriesSchema, withinDrive } from "../lib/readings/window.ts";

const route = createRoute({
  method: "get",
  path: "/api/v1/drives/{deviceId}/{driveId}/series",
  summary: "A drive's readings as chart series, downsampled to at most `points` each",
  description:
    "The device series of the drive's window (see /api/v1/devices/{deviceId}/series for the downsampling). `from` and `to` default to the drive's " +
    "start and end and are clamped to them, so a zoom never reads past the drive. Without `parameters`, every parameter the drive logged.",
  tags: ["drives", "readings"],
  request: {
    params: z.object({ deviceId: DeviceIdSchema, driveId: DriveIdSchema }),
    query: z.object({ ...driveWindowFields, points: z.coerce.number().int().min(10).max(10_000).default(1500) }),
  },
  responses: {
    200: {
      description: "One series per parameter",
      content: {
        "application/json": {
          schema: z.object({ deviceId: z.string(), driveId: z.int(), from: z.string(), to: z.string(), series: z.record(z.string(), SeriesSchema) }),
        },
      },
    },
    401: error("Missing or invalid API key or session"),
    404: error("No such drive, or another device's drive"),
    422: error("An invalid deviceId, driveId, window, parameter list or points"),
  },
});

export function registerDriveSeries(app: App) {
  app.openapi(route, async (c) => {
    const { deviceId, driveId } = c.req.valid("param");
    const q = c.req.valid("query");
    const pool = c.var.deps.db.pool;
    const drive = await visibleDrive(c, deviceId, driveId);
    const { from, to } = withinDrive(drive, q);
    const series = await readSeries(pool, { deviceId, parameters: q.parameters, from, to, points: q.points });
    return c.json({ deviceId, driveId: Number(drive.driveId), from: from.toISOString(), to: to.toISOString(), series }, 200);
  });
}
