/**
 * GET /api/v1/backups: the stored backups, newest first, with the digests
 * recorded at upload (no file is re-read). A device key sees only its own.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../lib/http/env.ts";
import { DeviceIdSchema, listedDevice } from "../lib/http/auth.ts";
import { BackupTypeSchema, listBackups } from "../lib/backup/store.ts";
import { errorResponse } from "../lib/http/errors.ts";

const Backup = z.object({
  deviceId: z.string(),
  type: BackupTypeSchema,
  filename: z.string().openapi({ example: "obd-2026-11-22T10-00-00-000.db.gz" }),
  sizeBytes: z.number().int(),
  storedAt: z.string().openapi({ description: "UTC time of the upload, as in the filename" }),
  sha256: z.string().nullable().openapi({ description: "null only for a file placed by hand, without its .sha256 sidecar" }),
});


const route = createRoute({
  method: "get",
  path: "/api/v1/backups",
  summary: "List stored backups, newest first",
  tags: ["backups"],
  request: {
    query: z.object({
      deviceId: DeviceIdSchema.optional().openapi({ description: "Required in effect for a device key: it defaults to the key's device" }),
      type: BackupTypeSchema.optional(),
    }),
  },
  responses: {
    200: { description: "The backups", content: { "application/json": { schema: z.object({ backups: z.array(Backup) }) } } },
    401: errorResponse("Missing or invalid API key"),
    403: errorResponse("A device key for another device"),
    422: errorResponse("An invalid deviceId or type"),
  },
});

export function registerBackups(app: App) {
  app.openapi(route, async (c) => {
    const query = c.req.valid("query");
    const deviceId = listedDevice(c, query.deviceId);
    const backups = await listBackups(c.var.deps.config.BACKUP_DIR, { deviceId, type: query.type });
    return c.json({ backups: backups.map((b) => ({ ...b, storedAt: b.storedAt.toISOString() })) }, 200);
  });
}
