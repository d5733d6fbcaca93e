/**
 * `npm run bench:analysis -- --rows N`: how fast the statistics of one long
 * drive are read and computed (lib/analysis/drive-stats.ts), and what that costs in
 * memory. Needs DATABASE_URL (a database it may wipe and migrate). It fills
 * realtime_data with one drive of N readings (default 1,000,000, the default
 * ANALYSIS_MAX_READINGS), 10 readings a second across 13 parameters, then runs
 * readDriveStats over the whole window in this process, sampling its RSS.
 * The last line is `analysis_rows=<n> stats_rows_per_s=<n> stats_rss_growth_mb=<n>`.
 */
import { parseArgs } from "node:util";
import * as mariadb from "mariadb";
import { loadConfig } from "../lib/config.ts";
import { connectionOptions } from "../lib/db/pools.ts";
import { readDriveStats } from "../lib/analysis/drive-stats.ts";
import { findings } from "../lib/analysis/findings.ts";
import { migrate } from "../lib/db/migrate.ts";
import { watchPeakRss, rssMb } from "./server.ts";

const { values: args } = parseArgs({ options: { rows: { type: "string", default: "1000000" } } });
const N = Number(args.rows);
if (!Number.isInteger(N) || N < 1) throw new Error(`--rows must be a positive whole number (got ${args.rows})`);
const url = loadConfig().DATABASE_URL;
if (!url) throw new Error("bench:analysis needs DATABASE_URL (a database it may wipe and migrate)");
const DEVICE = "bench-analysis";
const PARAMETERS = ["RPM", "SPEED", "COOLANT_TEMP", "ENGINE_LOAD", "MAF", "INTAKE_TEMP", "THROTTLE_POS", "O2_B1S1", "SHORT_FUEL_TRIM_1", "LONG_FUEL_TRIM_1", "TIMING_ADVANCE", "INTAKE_PRESSURE", "CONTROL_MODULE_VOLTAGE"];
const START = new Date("2026-04-19T08:00:00Z");
const STEP_MS = 100;

await migrate(url);
const pool = mariadb.createPool({ ...connectionOptions(url), connectionLimit: 2 });
try {
  await pool.query("DELETE FROM realtime_data WHERE source_device = ?", [DEVICE]);
  // Plausible values, cheap to make: a wave per parameter around a typical level.
  const level = [2500, 60, 90, 40, 20, 35, 25, 0.5, 1, 2, 15, 60, 14.1];
  const spread = [1500, 40, 8, 30, 15, 10, 20, 0.4, 4, 1, 10, 40, 0.3];
  const CHUNK = 10_000;
  const filling = performance.now();
  for (let from = 0; from < N; from += CHUNK) {
    const rows: unknown[][] = [];
    for (let i = from; i < Math.min(from + CHUNK, N); i++) {
      const p = i % PARAMETERS.length;
      const at = new Date(START.getTime() + i * STEP_MS).toISOString().replace("T", " ").replace("Z", "");
      rows.push([i + 1, DEVICE, "2026-04-19 12:00:00", "bench", at, PARAMETERS[p], level[p]! + spread[p]! * Math.sin(i / 5000 + p), "u"]);
    }
    await pool.batch(
      "INSERT INTO realtime_data (source_id, source_device, synced_at, sync_batch_id, timestamp, parameter_name, value, unit) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      rows,
    );
  }
  console.log(`filled ${N} rows in ${((performance.now() - filling) / 1000).toFixed(1)} s`);

  const window = { deviceId: DEVICE, start: START, end: new Date(START.getTime() + N * STEP_MS) };
  Bun.gc(true);
  const baseline = rssMb(process.pid);
  const watch = watchPeakRss(process.pid);
  const began = performance.now();
  const stats = await readDriveStats(pool, window);
  const seconds = (performance.now() - began) / 1000;
  const peak = watch.stop();
  if (!stats || stats.rows !== N) throw new Error(`expected ${N} rows in the window, read ${stats?.rows}`);
  console.log(`parameters=${stats.parameters.length} findings=${findings(stats).length} duration_s=${Math.round(stats.facts.durationSeconds)}`);
  console.log(`analysis_rows=${N} stats_rows_per_s=${Math.round(N / seconds)} stats_rss_growth_mb=${(peak - baseline).toFixed(1)} baseline_rss_mb=${baseline.toFixed(1)}`);
} finally {
  await pool.end();
}
