/**
 * The command line (`npm run simulate -- --out FILE …`): parses flags into
 * simulate() or follow() and turns a UsageError into a hint and exit code 2.
 */
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { DEFAULT_START, follow, simulate, UsageError } from "./drives.ts";

const USAGE = `Usage: npm run simulate -- --out FILE [options]

Writes deterministic EclipseTuner drives into a new SQLite file.

  --out FILE      SQLite file to write (required; must not exist unless --append)
  --drives N      drives to simulate (default 3)
  --minutes N     minutes of readings per drive (default 20)
  --seed N        PRNG seed (default 1); same options give the same rows
  --start TIME    first drive start, UTC (default "${DEFAULT_START}")
  --legacy        older Pi schema: no profiles table, no data_source/drive_id
  --current       today's Pi schema: adds drive_summary, dtc_log, dtc_freeze_frame,
                  battery_health_log and the Pi-only drive_counter, pi_state and
                  startup_log; the last drive never logs its drive_end
  --data-source S physics_sim (default) or real: the rows' data_source
  --drive-sources S,S,...  data_source per drive instead (one per drive)
  --ltft-shift N:PCT       drive N's long-term fuel trim starts PCT % off the run's
  --rows N        instead of --drives: exactly N realtime_data rows, fast
  --append        add drives to an existing file
  --follow        append readings live until SIGTERM/SIGINT (with --rate)
  --rate R        rows per second for --follow
  --json          print the summary as JSON
  -h, --help      show this help`;

function numberArg(values: Record<string, unknown>, name: string): number | undefined {
  const text = values[name];
  if (text === undefined) return undefined;
  const n = Number(text);
  if (typeof text !== "string" || text.trim() === "" || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number (got "${text}")`);
  return n;
}

/** `--ltft-shift 3:8` → drive 3, +8 %. */
function ltftShiftArg(text: string | undefined): { drive: number; percent: number } | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d+):(-?\d+(?:\.\d+)?)$/.exec(text.trim());
  if (!m) throw new UsageError(`--ltft-shift must be DRIVE:PERCENT, e.g. 3:8 (got "${text}")`);
  return { drive: Number(m[1]), percent: Number(m[2]) };
}

async function main(argv: string[]): Promise<void> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        out: { type: "string" },
        drives: { type: "string" },
        minutes: { type: "string" },
        seed: { type: "string" },
        start: { type: "string" },
        legacy: { type: "boolean" },
        current: { type: "boolean" },
        "data-source": { type: "string" },
        "drive-sources": { type: "string" },
        "ltft-shift": { type: "string" },
        rows: { type: "string" },
        append: { type: "boolean" },
        follow: { type: "boolean" },
        rate: { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const out = values.out as string | undefined;
  // The old entry point's name, which still works and which tests/simulate.test.ts expects verbatim.
  if (!out) throw new UsageError("--out is required", "bun scripts/simulate/cli.ts --out drives.db");
  const seed = numberArg(values, "seed");

  if (values.follow) {
    const rate = numberArg(values, "rate");
    if (rate === undefined) throw new UsageError("--follow needs --rate (rows per second)", `npm run simulate -- --out ${out} --follow --rate 200`);
    for (const other of ["drives", "minutes", "start", "legacy", "current", "data-source", "drive-sources", "ltft-shift", "rows", "append"]) {
      if (values[other] !== undefined) throw new UsageError(`--${other} does not apply to --follow`, `npm run simulate -- --out ${out} --follow --rate ${rate}`);
    }
    const stop = new AbortController();
    const abort = () => stop.abort();
    process.once("SIGTERM", abort);
    process.once("SIGINT", abort);
    const rows = await follow(out, { rate, signal: stop.signal, seed });
    process.off("SIGTERM", abort);
    process.off("SIGINT", abort);
    console.log(values.json ? JSON.stringify({ out, rows: { realtime_data: rows } }) : `followed ${out}: wrote realtime_data=${rows}`);
    return;
  }
  if (values.rate !== undefined) throw new UsageError("--rate only applies to --follow");

  const summary = simulate({
    out,
    drives: numberArg(values, "drives"),
    minutes: numberArg(values, "minutes"),
    seed,
    start: values.start as string | undefined,
    legacy: values.legacy as boolean | undefined,
    current: values.current as boolean | undefined,
    dataSource: values["data-source"] as "physics_sim" | "real" | undefined,
    dataSources: (values["drive-sources"] as string | undefined)?.split(",").map((x) => x.trim()) as ("physics_sim" | "real")[] | undefined,
    ltftShift: ltftShiftArg(values["ltft-shift"] as string | undefined),
    realtimeRows: numberArg(values, "rows"),
    append: values.append as boolean | undefined,
  });
  const counts = Object.entries(summary.rows)
    .filter(([, n]) => n > 0)
    .sort(([a], [b]) => (a === "realtime_data" ? -1 : b === "realtime_data" ? 1 : 0))
    .map(([t, n]) => `${t}=${n}`);
  console.log(values.json ? JSON.stringify({ out, ...summary }) : `wrote ${out}: ${summary.drives} drives, ${counts.join(", ")}`);
}

/** Runs the CLI on `argv`: errors go to stderr and process.exitCode (2 for a UsageError). */
async function runCli(argv: string[]): Promise<void> {
  try {
    await main(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`Error: ${err.message}\nTry: ${err.hint}`);
      process.exitCode = 2;
    } else {
      console.error(`Error: ${(err as Error).message}`);
      process.exitCode = 1;
    }
  }
}

const isMain = (import.meta as { main?: boolean }).main ?? process.argv[1] === fileURLToPath(import.meta.url);
if (isMain) await runCli(process.argv.slice(2));
