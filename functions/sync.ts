import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../lib/http/env.ts";
import { DeviceIdSchema, requireDevice } from "../lib/http/auth.ts";
import { readJsonText } from "../lib/http/body.ts";
import { ApiError, ErrorBody, errorResponse as error, isPoolTimeout, quote, tryLater, validationError } from "../lib/http/errors.ts";
import { deviceQueue } from "../lib/sync/device-queue.ts";
import { splitSyncBody } from "../lib/sync/lazy-rows.ts";
import { documentedTables, envelopeTables, unmappedTable, wellFormed } from "../lib/sync/row-schemas.ts";
import { DifferentDatabase, recordFailure, RowsInvalid, writeBatch, type SyncBatch } from "../lib/sync/write-batch.ts";
import { KEY_ALIAS, mirroredTable, TABLE_NAMES, TABLES, UNMAPPED_TABLE_NAME, type TableName } from "../lib/tables.ts";

/**
 * The request, with `tables` as given: full row shapes for the document,
 * envelopes for the route's own check. A table the server does not know is
 * kept in unmapped_rows when its name could become a table of its own.
 */
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
      .object(Object.fromEntries(TABLE_NAMES.map((name) => [name, tables[name].optional()])) as Record<TableName, z.ZodOptional<T>>, {
        error: "expected an object of tables",
      })
      .catchall(unmappedTable)
      .superRefine((given, ctx) => {
        for (const name of Object.keys(given)) {
          if (!mirroredTable(name) && !UNMAPPED_TABLE_NAME.test(name)) {
            ctx.addIssue({ code: "custom", path: [name], message: `table name ${quote(name)} cannot be kept: a table the server does not know must be named like ${UNMAPPED_TABLE_NAME.source}` });
          }
        }
      })
      .openapi({ description: "Rows per table: the mirrored tables by name; any other table is kept in unmapped_rows" }),
    driveCounter: z
      .object({ lastDriveId: z.int().nonnegative().nullish() })
      .nullish()
      .openapi({ description: "The Pi's drive counter; stored on the device row, never moves backwards" }),
  });
}

const SyncRequest = syncRequest(documentedTables).openapi("SyncRequest");
const SyncEnvelope = syncRequest(envelopeTables);

const Counts = z.object({
  inserted: z.int(),
  updated: z.int(),
  errors: z.int(),
  unknownColumns: z.array(z.string()).optional().openapi({ description: "Columns the server does not know, kept in each row's extra JSON (at most 100 names)" }),
  unmapped: z.literal(true).optional().openapi({ description: "A table the server does not know: its rows were kept in unmapped_rows" }),
});

const Conflicts = z
  .array(
    z.object({
      table: z.string(),
      id: z.union([z.int(), z.string()]).openapi({ description: "The Pi's key" }),
      stored: z.record(z.string(), z.unknown()).openapi({ description: "The identity values the server holds under that key" }),
      sent: z.record(z.string(), z.unknown()).openapi({ description: "The identity values sent, as the server would store them" }),
    }),
  )
  .openapi({ description: "Up to 5 rows whose key the device already has with other identity values" });


