import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../lib/http/env.ts";
import { DeviceIdSchema, requireDevice } from "../lib/http/auth.ts";
import { limitedJsonBody } from "../lib/http/body.ts";
import { ApiError, ErrorBody, errorResponse as error, quoteKeys, validationError } from "../lib/http/errors.ts";
import { documentedTables, envelopeTables } from "../lib/sync/row-schemas.ts";
import { recordFailure, RowsInvalid, writeBatch, type SyncBatch } from "../lib/sync/write-batch.ts";
import { TABLE_NAMES, TABLES, type TableName } from "../lib/tables.ts";

/** The request, with `tables` as given: full row shapes for the document, envelopes for the route's own check. */
function syncRequest<T extends z.ZodType>(tables: Record<TableName, T>) {
  return z.object({
    deviceId: DeviceIdSchema,
    batchId: z
      .string({ error: (iss) => (iss.input === undefined ? "is required" : undefined) })
      .min(1)
      .max(64)
      .openapi({ example: "eclipse-pi/realtime_data/1-5000" }),
    tables: z
      .strictObject(Object.fromEntries(TABLE_NAMES.map((name) => [name, tables[name].optional()])) as Record<TableName, z.ZodOptional<T>>, {
        error: (iss) =>
          iss.code === "unrecognized_keys"
            ? `unknown table${iss.keys.length > 1 ? "s" : ""} ${quoteKeys(iss.keys)}; allowed: ${TABLE_NAMES.join(", ")}`
            : "expected an object of tables",
      })
      .openapi({ description: "Rows per mirrored table" }),
    driveCounter: z
      .object({ lastDriveId: z.int().nonnegative().nullish() })
      .nullish()
      .openapi({ description: "The Pi's drive counter; stored on the device row, never moves backwards" }),
  });
}

const SyncRequest = syncRequest(documentedTables).openapi("SyncRequest");
const SyncEnvelope = syncRequest(envelopeTables);

const Counts = z.object({ inserted: z.int(), updated: z.int(), errors: z.int() });

const SyncReceipt = z
  .object({
    status: z.literal("ok"),
    batchId: z.string(),
    tablesProcessed: z.record(z.string(), Counts),
    syncedAt: z.string().openapi({ example: "2026-11-22T10:00:00.000Z" }),
    driveDataReceived: z.boolean().openapi({ description: "The batch's connection_log rows include a drive_end event" }),
    autoAnalysisTriggered: z
      .boolean()
      .openapi({ description: "The batch completed at least one drive (a drive_end whose drive_start is on the server); each such drive is queued for analysis" }),
  })
  .openapi("SyncReceipt");


const route = createRoute({
  method: "post",
  path: "/api/v1/sync",
  summary: "Receive a batch of the Pi's rows and mirror them into MySQL, exactly once",
  description:
    "The whole batch is one transaction. Rows are upserted by (deviceId, the Pi's key), so a replayed batch updates in place. " +
    "The body may be gzip-compressed (Content-Encoding: gzip); MAX_SYNC_PAYLOAD_MB applies before and after decompression.",
  tags: ["sync"],
  middleware: [limitedJsonBody((c) => c.var.deps.config.MAX_SYNC_PAYLOAD_MB * 1024 * 1024)] as const,
  request: { body: { required: true, content: { "application/json": { schema: SyncRequest } } } },
  responses: {
    200: { description: "Receipt with exact per-table counts", content: { "application/json": { schema: SyncReceipt } } },
    400: error("Malformed JSON, gzip or UTF-8"),
    401: error("Missing or invalid API key"),
    403: error("The device key belongs to another device"),
    409: error("The batchId was already used by another device"),
    413: error("Body larger than MAX_SYNC_PAYLOAD_MB"),
    415: error("Not JSON, or an unsupported Content-Encoding"),
    422: error(
      "Invalid request; nothing was stored. errors lists the first 20 problems; row problems name table, row index and column.",
      ErrorBody.extend({
        errors: z.array(z.object({ path: z.string(), message: z.string(), table: z.string().optional(), row: z.int().optional(), column: z.string().optional() })),
      }),
    ),
    500: error("The database failed; nothing was stored and the batch can be retried", ErrorBody.extend({ batchId: z.string() })),
  },
});

export function registerSync(app: App) {
  // The document shows every row's shape; the route itself checks the envelope
  // up front and leaves the rows to writeBatch, which checks them slice by slice.
  app.openAPIRegistry.registerPath(route);
  const mounted = { ...route, hide: true, request: { body: { required: true, content: { "application/json": { schema: SyncEnvelope } } } } };
  app.openapi(mounted, async (c) => {
    const body = c.req.valid("json");
    requireDevice(c, body.deviceId);
    const { db, clock, metrics } = c.var.deps;
    const batch: SyncBatch = {
      deviceId: body.deviceId,
      batchId: body.batchId,
      lastDriveId: body.driveCounter?.lastDriveId,
      tables: TABLES.filter((t) => body.tables[t.name]).map((t) => ({ table: t, rows: body.tables[t.name]!.rows })),
    };
    const startedAt = clock.now();
    let receipt;
    try {
      receipt = await writeBatch(db.bulkPool, batch, startedAt, clock);
    } catch (err) {
      const invalid = err instanceof ApiError || err instanceof RowsInvalid;
      metrics.syncBatch(batch.deviceId, invalid ? "invalid" : "failed");
      if (err instanceof ApiError) throw err;
      if (err instanceof RowsInvalid) throw validationError(new z.ZodError(err.issues));
      const log = c.var.logger;
      log.error({ err, batchId: batch.batchId, deviceId: batch.deviceId }, "sync failed; batch rolled back");
      await recordFailure(db.bulkPool, batch, startedAt, clock).catch((e) => log.error({ err: e, batchId: batch.batchId }, "could not record the failed sync"));
      throw new ApiError(500, "Sync failed", { batchId: batch.batchId });
    }
    metrics.syncBatch(batch.deviceId, "ok", receipt.tables);
    if (receipt.analysisQueued) c.var.deps.analysisWorker?.wake();
    return c.json(
      {
        status: "ok" as const,
        batchId: batch.batchId,
        tablesProcessed: receipt.tables,
        syncedAt: startedAt.toISOString(),
        driveDataReceived: body.tables.connection_log?.rows.some((r) => (r as { event_type?: unknown }).event_type === "drive_end") ?? false,
        autoAnalysisTriggered: receipt.analysisQueued,
      },
      200,
    );
  });
}
