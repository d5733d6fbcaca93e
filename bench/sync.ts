/**
 * `npm run bench:sync -- --rows N`: /sync throughput against the database's
 * own ceiling. Needs DATABASE_URL (an empty database it may wipe; the server
 * must allow LOAD DATA LOCAL) and API_KEY.
 *
 * It generates an N-row realtime_data backlog in SQLite, starts the real
 * server as a subprocess on a free port, pushes the backlog through
 * POST /api/v1/sync in 5,000-row gzip batches (compressed beforehand, so the
 * figure is the server's, not this script's), then loads the same rows with
 * LOAD DATA LOCAL INFILE into the same empty table as the ceiling. Before
 * that it pushes the same batches again: a replay of rows that all exist,
 * the normal retry, which updates in place. The server's RSS is sampled
 * throughout. The last line is
 * `sync_rows_per_s=<n> replay_rows_per_s=<n> load_data_rows_per_s=<n> ratio=<r>`
 * (ratio: first insert against LOAD DATA).
 */
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import * as mariadb from "mariadb";
import { openDb } from "../client/sqlite.ts";
import { loadConfig } from "../lib/config.ts";
import { connectionOptions } from "../lib/db/pools.ts";
import { migrate } from "../lib/db/migrate.ts";
import { TABLE_BY_NAME, TABLES } from "../lib/tables.ts";
import { toSqlDatetime } from "../lib/time.ts";
import { simulate } from "../scripts/simulate/index.ts";
import { rssMb, startServer, watchPeakRss, type BenchServer } from "./server.ts";

const { values: args } = parseArgs({ options: { rows: { type: "string", default: "1000000" }, batch: { type: "string", default: "5000" } } });
const N = Number(args.rows);
const BATCH = Number(args.batch);
const config = loadConfig();
if (!config.DATABASE_URL) throw new Error("bench:sync needs DATABASE_URL (an empty database it may wipe)");
const url = config.DATABASE_URL;
const DEVICE = "bench-pi";
const table = TABLE_BY_NAME.realtime_data;
const columns = [table.key, ...table.columns.map((c) => c.name)];
const log = (msg: string) => console.log(msg);

