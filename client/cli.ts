/**
 * What every obd2-sync command shares: the exit codes, the one error type
 * the top-level catch in main.ts prints as `Error: … / Try: …`, argument
 * parsing that turns a bad flag into that error, the messages for a run that
 * a refused key, an unreachable server or a signal ended, opening the Pi's
 * database, and --json output.
 */
import { existsSync } from "node:fs";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { Stopped } from "./shutdown.ts";
import { openDb, type SqliteDb } from "./sqlite.ts";
import { AuthError, Unreachable } from "./transport.ts";

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
const COMMON_OPTIONS = {
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

/**
 * The CliError for an error that ends a command's talk with the server: the
 * key refused (exit 2), the server unreachable or a stop signal (exit 1).
 * `stopped` says what a stop leaves behind. Undefined for any other error.
 */
export function haltError(err: unknown, o: { command: string; serverUrl?: string; signal?: string; stopped: string }): CliError | undefined {
  if (err instanceof AuthError) {
    return new CliError(err.message, "set COMPANION_API_KEY to a key the server accepts for this device (`npm run device -- add <id>` on the server)", EXIT.usage);
  }
  if (err instanceof Unreachable) return new CliError(`server ${o.serverUrl}: ${err.message}`, `check that the server is up: curl ${o.serverUrl}/api/v1/ping`, EXIT.unsynced);
  if (err instanceof Stopped) return new CliError(`stopped by ${o.signal ?? "a signal"}; ${o.stopped}`, `run \`obd2-sync ${o.command}\` again`, EXIT.unsynced);
  return undefined;
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
