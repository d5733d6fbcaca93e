/**
 * GET /api/v1/sync/state: what the server already holds for one device, per
 * integer-keyed mirrored table the highest Pi id, and the drive counter.
 * `obd2-sync restore` moves a restored database's counters and marks past
 * these, so the logger never hands out an id whose row the server has.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../lib/http/env.ts";
import { DeviceIdSchema, requireDevice } from "../lib/http/auth.ts";
import { errorResponse } from "../lib/http/errors.ts";
import { TABLES, type TableName } from "../lib/tables.ts";

const INT_TABLES = TABLES.filter((t) => t.keyType === "int");

// Identifiers come only from lib/tables.ts. Each MAX is an index lookup on (source_device, source_id).
const STATE_SQL = [
  ...INT_TABLES.map((t) => `SELECT '${t.name}' AS name, MAX(source_id) AS n FROM \`${t.name}\` WHERE source_device = ?`),
  "SELECT 'lastDriveId' AS name, MAX(last_drive_id) AS n FROM devices WHERE device_id = ?",
].join(" UNION ALL ");

const SyncState = z
  .object({
    deviceId: z.string(),
    tables: z
      .record(z.string(), z.object({ maxSourceId: z.int().nullable().openapi({ description: "The highest Pi id stored for the device; null when none" }) }))
      .openapi({ description: `Every integer-keyed mirrored table: ${INT_TABLES.map((t) => t.name).join(", ")}` }),
    lastDriveId: z.int().nullable().openapi({ description: "devices.last_drive_id; null for a device that never reported one" }),
  })
  .openapi("SyncState");

const route = createRoute({
  method: "get",
  path: "/api/v1/sync/state",
  summary: "The highest Pi ids and the drive counter the server holds for a device",
  description: "What a restored Pi database must move its AUTOINCREMENT counters and sync marks past, so new rows never reuse ids the server already has.",
  tags: ["sync"],
  request: { query: z.object({ deviceId: DeviceIdSchema }) },
  responses: {
    200: { description: "The device's state; nulls for a device with nothing stored", content: { "application/json": { schema: SyncState } } },
    401: errorResponse("Missing or invalid API key"),
    403: errorResponse("A device key for another device"),
    422: errorResponse("A missing or invalid deviceId"),
  },
});

const idOrNull = (v: unknown) => (v === null || v === undefined ? null : Number(v));

export function registerSyncState(app: App) {
  app.openapi(route, async (c) => {
    const { deviceId } = c.req.valid("query");
    requireDevice(c, deviceId);
    const rows: { name: string; n: unknown }[] = await c.var.deps.db.pool.query(STATE_SQL, Array(INT_TABLES.length + 1).fill(deviceId));
    const found = new Map(rows.map((r) => [r.name, idOrNull(r.n)]));
    const tables = Object.fromEntries(INT_TABLES.map((t) => [t.name, { maxSourceId: found.get(t.name) ?? null }])) as Record<TableName, { maxSourceId: number | null }>;
    return c.json({ deviceId, tables, lastDriveId: found.get("lastDriveId") ?? null }, 200);
  });
}
