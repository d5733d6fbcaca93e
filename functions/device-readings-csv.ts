/**
 * GET /api/v1/devices/{deviceId}/readings.csv: a window of a device's raw
 * readings as CSV, streamed in chunks as the client reads them
 * (lib/readings/csv.ts). The drive page's CSV is this window mapped from a drive.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../lib/http/env.ts";
import { DeviceIdSchema, requireDevice } from "../lib/http/auth.ts";
import { errorResponse as error } from "../lib/http/errors.ts";
import { CSV_COLUMNS, readingsCsv } from "../lib/readings/csv.ts";
import { afterFrom, windowFields } from "../lib/readings/window.ts";

const route = createRoute({
  method: "get",
  path: "/api/v1/devices/{deviceId}/readings.csv",
  summary: "A window of a device's readings as CSV, streamed",
  description: `Columns: ${CSV_COLUMNS.join(", ")}. Oldest first; times are UTC (ISO 8601 with microseconds).`,
  tags: ["readings"],
  request: { params: z.object({ deviceId: DeviceIdSchema }), query: z.object(windowFields).superRefine(afterFrom) },
  responses: {
    200: { description: "RFC 4180 CSV with a header line", content: { "text/csv": { schema: z.string() } } },
    401: error("Missing or invalid API key or session"),
    403: error("A device key for another device"),
    404: error("Another device's data, asked with a device's dashboard session"),
    422: error("An invalid deviceId, window or parameter list"),
  },
});

/** A file name from the window, with nothing a header or a file system would mind. */
const fileName = (deviceId: string, from: Date) => `${deviceId}-${from.toISOString().slice(0, 19).replace(/:/g, "-")}Z.csv`;

export function registerDeviceReadingsCsv(app: App) {
  app.openapi(route, (c) => {
    const { deviceId } = c.req.valid("param");
    const { from, to, parameters } = c.req.valid("query");
    requireDevice(c, deviceId);
    return c.body(readingsCsv(c.var.deps.db.pool, { deviceId, from, to, parameters }), 200, {
      "content-type": "text/csv; charset=utf-8",
      "content-disposition": `attachment; filename="${fileName(deviceId, from)}"`,
      "cache-control": "no-store",
    });
  });
}
