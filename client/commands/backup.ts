/** `obd2-sync backup`: uploads a consistent snapshot of the database, and changed log files, to the server. */
import { existsSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { backupAll, backupTemp, wildcardsInNameOnly, type BackupResult } from "../backup.ts";
import { CliError, EXIT, haltError, openPiDb, parseFlags, printJson, requireServer, retryNotice, type ExitCode } from "../cli.ts";
import { loadApiKey, loadConfig, requireTarget, type AgentConfig } from "../config.ts";
import { acquireLock } from "../lock.ts";
import { onShutdown, type ShutdownHandle } from "../shutdown.ts";
import type { SqliteDb } from "../sqlite.ts";
import { SyncClient, type TransportOptions } from "../transport.ts";

export const usage = `Usage: obd2-sync backup [--db PATH] [--server URL] [--device-id ID] [--config FILE]
                        [--logs GLOB] [--logs-only] [--temp-dir DIR] [--wait] [--json]

Checks that the server answers (GET /api/v1/ping), then uploads a consistent
snapshot of the database to the server (type database):
taken with VACUUM INTO while the logger keeps writing, checked with PRAGMA
integrity_check, gzipped as <name>.db.gz and sent with its sha256.

  --logs GLOB     also upload the files GLOB matches (type logs), gzipped, each
                  only when its size or time changed since its last upload;
                  wildcards in the file name only, quoted: --logs 'logs/*.log'
  --logs-only     upload the logs but not the database
  --temp-dir DIR  where the snapshot and its .gz are written (default: next to
                  the database; needs room for about 1.3 times its size)
  --wait          if a push or backup holds the lock, wait for it instead of exiting
  --json          print the result as JSON

Exit codes: 0 everything was uploaded, 1 something was not (a file failed,
the server unreachable, the lock held, stopped by a signal), 2 usage or
configuration error, including a key the server refuses.`;

/** The flags `backup` shares with `run --backup-every`. */
export const BACKUP_OPTIONS = { logs: { type: "string" }, "temp-dir": { type: "string" } } as const;

export type BackupSettings = { logs?: string; tempDir: string };

/** --logs and --temp-dir, checked. */
export function backupSettings(flags: { logs?: string; "temp-dir"?: string }, config: AgentConfig): BackupSettings {
  if (flags.logs !== undefined && !wildcardsInNameOnly(flags.logs)) {
    throw new CliError(`--logs may have wildcards in the file name only (got ${JSON.stringify(flags.logs)})`, "obd2-sync backup --logs '/home/pi/eclipse-obd/logs/*.log'");
  }
  if (flags["temp-dir"] === undefined) return { logs: flags.logs, tempDir: dirname(config.dbPath) };
  const tempDir = resolve(flags["temp-dir"]);
  if (!existsSync(tempDir) || !statSync(tempDir).isDirectory()) {
    throw new CliError(`--temp-dir ${tempDir} is not a directory`, "pass an existing directory with room for about 1.3 times the database's size");
  }
  return { logs: flags.logs, tempDir };
}

/** Runs one locked backup; shared with `run`. Returns undefined when another process holds the lock. */
export async function lockedBackup(
  config: AgentConfig,
  target: { serverUrl: string; deviceId: string },
  apiKey: string,
  shutdown: ShutdownHandle,
  o: BackupSettings & { db: SqliteDb; database: boolean; wait?: boolean; onRetry?: TransportOptions["onRetry"] },
): Promise<BackupResult | undefined> {
  const lock = await acquireLock(config.dbPath, { wait: o.wait, signal: shutdown.stop });
  if (!lock) return undefined;
  try {
    const client = new SyncClient({ ...target, apiKey, requestTimeoutMs: config.requestTimeoutMs, retries: config.retries, retryBaseMs: config.retryBaseMs, shutdown, onRetry: o.onRetry });
    const temp = backupTemp(config.dbPath, o.tempDir);
    return await backupAll({ db: o.db, dbPath: config.dbPath, deviceId: target.deviceId, client, temp, stop: shutdown.stop }, o);
  } finally {
    lock.release();
  }
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

function print(result: BackupResult, dbPath: string, serverUrl: string, logs?: string) {
  const db = result.database;
  if (db?.status === "ok") {
    console.log(`Backed up ${dbPath} to ${serverUrl}: stored as ${db.filename} (${mb(db.databaseBytes)}, ${mb(db.sizeBytes)} gzipped, sha256 ${db.sha256})`);
    if (db.journalMode !== "wal") {
      console.log(`Note: the database is in ${db.journalMode} journal mode, so the logger's commits waited for the ${db.snapshotSeconds} s snapshot; WAL mode avoids that (see docs/backups.md).`);
    }
  } else if (db) console.log(`Database backup failed: ${db.error}`);
  if (logs === undefined) return;
  if (!result.logs.length) return console.log(`No log files match ${logs}.`);
  const n = (status: string) => result.logs.filter((l) => l.status === status).length;
  console.log(`Logs matching ${logs}: ${n("uploaded")} uploaded, ${n("unchanged")} unchanged, ${n("failed")} failed`);
  for (const l of result.logs) {
    if (l.status === "uploaded") console.log(`  ${l.path}: stored as ${l.filename}`);
    if (l.status === "failed") console.log(`  ${l.path}: failed: ${l.error}`);
  }
}

export async function main(args: string[]): Promise<ExitCode> {
  const flags = parseFlags("backup", args, { ...BACKUP_OPTIONS, "logs-only": { type: "boolean" }, wait: { type: "boolean" } });
  const config = loadConfig(flags);
  if (flags["logs-only"] && flags.logs === undefined) throw new CliError("--logs-only needs --logs GLOB", "obd2-sync backup --logs-only --logs '/home/pi/eclipse-obd/logs/*.log'");
  const settings = backupSettings(flags, config);
  const target = requireTarget(config);
  const apiKey = loadApiKey(config);
  const db = openPiDb(config.dbPath);
  const shutdown = onShutdown();
  try {
    await requireServer({ command: "backup", serverUrl: target.serverUrl, timeoutMs: config.pingTimeoutMs, shutdown });
    const result = await lockedBackup(config, target, apiKey, shutdown, { db, ...settings, database: !flags["logs-only"], wait: flags.wait, onRetry: retryNotice(flags.json) });
    if (!result) {
      throw new CliError(
        `another obd2-sync is already pushing or backing up ${config.dbPath} (lock ${config.dbPath}.sync-lock)`,
        "wait for it to finish, or run `obd2-sync backup --wait` to wait for it",
        EXIT.unsynced,
      );
    }
    const ok = !result.halted && result.database?.status !== "failed" && result.logs.every((l) => l.status !== "failed");
    if (flags.json) {
      printJson({ ok, server: target.serverUrl, deviceId: target.deviceId, db: config.dbPath, database: result.database ?? null, logs: result.logs, error: result.halted?.message ?? null });
    } else print(result, config.dbPath, target.serverUrl, settings.logs);
    if (result.halted) throw haltError(result.halted, { command: "backup", serverUrl: target.serverUrl, signal: shutdown.signal, stopped: "nothing half-done is kept" }) ?? result.halted;
    return ok ? EXIT.ok : EXIT.unsynced;
  } finally {
    shutdown.dispose();
    db.close();
  }
}
