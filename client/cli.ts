/**
 * What every obd2-sync command shares: the exit codes, the one error type
 * the top-level catch in main.ts prints as `Error: … / Try: …`, argument
 * parsing that turns a bad flag into that error, opening the Pi's database,
 * and --json output.
 */
import { existsSync } from "node:fs";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { openDb, type SqliteDb } from "./sqlite.ts";

/** 0 full success, 1 something left unsynced, 2 usage or configuration error. */
export const EXIT = { ok: 0, unsynced: 1, usage: 2 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the user can act on: printed as `Error: <message>` and `Try: <hint>`, then exit with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly hint: string,
    readonly exitCode: ExitCode = EXIT.usage,
  ) {
    super(message);
  }
}

/** The flags every command accepts; commands add their own. */
export const COMMON_OPTIONS = {
  config: { type: "string" },
  db: { type: "string" },
  server: { type: "string" },
  "device-id": { type: "string" },
  "batch-size": { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const satisfies ParseArgsConfig["options"];

export type Flags = {
  config?: string;
  db?: string;
  server?: string;
  "device-id"?: string;
  "batch-size"?: string;
  json?: boolean;
  help?: boolean;
};

/** parseArgs with our options; an unknown flag or a missing value is a usage error naming the command. */
export function parseFlags<O extends NonNullable<ParseArgsConfig["options"]>>(command: string, args: string[], options: O) {
  try {
    const { values, positionals } = parseArgs({ args, options: { ...COMMON_OPTIONS, ...options }, strict: true, allowPositionals: true });
    if (positionals.length) throw new Error(`unexpected argument '${positionals[0]}'`);
    return values as Flags & { [K in keyof O]?: O[K] extends { type: "boolean" } ? boolean : string };
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`${command}: ${(err as Error).message.split(". ")[0]}`, `obd2-sync ${command} --help`);
  }
}

/** Opens the Pi's database, which must exist: the agent never creates the app's database. */
export function openPiDb(path: string): SqliteDb {
  if (!existsSync(path)) {
    throw new CliError(`database not found: ${path}`, "pass --db /path/to/the/pi/database.db, or set pi.database.path in obd_config.json");
  }
  const db = openDb(path);
  // The agent reads in key order and writes a few rows: a small page cache is enough, and saves RSS on the Pi.
  db.exec("PRAGMA cache_size = -256");
  return db;
}

/** Prints `value` as JSON on stdout (for --json). */
export function printJson(value: unknown) {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
