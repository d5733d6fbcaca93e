/**
 * GET /api/v1/drives/{deviceId}/{driveId}/stats: statistics of a window of a
 * drive (the drive page's zoom), computed from the raw readings as a drive's
 * summary is (lib/analysis/drive-stats.ts), bounded by ANALYSIS_MAX_READINGS.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../lib/http/env.ts";
import { readDriveStats, WindowTooLarge } from "../lib/analysis/drive-stats.ts";
import { DeviceIdSchema, visibleDrive } from "../lib/http/auth.ts";
import { ApiError, errorResponse as error } from "../lib/http/errors.ts";
import { DriveIdSchema, ParameterStatsSchema } from "../lib/drives/list.ts";
import { driveWindowFields, withinDrive } from "../lib/readings/window.ts";

const route = createRoute({
  method: "get",
  path: "/api/v1/drives/{deviceId}/{driveId}/stats",
  summary: "Statistics of a window of a drive, from its raw readings",
  description: "Per parameter count, min, max, mean, std, p5, p95 and time above thresholds, for the drive or the window of it that `from` and `to` give (clamped to the drive).",
  tags: ["drives"],
  request: {
    params: z.object({ deviceId: DeviceIdSchema, driveId: DriveIdSchema }),
    query: z.object({ from: driveWindowFields.from, to: driveWindowFields.to }),
  },
  responses: {
    200: {
      description: "The window's statistics (no parameters when it has no readings)",
      content: { "application/json": { schema: z.object({ from: z.string(), to: z.string(), readings: z.int(), parameters: z.array(ParameterStatsSchema) }) } },
    },
    401: error("Missing or invalid API key or session"),
    404: error("No such drive, or another device's drive"),
    413: error("More readings in the window than ANALYSIS_MAX_READINGS"),
    422: error("An invalid deviceId, driveId or window"),
  },
});

export function registerDriveWindowStats(app: App) {
  app.openapi(route, async (c) => {
    const { deviceId, driveId } = c.req.valid("param");
    const { deps } = c.var;
    const drive = await visibleDrive(c, deviceId, driveId);
    const { from, to } = withinDrive(drive, c.req.valid("query"));
    try {
      const stats = await readDriveStats(deps.db.pool, { deviceId, start: from, end: to }, deps.config.ANALYSIS_MAX_READINGS);
      return c.json({ from: from.toISOString(), to: to.toISOString(), readings: stats?.rows ?? 0, parameters: stats?.parameters ?? [] }, 200);
    } catch (err) {
      if (err instanceof WindowTooLarge) throw new ApiError(413, `The window holds ${err.readings} readings, more than ANALYSIS_MAX_READINGS (${err.limit}): zoom in`);
      throw err;
    }
  });
}
