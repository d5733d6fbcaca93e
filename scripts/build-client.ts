/**
 * `npm run build:client`: compiles the sync agent into single-file binaries,
 * dist/obd2-sync-linux-arm64 (for the Pi) and dist/obd2-sync-linux-x64.
 * `--smol` is baked in (a smaller heap; the agent's peak RSS stays well under
 * 64 MB) and better-sqlite3 is left out: compiled, the agent runs on Bun and
 * uses bun:sqlite. `--minify` saves 0.1 MB and no start-up time (the rest of
 * the 109 MB is Bun itself); `--bytecode` would start `status` about 10 ms
 * sooner but adds 2.2 MB, so it is not used (npm run bench:startup measures
 * it). Tests and the benches import ensureClientBinary().
 *
 *   bun scripts/build-client.ts [--target arm64|x64]...
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

export const TARGETS = { arm64: "bun-linux-arm64", x64: "bun-linux-x64" } as const;
export type Target = keyof typeof TARGETS;

const ROOT = fileURLToPath(new URL("..", import.meta.url));
// Everything the agent's bundle is built from, and how (this file's flags).
const SOURCES = [
  join(ROOT, "client"),
  ...["tables", "time", "device-id", "dotenv", "version"].map((f) => join(ROOT, `lib/${f}.ts`)),
  join(ROOT, "package.json"),
  fileURLToPath(import.meta.url),
];

export const binaryPath = (target: Target) => join(ROOT, "dist", `obd2-sync-linux-${target}`);

function newestSource(path: string): number {
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newestSource(join(path, name))));
}

/**
 * Compiles one target; throws with the compiler's output on failure. The
 * binary is written beside its final name and renamed into place, so a test
 * run building it at the same moment never executes a half-written file.
 */
export function buildClient(target: Target): string {
  const outfile = binaryPath(target);
  const partial = `${outfile}.${process.pid}.partial`;
  const run = spawnSync(
    process.execPath,
    [
      "build",
      "--compile",
      `--target=${TARGETS[target]}`,
      "--compile-exec-argv=--smol",
      "--minify",
      "--external",
      "better-sqlite3",
      join(ROOT, "client/main.ts"),
      "--outfile",
      partial,
    ],
    { cwd: ROOT, encoding: "utf8" },
  );
  if (run.status !== 0) {
    rmSync(partial, { force: true });
    throw new Error(`bun build for ${target} failed:\n${run.stderr || run.stdout}`);
  }
  renameSync(partial, outfile);
  return outfile;
}

/** The binary for `target`, rebuilt first when it is missing or older than its sources. */
export function ensureClientBinary(target: Target = "x64"): string {
  const path = binaryPath(target);
  const fresh = existsSync(path) && statSync(path).mtimeMs >= Math.max(...SOURCES.map(newestSource));
  return fresh ? path : buildClient(target);
}

if (import.meta.main) {
  try {
    const { values } = parseArgs({ options: { target: { type: "string", multiple: true } } });
    const targets = (values.target ?? Object.keys(TARGETS)) as Target[];
    for (const t of targets) {
      if (!(t in TARGETS)) throw new Error(`unknown target '${t}'; use ${Object.keys(TARGETS).join(" or ")}`);
      console.log(`built ${buildClient(t)}`);
    }
  } catch (err) {
    console.error(`Error: ${(err as Error).message}\nTry: bun scripts/build-client.ts [--target arm64|x64]`);
    process.exit(2);
  }
}
