/**
 * What every obd2-sync command shares: the exit codes, the one error type
 * the top-level catch in main.ts prints as `Error: … / Try: …`, argument
 * parsing that turns a bad flag into that error, the first look at the
 * server a manual command takes, retries shown on a terminal, the messages
 * for a run that a refused key, a wrong URL, an unreachable server or a
 * signal ended, opening the Pi's database (and refusing any other file), and
 * --json output.
 */
import { accessSync, constants, statSync } from "node:fs";
import { join } from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { TABLES } from "../lib/tables.ts";
import { discoverTables } from "./delta.ts";
import { Stopped, type ShutdownHandle } from "./shutdown.ts";
import { openDb, type SqliteDb } from "./sqlite.ts";
import { AuthError, NotFound, pingServer, Unreachable, type PingFailure, type RetryNotice } from "./transport.ts";

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

/** Edit distance (insertions, deletions, substitutions) between two short words. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}

/** The known flag a mistyped or shortened one most likely meant, if one is close enough. */
function meant(flag: string, known: string[]): string | undefined {
  const longer = known.filter((k) => k.startsWith(flag));
  if (flag.length >= 3 && longer.length === 1) return longer[0];
  const [best] = known.map((k) => ({ k, d: distance(flag, k) })).sort((x, y) => x.d - y.d);
  return best && best.d <= Math.min(2, Math.floor(flag.length / 2)) ? best.k : undefined;
}

const KEY_FLAG = /^--(api[-_]?key|key)(=|$)/i;

/** parseArgs with our options; an unknown flag (with the one it probably meant) or a missing value is a usage error naming the command. */
export function parseFlags<O extends NonNullable<ParseArgsConfig["options"]>>(command: string, args: string[], options: O) {
  const all = { ...COMMON_OPTIONS, ...options };
  const keyFlag = args.find((a) => KEY_FLAG.test(a));
  if (keyFlag) {
    throw new CliError(
      `${command}: ${keyFlag.split("=")[0]} is not accepted: a key on the command line ends up in shell history and in \`ps\``,
      "set COMPANION_API_KEY in the environment or in a .env file (`npm run device -- add <id>` on the server prints the key)",
    );
  }
  try {
    const { values, positionals } = parseArgs({ args, options: all, strict: true, allowPositionals: true });
    if (positionals.length) throw new Error(`unexpected argument '${positionals[0]}'`);
    return values as Flags & { [K in keyof O]?: O[K] extends { type: "boolean" } ? boolean : string };
  } catch (err) {
    if (err instanceof CliError) throw err;
    const { code, message } = err as { code?: string; message: string };
    const unknown = code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" ? /'--([^'=]+)/.exec(message)?.[1] : undefined;
    const guess = unknown === undefined ? undefined : meant(unknown, Object.keys(all));
    throw new CliError(`${command}: ${message.split(". ")[0]}${guess ? `; did you mean --${guess}?` : ""}`, `obd2-sync ${command} --help`);
  }
}

/** "host:port" of a base URL, with the scheme's default port spelled out. */
function hostAndPort(serverUrl: string): string {
  const url = new URL(serverUrl);
  return `${url.hostname}:${url.port || (url.protocol === "https:" ? 443 : 80)}`;
}

/** What to say when the ping found no OBD2-Server: exit 1 when it did not answer, 2 when something else answered 404 (a wrong URL). */
function pingError(serverUrl: string, failure: PingFailure, timeoutMs: number): CliError {
  const where = hostAndPort(serverUrl);
  const setting = "--server (or companionService.baseUrl)";
  const curl = `curl ${serverUrl}/api/v1/ping`;
  switch (failure.kind) {
    case "refused":
      return new CliError(
        `cannot reach the server at ${where}: connection refused (nothing listens on port ${where.split(":").at(-1)})`,
        `start OBD2-Server there (\`npm start\`), or fix the host and port in ${setting}; check with ${curl}`,
        EXIT.unsynced,
      );
    case "no-such-host":
      return new CliError(
        `cannot reach the server at ${where}: no such host (the name ${new URL(serverUrl).hostname} does not resolve)`,
        `check the host name in ${setting}, or use the server's IP address`,
        EXIT.unsynced,
      );
    case "timeout":
      return new CliError(
        `the server at ${where} did not answer GET /api/v1/ping within ${timeoutMs / 1000} s (timeout)`,
        `check that OBD2-Server runs at ${where} and is not overloaded: ${curl} (the wait is companionService.timeouts.pingSeconds)`,
        EXIT.unsynced,
      );
    case "network":
      return new CliError(`cannot reach the server at ${where}: ${failure.message}`, `check the network between this Pi and the server: ${curl}`, EXIT.unsynced);
    case "answer":
      if (failure.status === 404) {
        return new CliError(`${failure.message}: no OBD2-Server API at that URL`, `check ${setting}: it is the server's base URL, e.g. http://${where}, without a path`, EXIT.usage);
      }
      return new CliError(failure.message, `check that ${serverUrl} is OBD2-Server and that it is healthy: ${curl}`, EXIT.unsynced);
  }
}

/**
 * A manual command's first request: GET /api/v1/ping within the ping
 * timeout, so a server that is down, a host name that does not resolve or a
 * wrong URL fails at once, naming the host and port, instead of after the
 * retries. (`run` stays patient: it probes every round and waits.)
 */
