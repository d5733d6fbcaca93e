/**
 * POST /api/v1/backup: the Pi uploads a database, log or config file as
 * multipart/form-data. The body is streamed to disk (never held in memory),
 * cut off at MAX_BACKUP_SIZE_MB, checked against the optional sha256, stored
 * atomically (lib/backup/store.ts), then the oldest backups beyond
 * BACKUP_RETENTION_COUNT are rotated away.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { App, AppEnv, Ticket } from "../lib/http/env.ts";
import { DeviceIdSchema, requireDevice } from "../lib/http/auth.ts";
import {
  ALLOWED_EXTENSIONS,
  backupDir,
  BackupTypeSchema,
  commitUpload,
  discardStaged,
  incomingDir,
  rotate,
  splitUploadName,
  stageUpload,
  type Staged,
} from "../lib/backup/store.ts";
import { recordCheck } from "../lib/backup/checks.ts";
import { ApiError, errorResponse as error, fieldError, validationError } from "../lib/http/errors.ts";
import { multipartBoundary, readMultipart, type Part } from "../lib/http/multipart.ts";

const Fields = z.object({
  type: BackupTypeSchema,
  deviceId: DeviceIdSchema,
  sha256: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, "must be 64 hex digits")
    .optional()
    .openapi({ description: "Hex SHA-256 of the file as sent; a mismatch discards the upload (422)" }),
});
const FIELD_NAMES = new Set(Object.keys(Fields.shape));

const Form = Fields.extend({
  file: z.string().openapi({ type: "string", format: "binary", description: `The backup; its name must end in ${ALLOWED_EXTENSIONS}` }),
}).openapi({ description: "Text fields may come before or after the file." });

const Stored = z.object({
  status: z.literal("ok"),
  filename: z.string().openapi({ example: "obd-2026-11-22T10-00-00-000.db.gz" }),
  storedAt: z.string().openapi({ description: "The server's UTC time of the upload, also in the filename" }),
  sizeBytes: z.number().int(),
  sha256: z.string(),
});


const route = createRoute({
  method: "post",
  path: "/api/v1/backup",
  summary: "Upload a backup (streamed to disk, stored atomically, rotated)",
  tags: ["backups"],
  request: { body: { required: true, content: { "multipart/form-data": { schema: Form } } } },
  responses: {
    200: { description: "Stored", content: { "application/json": { schema: Stored } } },
    400: error("Malformed multipart body, or the upload was interrupted"),
    401: error("Missing or invalid API key"),
    403: error("A device key for another device"),
    413: error("File too large. Max: <MAX_BACKUP_SIZE_MB>MB"),
    415: error("Not multipart/form-data"),
    422: error("A missing or invalid field, a file extension not allowed, or a sha256 mismatch"),
    429: error("Busy: the device already has an upload in progress, or the server's request memory is spoken for; retry after Retry-After seconds"),
    507: error("The backup disk is full"),
  },
});

/** Room for the text fields, part headers and boundaries on top of the file itself. */
const FORM_OVERHEAD_BYTES = 64 * 1024;
/** The known text fields are short; a longer one is refused, not buffered. */
const MAX_FIELD_BYTES = 1024;

async function* capped(body: AsyncIterable<Uint8Array>, limit: number, tooLarge: () => Error) {
  let total = 0;
  for await (const chunk of body) {
    total += chunk.byteLength;
    if (total > limit) throw tooLarge();
    yield chunk;
  }
}

