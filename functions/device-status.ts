/**
 * POST /api/v1/devices/{deviceId}/status: the Pi's agent reports its version,
 * its backlog per table and its quarantine (lib/dashboard/device-status.ts);
 * GET answers the last report. The dashboard shows it, so how far behind a Pi
 * is can be seen without SSH to the car.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../lib/http/env.ts";
import { DeviceIdSchema, requireDevice } from "../lib/http/auth.ts";
import { limitedJsonBody } from "../lib/http/body.ts";
import { ApiError, errorResponse as error } from "../lib/http/errors.ts";
import { readStatuses, storeStatus, StatusReportSchema, type DeviceStatus } from "../lib/dashboard/device-status.ts";

/** A full report is about 70 KB at most (64 tables, 50 sample rows, 500-character messages). */
const MAX_BODY_BYTES = 128 * 1024;

const Status = StatusReportSchema.extend({
  deviceId: z.string(),
  reportedAt: z.string().openapi({ description: "The server's UTC time when the report arrived" }),
  pendingRows: z.int(),
  quarantinedRows: z.int(),
  oldestUnsynced: z.string().nullable(),
}).openapi("DeviceStatus");

const params = z.object({ deviceId: DeviceIdSchema });

const postRoute = createRoute({
  method: "post",
  path: "/api/v1/devices/{deviceId}/status",
  summary: "The agent's report of its backlog and quarantine; replaces the device's last one",
  tags: ["status"],
  middleware: [limitedJsonBody(() => MAX_BODY_BYTES)] as const,
  request: { params, body: { required: true, content: { "application/json": { schema: StatusReportSchema } } } },
  responses: {
    200: { description: "Stored", content: { "application/json": { schema: Status } } },
    401: error("Missing or invalid API key"),
    403: error("A device key for another device, or a dashboard session's form without its CSRF token"),
    413: error("Body larger than 128 KB"),
    415: error("Not JSON"),
    422: error("An invalid report; nothing was stored"),
  },
});

const getRoute = createRoute({
  method: "get",
  path: "/api/v1/devices/{deviceId}/status",
  summary: "The device's last report of its backlog and quarantine",
  tags: ["status"],
  request: { params },
  responses: {
    200: { description: "The last report", content: { "application/json": { schema: Status } } },
    401: error("Missing or invalid API key"),
    403: error("A device key for another device"),
    404: error("The device never reported"),
  },
});

const body = (s: DeviceStatus) => ({
  ...s,
  reportedAt: s.reportedAt.toISOString(),
  oldestUnsynced: s.oldestUnsynced?.toISOString() ?? null,
});

export function registerDeviceStatus(app: App) {
  app.openapi(postRoute, async (c) => {
    const { deviceId } = c.req.valid("param");
    requireDevice(c, deviceId);
    const stored = await storeStatus(c.var.deps.db.pool, deviceId, c.req.valid("json"), c.var.deps.clock.now());
    return c.json(body(stored), 200);
  });

  app.openapi(getRoute, async (c) => {
    const { deviceId } = c.req.valid("param");
    requireDevice(c, deviceId);
    const status = (await readStatuses(c.var.deps.db.pool, [deviceId])).get(deviceId);
    if (!status) throw new ApiError(404, `Device ${deviceId} has not reported its status`);
    return c.json(body(status), 200);
  });
}