const SyncReceipt = z
  .object({
    status: z.literal("ok"),
    batchId: z.string(),
    tablesProcessed: z.record(z.string(), Counts),
    syncedAt: z.string().openapi({ example: "2026-11-22T10:00:00.000Z" }),
    driveDataReceived: z.boolean().openapi({ description: "The batch's connection_log rows include a drive_end event" }),
    autoAnalysisTriggered: z.boolean().openapi({
      description:
        "The batch closed at least one drive, by its drive_end or by the next drive's start; the worker summarises each and queues its analysis once the device's rows settle (DRIVE_SETTLE_SECONDS). A drive closed later for want of readings (DRIVE_IDLE_CLOSE_MINUTES) is analysed as well.",
    }),
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
    409: error(
      "The batchId was already used by another device (batchId), or rows would overwrite the device's rows from another Pi database (conflicts); nothing was stored",
      ErrorBody.extend({ batchId: z.string().optional(), conflicts: Conflicts.optional() }),
    ),
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

/** Remembers what was logged, so a condition is logged once per (device, what); bounded: it forgets all when full. */
function onceEach(limit = 10_000) {
  const seen = new Set<string>();
  return (key: string) => {
    if (seen.has(key)) return false;
    if (seen.size >= limit) seen.clear();
    seen.add(key);
    return true;
  };
}

function conflictDetail(deviceId: string, e: DifferentDatabase): string {
  const first = e.conflicts[0]!;
  const values = (o: Record<string, unknown>) => Object.entries(o).map(([k, v]) => `${k} ${JSON.stringify(v)}`).join(", ");
  return (
    `${e.total} ${e.total === 1 ? "row" : "rows"} would overwrite rows that device ${deviceId} already has with other values ` +
    `(${first.table} ${first.id}: stored ${values(first.stored)}, sent ${values(first.sent)}); ` +
    "this looks like a different Pi database (for example a new SD card) sending under the same device id. Nothing was stored. " +
    "Give this database its own device id; if it is a restored backup, restore it with obd2-sync restore, which moves its ids past the server's."
  );
}

export function registerSync(app: App) {
  const firstTime = onceEach();
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
      const given = body.tables as Record<string, { key?: string }>;
      const rowsOf = (name: string) => split.rows.get(name) ?? [];
      const batch: SyncBatch = {
        deviceId: body.deviceId,
        batchId: body.batchId,
        lastDriveId: body.driveCounter?.lastDriveId,
        tables: TABLES.filter((t) => Object.hasOwn(given, t.name)).map((t) => ({ table: t, rows: rowsOf(t.name) })),
        unmapped: Object.keys(given)
          .filter((name) => !mirroredTable(name))
          .map((name) => ({ name, key: given[name]!.key ?? KEY_ALIAS, rows: rowsOf(name) })),
      };
      const log = c.var.logger;
      const startedAt = clock.now();
      let receipt;
      try {
        receipt = await writeBatch(db.bulkPool, batch, startedAt, clock, turn);
      } catch (err) {
        const invalid = err instanceof ApiError || err instanceof RowsInvalid;
        if (err instanceof DifferentDatabase) metrics.syncBatch(batch.deviceId, "conflict");
        else if (invalid || !isPoolTimeout(err)) metrics.syncBatch(batch.deviceId, invalid ? "invalid" : "failed");
        if (err instanceof ApiError) throw err;
        if (err instanceof RowsInvalid) throw validationError(new z.ZodError(err.problems.kept), err.problems.count);
        if (err instanceof DifferentDatabase) {
          const tables = [...new Set(err.conflicts.map((x) => x.table))];
          if (firstTime(`${batch.deviceId}\0conflict\0${tables.join()}`)) {
            log.warn({ deviceId: batch.deviceId, batchId: batch.batchId, conflicts: err.total, tables }, "sync refused: rows from another database would overwrite this device's rows");
          }
          throw new ApiError(409, conflictDetail(batch.deviceId, err), { conflicts: err.conflicts });
        }
        // Load, not a fault: nothing was written, and recording the attempt would need a connection too.
        if (isPoolTimeout(err)) throw tryLater(503, "no database connection free");
        log.error({ err, batchId: batch.batchId, deviceId: batch.deviceId }, "sync failed; batch rolled back");
        await recordFailure(db.bulkPool, batch, startedAt, clock, turn).catch((e) => log.error({ err: e, batchId: batch.batchId }, "could not record the failed sync"));
        throw new ApiError(500, "Sync failed", { batchId: batch.batchId });
      }
      for (const [table, counts] of Object.entries(receipt.tables)) {
        for (const column of counts.unknownColumns ?? []) {
          if (firstTime(`${batch.deviceId}\0${table}\0${column}`)) log.warn({ deviceId: batch.deviceId, table, column }, "kept a column the server does not know in extra");
        }
        if (counts.unmapped && firstTime(`${batch.deviceId}\0${table}`)) log.warn({ deviceId: batch.deviceId, table }, "kept rows of a table the server does not know in unmapped_rows");
      }
      metrics.syncBatch(batch.deviceId, "ok", receipt.tables);
      if (receipt.drivesTouched) c.var.deps.analysisWorker?.wake();
      return c.json(
        {
          status: "ok" as const,
          batchId: batch.batchId,
          tablesProcessed: receipt.tables,
          syncedAt: startedAt.toISOString(),
          driveDataReceived: receipt.driveDataReceived,
          autoAnalysisTriggered: receipt.drivesClosed > 0,
        },
        200,
      );
    } finally {
      ticket.release();
    }
  });
}
