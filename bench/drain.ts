/**
 * `npm run bench:drain -- --rows N`: how fast the compiled agent drains an
 * N-row backlog (default 1,000,000 realtime_data rows) into the real server,
 * and its peak RSS while doing so. Needs DATABASE_URL (a database it may wipe
 * and migrate) and API_KEY; starts the server itself on a free port and
 * builds dist/obd2-sync-linux-x64 when it is missing or stale.
 *
 * The agent's memory is sampled from /proc/<pid>/status (VmRSS, every
 * 20 ms; its RSS is flat during a drain). The last line is
 * `drain_rows_per_s=<n> client_peak_rss_mb=<n>`.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as mariadb from "mariadb";
import { loadConfig } from "../lib/config.ts";
import { connectionOptions } from "../lib/db/pools.ts";
import { migrate } from "../lib/db/migrate.ts";
import { TABLES } from "../lib/tables.ts";
import { ensureClientBinary } from "../scripts/build-client.ts";
import { simulate } from "../scripts/simulate/index.ts";
import { startServer, watchPeakRss, type BenchServer } from "./server.ts";

const { values: args } = parseArgs({ options: { rows: { type: "string", default: "1000000" }, "batch-size": { type: "string", default: "5000" } } });
const N = Number(args.rows);
if (!Number.isInteger(N) || N < 1) throw new Error(`--rows must be a positive whole number (got ${args.rows})`);
const config = loadConfig();
if (!config.DATABASE_URL) throw new Error("bench:drain needs DATABASE_URL (a database it may wipe and migrate)");
const url = config.DATABASE_URL;
const DEVICE = "bench-drain";
const log = (msg: string) => console.log(msg);

const dir = mkdtempSync(join(tmpdir(), "obd2-bench-drain-"));
const conn = await mariadb.createConnection(connectionOptions(url));
let server: BenchServer | undefined;
try {
  await migrate(url);
  for (const t of TABLES) await conn.query(`TRUNCATE TABLE \`${t.name}\``);
  await conn.query("TRUNCATE TABLE sync_history");
  await conn.query("DELETE FROM devices");

  let t0 = performance.now();
  const db = join(dir, "obd.db");
  const summary = simulate({ out: db, realtimeRows: N });
  const total = Object.entries(summary.rows)
    .filter(([table]) => TABLES.some((t) => t.name === table))
    .reduce((n, [, rows]) => n + rows, 0);
  log(`generated ${N} realtime_data rows (${total} mirrored rows in all) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const binary = ensureClientBinary("x64");

  server = await startServer({ DATABASE_URL: url, API_KEY: config.API_KEY });
  const base = server.base;

  t0 = performance.now();
  const agent = spawn(binary, ["push", "--db", db, "--server", base, "--device-id", DEVICE, "--batch-size", args["batch-size"]!, "--json"], {
    cwd: dir,
    env: { PATH: process.env.PATH, COMPANION_API_KEY: config.API_KEY },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const memory = watchPeakRss(agent.pid!);
  let stdout = "";
  agent.stdout!.on("data", (d) => (stdout += d));
  const code = await new Promise<number | null>((done) => agent.on("exit", done));
  const seconds = (performance.now() - t0) / 1000;
  const peak = memory.stop();
  if (code !== 0) throw new Error(`the agent exited ${code}: ${stdout}`);
  const sent = (JSON.parse(stdout).tables as { sent: number }[]).reduce((n, t) => n + t.sent, 0);
  const [{ n: stored }] = await conn.query("SELECT COUNT(*) AS n FROM realtime_data WHERE source_device = ?", [DEVICE]);
  if (Number(stored) !== N || sent !== total) throw new Error(`expected ${N} realtime rows and ${total} in all; the server has ${stored}, the agent sent ${sent}`);
  log(`drained ${sent} rows in ${seconds.toFixed(1)} s; agent peak RSS ${peak.toFixed(1)} MB`);
  console.log(`drain_rows_per_s=${Math.round(sent / seconds)} client_peak_rss_mb=${peak.toFixed(1)}`);
} finally {
  await server?.stop();
  await conn.end();
  rmSync(dir, { recursive: true, force: true });
}
