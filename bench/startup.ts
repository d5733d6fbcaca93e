/**
 * `npm run bench:startup -- [--runs N] [--binary PATH]`: the compiled agent's
 * size and how long `obd2-sync status` takes on a database with nothing to
 * send (no server configured), which is almost all start-up: the runtime,
 * the bundle, opening SQLite. Builds dist/obd2-sync-linux-x64 when it is
 * missing or stale; --binary measures another build instead (e.g. one made
 * with other `bun build` flags). Runs are sequential, after a few warm-ups.
 *
 * The last line is `startup_status_ms_median=<n> startup_status_ms_min=<n> binary_mb=<n>`.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { openDb } from "../client/sqlite.ts";
import { TABLES } from "../lib/tables.ts";
import { ensureClientBinary } from "../scripts/build-client.ts";
import { simulate } from "../scripts/simulate/index.ts";

const { values: args } = parseArgs({ options: { runs: { type: "string", default: "50" }, binary: { type: "string" } } });
const RUNS = Number(args.runs);
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`--runs must be a positive whole number (got ${args.runs})`);
const WARMUP = 5;

const dir = mkdtempSync(join(tmpdir(), "obd2-bench-startup-"));
try {
  // The EclipseTuner schema with no rows: nothing waiting, so status is start-up and a few queries.
  const db = join(dir, "obd.db");
  simulate({ out: db, drives: 1, minutes: 1 });
  const file = openDb(db);
  for (const t of TABLES) file.exec(`DELETE FROM "${t.name}"`);
  file.close();

  const binary = args.binary ?? ensureClientBinary("x64");
  const once = () => {
    const t0 = performance.now();
    const run = Bun.spawnSync([binary, "status", "--db", db], { cwd: dir, env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
    const ms = performance.now() - t0;
    if (run.exitCode !== 0) throw new Error(`status exited ${run.exitCode}: ${run.stderr.toString()}`);
    return ms;
  };
  for (let i = 0; i < WARMUP; i++) once();
  const times = Array.from({ length: RUNS }, once).sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)]!;
  const mb = statSync(binary).size / 1e6;
  console.log(`${binary}: ${mb.toFixed(1)} MB; status on an empty backlog, ${RUNS} runs: median ${median.toFixed(1)} ms, min ${times[0]!.toFixed(1)} ms, max ${times.at(-1)!.toFixed(1)} ms`);
  console.log(`startup_status_ms_median=${median.toFixed(1)} startup_status_ms_min=${times[0]!.toFixed(1)} binary_mb=${mb.toFixed(1)}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