const dir = mkdtempSync(join(tmpdir(), "obd2-bench-sync-"));
const conn = await mariadb.createConnection({ ...connectionOptions(url), permitLocalInfile: true });
let server: BenchServer | undefined;
try {
  await migrate(url);
  const wipe = async () => {
    for (const t of TABLES) await conn.query(`TRUNCATE TABLE \`${t.name}\``);
    await conn.query("TRUNCATE TABLE unmapped_rows");
    await conn.query("TRUNCATE TABLE sync_history");
    await conn.query("DELETE FROM devices");
  };
  await wipe();

  let t0 = performance.now();
  simulate({ out: join(dir, "backlog.db"), realtimeRows: N });
  log(`generated ${N} realtime_data rows in SQLite in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  // Payloads and the LOAD DATA file are prepared before anything is timed.
  t0 = performance.now();
  const pi = openDb(join(dir, "backlog.db"), { readonly: true });
  const select = pi.prepare(`SELECT ${columns.join(", ")} FROM realtime_data WHERE id > ? ORDER BY id LIMIT ?`);
  const payloads: Uint8Array<ArrayBuffer>[] = [];
  // The connector sends a LOCAL INFILE as one packet, so the ceiling loads files of
  // TSV_ROWS rows (~6.5 MB, under the default 16 MB max_allowed_packet), timed together.
  const TSV_ROWS = 50_000;
  const tsvFiles: string[] = [];
  const field = (v: unknown) => (v === null || v === undefined ? "\\N" : String(v).replace(/[\\\t\n]/g, (c) => (c === "\t" ? "\\t" : c === "\n" ? "\\n" : "\\\\")));
  for (let last = 0; ; ) {
    const rows = select.all(last, BATCH);
    if (rows.length === 0) break;
    last = Number(rows[rows.length - 1]!.id);
    const batchId = `${DEVICE}/realtime_data/${rows[0]!.id}-${last}`;
    payloads.push(new Uint8Array(gzipSync(JSON.stringify({ deviceId: DEVICE, batchId, tables: { realtime_data: { lastSyncedId: rows[0]!.id, rows } } }))));
    const lines = rows.map((r) => {
      const values = columns.map((c) => (c === "timestamp" ? toSqlDatetime(String(r[c])) : r[c]));
      return [...values, DEVICE, "2026-11-22 00:00:00.000", batchId].map(field).join("\t");
    });
    const file = join(dir, `rows-${Math.floor((last - 1) / TSV_ROWS)}.tsv`);
    if (tsvFiles.at(-1) !== file) tsvFiles.push(file);
    appendFileSync(file, lines.join("\n") + "\n");
  }
  pi.close();
  const compressedMb = payloads.reduce((n, p) => n + p.length, 0) / 1e6;
  log(`prepared ${payloads.length} gzip batches (${compressedMb.toFixed(1)} MB) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  server = await startServer({ DATABASE_URL: url, API_KEY: config.API_KEY });
  const base = server.base;
  const baselineRss = rssMb(server.pid);
  const peak = watchPeakRss(server.pid);

  /** Pushes every batch once; returns the seconds it took and the receipts' counts. */
  const pushAll = async () => {
    const started = performance.now();
    let inserted = 0;
    let updated = 0;
    for (const body of payloads) {
      const res = await fetch(`${base}/api/v1/sync`, {
        method: "POST",
        headers: { "x-api-key": config.API_KEY, "content-type": "application/json", "content-encoding": "gzip" },
        body,
      });
      const receipt = (await res.json()) as { tablesProcessed?: { realtime_data: { inserted: number; updated: number } } };
      if (res.status !== 200) throw new Error(`sync answered ${res.status}: ${JSON.stringify(receipt)}`);
      inserted += receipt.tablesProcessed!.realtime_data.inserted;
      updated += receipt.tablesProcessed!.realtime_data.updated;
    }
    return { seconds: (performance.now() - started) / 1000, inserted, updated };
  };
  const storedRows = async () => Number((await conn.query("SELECT COUNT(*) AS n FROM realtime_data WHERE source_device = ?", [DEVICE]))[0].n);

  const first = await pushAll();
  if ((await storedRows()) !== N || first.inserted !== N) throw new Error(`expected ${N} rows inserted, the receipts said ${first.inserted}`);
  log(`sync: ${N} rows in ${first.seconds.toFixed(1)} s`);
  const replay = await pushAll();
  if ((await storedRows()) !== N || replay.updated !== N || replay.inserted !== 0) {
    throw new Error(`a replay should update ${N} rows in place; the receipts said ${replay.inserted} inserted, ${replay.updated} updated`);
  }
  const peakRss = peak.stop();
  log(`replay (every row exists): ${N} rows in ${replay.seconds.toFixed(1)} s; server RSS baseline ${baselineRss.toFixed(0)} MB, peak ${peakRss.toFixed(0)} MB`);

  await wipe();
  t0 = performance.now();
  const loadColumns = [...columns.map((c) => (c === "id" ? "source_id" : c)), "source_device", "synced_at", "sync_batch_id"];
  for (const file of tsvFiles) {
    await conn.query(`LOAD DATA LOCAL INFILE ? INTO TABLE realtime_data (${loadColumns.map((c) => `\`${c}\``).join(", ")})`, [file]);
  }
  const loadSeconds = (performance.now() - t0) / 1000;
  const [{ n: loaded }] = await conn.query("SELECT COUNT(*) AS n FROM realtime_data");
  if (Number(loaded) !== N) throw new Error(`LOAD DATA stored ${loaded} rows, expected ${N}`);
  log(`LOAD DATA LOCAL INFILE: ${N} rows in ${loadSeconds.toFixed(1)} s`);

  const syncRate = Math.round(N / first.seconds);
  const replayRate = Math.round(N / replay.seconds);
  const loadRate = Math.round(N / loadSeconds);
  console.log(`sync_rows_per_s=${syncRate} replay_rows_per_s=${replayRate} load_data_rows_per_s=${loadRate} ratio=${(syncRate / loadRate).toFixed(2)}`);
} finally {
  await server?.stop();
  await conn.end();
  rmSync(dir, { recursive: true, force: true });
}