export async function requireServer(o: { command: string; serverUrl: string; timeoutMs: number; shutdown: ShutdownHandle }): Promise<void> {
  let ping: true | PingFailure;
  try {
    ping = await pingServer(o.serverUrl, o.timeoutMs, o.shutdown.stop);
  } catch (err) {
    throw haltError(err, { command: o.command, signal: o.shutdown.signal, stopped: "nothing was sent" }) ?? err;
  }
  if (ping !== true) throw pingError(o.serverUrl, ping, o.timeoutMs);
}

const waitText = (ms: number) => (ms >= 1000 ? `${Math.round(ms / 1000)} s` : `${(ms / 1000).toFixed(1)} s`);

/** On a terminal (and without --json), prints each retry as its wait starts, so a struggling server is never a silent wait. */
export function retryNotice(json: boolean | undefined, out: NodeJS.WriteStream = process.stderr): ((retry: RetryNotice) => void) | undefined {
  if (json || !out.isTTY) return undefined;
  // \r\x1b[K: over the progress bar's line, which redraws below it.
  return (r) => out.write(`\r\x1b[K${r.reason}; retry ${r.attempt}/${r.of} in ${waitText(r.waitMs)}\n`);
}

/**
 * The CliError for an error that ends a command's talk with the server: the
 * key refused or a 404 (exit 2), the server unreachable or a stop signal (exit 1).
 * `stopped` says what a stop leaves behind. Undefined for any other error.
 */
export function haltError(err: unknown, o: { command: string; serverUrl?: string; signal?: string; stopped: string }): CliError | undefined {
  if (err instanceof AuthError) {
    return new CliError(err.message, "set COMPANION_API_KEY to a key the server accepts for this device (`npm run device -- add <id>` on the server)", EXIT.usage);
  }
  if (err instanceof NotFound) {
    const path = new URL(err.url).pathname;
    return new CliError(err.message, `check --server (or companionService.baseUrl): it is the server's base URL, e.g. http://<host>:8000, without a path; if it is, update OBD2-Server (it has no ${path})`, EXIT.usage);
  }
  if (err instanceof Unreachable) return new CliError(`server ${o.serverUrl}: ${err.message}`, `check that the server is up: curl ${o.serverUrl}/api/v1/ping`, EXIT.unsynced);
  if (err instanceof Stopped) return new CliError(`stopped by ${o.signal ?? "a signal"}; ${o.stopped}`, `run \`obd2-sync ${o.command}\` again`, EXIT.unsynced);
  return undefined;
}

const DB_HINT = "pass --db with the Pi's EclipseTuner database, or set pi.database.path in obd_config.json";

/** Why `path` cannot be the Pi's database file, before SQLite opens it (a FIFO would block the open). */
function fileProblem(path: string): CliError | undefined {
  try {
    const stat = statSync(path);
    if (stat.isDirectory()) return new CliError(`${path} is a directory, not a database file`, `pass --db with the database file in it, e.g. --db ${join(path, "obd.db")}`);
    if (!stat.isFile()) {
      const kind = stat.isFIFO() ? "a FIFO" : stat.isSocket() ? "a socket" : stat.isCharacterDevice() || stat.isBlockDevice() ? "a device" : "not a regular file";
      return new CliError(`${path} is ${kind}, not a database file`, DB_HINT);
    }
    accessSync(path, constants.R_OK);
    return undefined;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "ENOENT") return new CliError(`database not found: ${path}`, DB_HINT);
    if (code === "ENOTDIR") return new CliError(`database not found: ${path} (part of that path is a file, not a directory)`, DB_HINT);
    if (code === "EACCES") return new CliError(`cannot read ${path}: permission denied`, "run obd2-sync as the user the logger runs as, or let that user's group read and write the database");
    return new CliError(`cannot open ${path}: ${(err as Error).message}`, DB_HINT);
  }
}

/**
 * Opens the Pi's database, which must exist and hold at least one of the
 * EclipseTuner tables: the agent never creates the app's database, and
 * never writes its own tables into a file that is not one (a wrong --db).
 */
export function openPiDb(path: string): SqliteDb {
  const problem = fileProblem(path);
  if (problem) throw problem;
  let db: SqliteDb | undefined;
  try {
    db = openDb(path);
    // The agent reads in key order and writes a few rows: a small page cache is enough, and saves RSS on the Pi.
    db.exec("PRAGMA cache_size = -256");
    // Only a mirrored table counts: any SQLite file has some table the agent would send as unknown.
    if (discoverTables(db).present.some((t) => t.mirrored)) return db;
  } catch (err) {
    db?.close();
    const message = (err as Error).message;
    if (/unable to open|readonly|permission|access/i.test(message)) throw new CliError(`cannot open ${path} for reading and writing (${message})`, "run obd2-sync as the user the logger runs as, or fix the file's permissions");
    throw new CliError(`${path} is not an SQLite database (${message})`, DB_HINT);
  }
  db.close();
  throw new CliError(`${path} has none of the EclipseTuner tables (${TABLES.map((t) => t.name).join(", ")}), so it is not the Pi's database; it was left as it is`, DB_HINT);
}

/** Prints `value` as JSON on stdout (for --json). */
export function printJson(value: unknown) {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
