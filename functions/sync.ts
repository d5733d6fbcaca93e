import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../lib/http/env.ts";
import { DeviceIdSchema, requireDevice } from "../lib/http/auth.ts";
import { readJsonText } from "../lib/http/body.ts";
import { ApiError, ErrorBody, errorResponse as error, isPoolTimeout, quoteKeys, tryLater, validationError } from "../lib/http/errors.ts";
import { deviceQueue } from "../lib/sync/device-queue.ts";
import { splitSyncBody } from "../lib/sync/lazy-rows.ts";
import { documentedTables, envelopeTables, wellFormed } from "../lib/sync/row-schemas.ts";
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
      .refine(...wellFormed)
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
    "The body may be gzip-compressed (Content-Encoding: gzip); MAX_SYNC_PAYLOAD_MB applies before and after decompression. " +
    "A device's batches are applied one at a time, in the order they arrive; a device may have 2 in progress, and the server as many as MAX_REQUEST_MEMORY_MB holds; beyond that, 429.",
  tags: ["sync"],
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
      "Invalid request; nothing was stored. errors lists the first 20 problems (the detail counts the rest); row problems name table, row index and column. Under 16 KB.",
      ErrorBody.extend({
        errors: z.array(z.object({ path: z.string(), message: z.string(), table: z.string().optional(), row: z.int().optional(), column: z.string().optional() })),
      }),
    ),
    429: error("Busy: the device already has 2 syncs in progress, or the server's request memory is spoken for; retry after Retry-After seconds"),
    500: error("The database failed; nothing was stored and the batch can be retried", ErrorBody.extend({ batchId: z.string() })),
    503: error("Busy: no database connection came free in time; retry after Retry-After seconds"),
  },
});

export function registerSync(app: App) {
  // The document shows every row's shape. The route reads the body itself:
  // after admission, so a body that would not fit in memory is never read,
  // and split (lib/sync/lazy-rows.ts), so its rows are parsed a slice at a
  // time as writeBatch checks them.
  app.openAPIRegistry.registerPath(route);
  const turn = deviceQueue();
  app.openapi({ ...route, request: undefined, hide: true }, async (c) => {
    const { db, clock, metrics, admission, config } = c.var.deps;
    const auth = c.var.auth;
    const ticket = admission.enter("sync", auth.kind === "device" ? auth.deviceId : undefined);
    try {
      const split = await splitSyncBody(await readJsonText(c, config.MAX_SYNC_PAYLOAD_MB * 1024 * 1024));
      const parsed = SyncEnvelope.safeParse(split.envelope);
      if (!parsed.success) throw validationError(parsed.error);
      const body = parsed.data;
      requireDevice(c, body.deviceId);
      ticket.device(body.deviceId);
      if (split.refused.count) {
        metrics.syncBatch(body.deviceId, "invalid");
        throw validationError(new z.ZodError(split.refused.issues), split.refused.count);
      }
      const batch: SyncBatch = {
        deviceId: body.deviceId,
        batchId: body.batchId,
        lastDriveId: body.driveCounter?.lastDriveId,
        tables: TABLES.filter((t) => body.tables[t.name]).map((t) => ({ table: t, rows: split.rows.get(t.name) ?? [] })),
      };
      const startedAt = clock.now();
      let receipt;
      try {
        receipt = await writeBatch(db.bulkPool, batch, startedAt, clock, turn);
      } catch (err) {
        const invalid = err instanceof ApiError || err instanceof RowsInvalid;
        if (invalid || !isPoolTimeout(err)) metrics.syncBatch(batch.deviceId, invalid ? "invalid" : "failed");
        if (err instanceof ApiError) throw err;
        if (err instanceof RowsInvalid) throw validationError(new z.ZodError(err.problems.kept), err.problems.count);
        // Load, not a fault: nothing was written, and recording the attempt would need a connection too.
        if (isPoolTimeout(err)) throw tryLater(503, "no database connection free");
        const log = c.var.logger;
        log.error({ err, batchId: batch.batchId, deviceId: batch.deviceId }, "sync failed; batch rolled back");
        await recordFailure(db.bulkPool, batch, startedAt, clock, turn).catch((e) => log.error({ err: e, batchId: batch.batchId }, "could not record the failed sync"));
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
          driveDataReceived: receipt.driveDataReceived,
          autoAnalysisTriggered: receipt.analysisQueued,
        },
        200,
      );
    } finally {
      ticket.release();
    }
  });
}
