/**
 * GET /api/v1/backups/{deviceId}/{type}/{filename}: one stored backup,
 * streamed from disk. Only names the store gives backups are served (never a
 * sidecar or a temp file), from inside that device's and type's directory.
 * The file is opened before the answer starts, so a rotation during the
 * download does not cut it short.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { open } from "node:fs/promises";
import { Readable } from "node:stream";
import type { App } from "../lib/http/env.ts";
import { DeviceIdSchema, requireDevice } from "../lib/http/auth.ts";
import { BackupTypeSchema, recordedDigest, storedBackupPath } from "../lib/backup/store.ts";
import { ApiError, errorResponse as error } from "../lib/http/errors.ts";

const route = createRoute({
  method: "get",
  path: "/api/v1/backups/{deviceId}/{type}/{filename}",
  summary: "Download a stored backup, streamed",
  description: "Repr-Digest carries the sha256 recorded at upload (RFC 9530), when the backup has its sidecar.",
  tags: ["backups"],
  request: {
    params: z.object({
      deviceId: DeviceIdSchema,
      type: BackupTypeSchema,
      filename: z.string().min(1).max(255).openapi({ example: "obd-2026-11-22T10-00-00-000.db.gz" }),
    }),
  },
  responses: {
    200: { description: "The file", content: { "application/octet-stream": { schema: z.string().openapi({ format: "binary" }) } } },
    401: error("Missing or invalid API key or session"),
    403: error("A device key for another device"),
    404: error("No such backup (or another device's, asked with a device's dashboard session)"),
    422: error("An invalid deviceId or type"),
  },
});

export function registerBackupDownload(app: App) {
  app.openapi(route, async (c) => {
    const { deviceId, type, filename } = c.req.valid("param");
    requireDevice(c, deviceId);
    const path = storedBackupPath(c.var.deps.config.BACKUP_DIR, deviceId, type, filename);
    const file = path ? await open(path, "r").catch(() => undefined) : undefined;
    if (!path || !file) throw new ApiError(404, `No backup ${filename} of ${deviceId} (${type})`);
    const info = await file.stat();
    const digest = await recordedDigest(path);
    const headers: Record<string, string> = {
      "content-type": "application/octet-stream",
      "content-length": String(info.size),
      "content-disposition": `attachment; filename="${filename}"`,
      "cache-control": "no-store",
    };
    if (digest) headers["repr-digest"] = `sha-256=:${Buffer.from(digest, "hex").toString("base64")}:`;
    const body = Readable.toWeb(file.createReadStream()) as unknown as ReadableStream<Uint8Array>;
    return c.body(body, 200, headers);
  });
}