async function readField(part: Part): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of part.body) {
    size += chunk.byteLength;
    if (size > MAX_FIELD_BYTES) throw fieldError(part.name, `longer than ${MAX_FIELD_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** The fields, valid and for a device the key may act for (and that has no other upload in progress); throws 422, 403 or 429. */
function checkFields<T extends z.ZodType<{ deviceId: string }>>(c: Context<AppEnv>, schema: T, fields: Record<string, string>, ticket: Ticket): z.infer<T> {
  const parsed = schema.safeParse(fields);
  if (!parsed.success) throw validationError(parsed.error);
  requireDevice(c, parsed.data.deviceId);
  ticket.device(parsed.data.deviceId);
  return parsed.data;
}

export function registerBackup(app: App) {
  // zod-openapi's form validator would read the whole body into memory, so the
  // route is documented with its body and mounted without it.
  app.openAPIRegistry.registerPath(route);
  app.openapi({ ...route, request: undefined, hide: true }, async (c) => {
    const { config, clock, metrics, admission } = c.var.deps;
    const maxBytes = Math.floor(config.MAX_BACKUP_SIZE_MB * 1024 * 1024);
    const tooLarge = () => new ApiError(413, `File too large. Max: ${config.MAX_BACKUP_SIZE_MB}MB`);
    const boundary = multipartBoundary(c.req.header("content-type"));
    if (!boundary) throw new ApiError(415, "Content-Type must be multipart/form-data with a boundary");
    if (Number(c.req.header("content-length")) > maxBytes + FORM_OVERHEAD_BYTES) throw tooLarge();

    const auth = c.var.auth;
    const ticket = admission.enter("backup", auth.kind === "device" ? auth.deviceId : undefined);
    const fields: Record<string, string> = {};
    let upload: { staged: Staged; stem: string; ext: string } | undefined;
    try {
      if (!c.req.raw.body) throw fieldError("file", "is required");
      for await (const part of readMultipart(capped(c.req.raw.body, maxBytes + FORM_OVERHEAD_BYTES, tooLarge), boundary)) {
        if (part.filename === undefined) {
          if (!FIELD_NAMES.has(part.name)) continue; // unknown fields are skipped unread
          if (part.name in fields) throw fieldError(part.name, "sent more than once");
          fields[part.name] = await readField(part);
          continue;
        }
        if (part.name !== "file") throw fieldError(part.name, 'unexpected file; the backup goes in the field "file"');
        if (upload) throw fieldError("file", "sent more than once");
        const name = splitUploadName(part.filename);
        if (!name) throw new ApiError(422, `File extension not allowed. Allowed: ${ALLOWED_EXTENSIONS}`);
        // Fields sent first (as the Pi and Python requests do) are checked before a byte is stored.
        let dir = incomingDir(config.BACKUP_DIR);
        if ("type" in fields && "deviceId" in fields) {
          const { deviceId, type } = checkFields(c, Fields.pick({ type: true, deviceId: true }), fields, ticket);
          dir = backupDir(config.BACKUP_DIR, deviceId, type);
        }
        upload = { staged: await stageUpload(dir, part.body, maxBytes, tooLarge), ...name };
      }
      if (!upload) throw fieldError("file", "is required");
      const form = checkFields(c, Fields, fields, ticket);
      const dir = backupDir(config.BACKUP_DIR, form.deviceId, form.type);
      const { staged, stem, ext } = upload;
      const sent = form.sha256?.toLowerCase();
      if (sent && sent !== staged.sha256) {
        throw new ApiError(422, `sha256 mismatch: the field says ${sent}, the file received has ${staged.sha256}; it was discarded`, {
          expected: sent,
          actual: staged.sha256,
        });
      }
      const at = clock.now();
      const filename = await commitUpload(staged, dir, stem, ext, at);
      upload = undefined;
      // The uploader's own digest matched what arrived: an end-to-end check the dashboard shows. The backup is
      // stored whether or not this note is, so a database hiccup here must not make the Pi upload it again.
      if (sent) {
        await recordCheck(c.var.deps.db.pool, { ...form, filename }, { matched: true, method: "upload", checkedAt: at }).catch((err) =>
          c.var.logger.warn({ err, filename }, "backup stored, but its upload check was not recorded"),
        );
      }
      metrics.backupStored(form.deviceId, form.type, staged.sizeBytes);
      const rotated = await rotate(dir, config.BACKUP_RETENTION_COUNT, filename);
      c.var.logger.info({ deviceId: form.deviceId, type: form.type, filename, sizeBytes: staged.sizeBytes, rotated }, "backup stored");
      return c.json({ status: "ok" as const, filename, storedAt: at.toISOString(), sizeBytes: staged.sizeBytes, sha256: staged.sha256 }, 200);
    } catch (err) {
      if (c.req.raw.signal.aborted) {
        c.var.logger.warn({ deviceId: fields.deviceId, type: fields.type }, "backup upload interrupted by the client; nothing stored");
        throw new ApiError(400, "Upload interrupted");
      }
      if ((err as NodeJS.ErrnoException).code === "ENOSPC") {
        c.var.logger.error({ err, backupDir: config.BACKUP_DIR }, "backup disk full; upload discarded");
        throw new ApiError(507, "Not enough disk space for the backup");
      }
      throw err;
    } finally {
      if (upload) await discardStaged(upload.staged);
      ticket.release();
    }
  });
}
