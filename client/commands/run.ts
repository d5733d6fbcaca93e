/**
 * `obd2-sync run`: the daemon systemd starts. Every --interval seconds it
 * probes GET /api/v1/ping with a short timeout and, when the server answers,
 * pushes everything, then backs up when a backup is due (--backup-every).
 * SIGTERM stops it cleanly between chunks (see shutdown.ts). It logs JSON
 * lines through pino on stdout for journald.
 */
import { existsSync } from "node:fs";
import { lastBackupAt } from "../backup.ts";
import { CliError, EXIT, openPiDb, parseFlags, type ExitCode } from "../cli.ts";
import { loadApiKey, loadConfig, requireTarget } from "../config.ts";
import { onShutdown, sleep, Stopped } from "../shutdown.ts";
import type { SqliteDb } from "../sqlite.ts";
import { pingServer } from "../transport.ts";
import { BACKUP_OPTIONS, backupSettings, lockedBackup } from "./backup.ts";
import { lockedPush } from "./push.ts";
import { conflictHint } from "../report.ts";

export const usage = `Usage: obd2-sync run [--interval SECONDS] [--db PATH] [--server URL] [--device-id ID]
                     [--batch-size N] [--config FILE]
                     [--backup-every HOURS [--logs GLOB] [--temp-dir DIR]]

Runs until SIGTERM: every --interval seconds (default 30, or
companionService.intervalSeconds) it probes the server with a short timeout
and, when it answers, pushes everything. If a manual push holds the lock, the
round is skipped. Logs are JSON lines on stdout.

  --backup-every HOURS  after the push, back the database up as \`obd2-sync backup\`
                        does once the last successful backup is this old (kept
                        in the database, so a restart does not back up again);
                        a failed backup is retried next round, then less often
  --logs GLOB           with each backup, upload the log files that changed
  --temp-dir DIR        where backups write temp files (default: next to the database)`;

const positive = (flag: string, value: string, unit: string, example: string) => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new CliError(`--${flag} must be a number of ${unit} above 0 (got ${JSON.stringify(value)})`, example);
  return n;
};

export async function main(args: string[]): Promise<ExitCode> {
  const flags = parseFlags("run", args, { interval: { type: "string" }, "backup-every": { type: "string" }, ...BACKUP_OPTIONS });
  const config = loadConfig(flags);
  if (flags.interval !== undefined) config.intervalSeconds = positive("interval", flags.interval, "seconds", "obd2-sync run --interval 30");
  const backupHours = flags["backup-every"] === undefined ? undefined : positive("backup-every", flags["backup-every"], "hours", "obd2-sync run --backup-every 24");
  if (backupHours === undefined && (flags.logs !== undefined || flags["temp-dir"] !== undefined)) {
    throw new CliError(`--${flags.logs !== undefined ? "logs" : "temp-dir"} needs --backup-every`, "obd2-sync run --backup-every 24 --logs '/home/pi/eclipse-obd/logs/*.log'");
  }
  const backupSet = backupSettings(flags, config);
  const target = requireTarget(config);
  const apiKey = loadApiKey(config);
  // Loaded here only: the daemon logs through pino, the one-shot commands print plain text.
  const { default: pino } = await import("pino");
  const log = pino({ base: { deviceId: target.deviceId }, redact: ["apiKey"] });
  const shutdown = onShutdown();
  log.info({ db: config.dbPath, server: target.serverUrl, intervalSeconds: config.intervalSeconds, backupEveryHours: backupHours }, "obd2-sync run started");

  // Lasting conditions (away from home, a wrong key) are logged when they start, not every round.
  const last = { reach: "", problem: "", db: "", status: "" };
  const once = (kind: keyof typeof last, condition: string, write: () => void) => {
    if (condition !== last[kind]) write();
    last[kind] = condition;
  };

  /** One locked push; false when another process held the lock. */
  const push = async (db: SqliteDb): Promise<boolean> => {
    try {
      const result = await lockedPush(config, target, apiKey, shutdown, { db });
      if (!result) {
        log.info("another obd2-sync holds the lock; skipping this round");
        return false;
      }
      for (const t of result.tables) {
        if (t.sent || t.quarantined) log.info({ table: t.table, sent: t.sent, inserted: t.inserted, updated: t.updated, quarantined: t.quarantined }, "pushed");
      }
      const problems = result.tables.filter((t) => t.error && t.status !== "stopped").map((t) => `${t.table}: ${t.error}`);
      const conflicts = result.tables.filter((t) => t.status === "conflict").map((t) => t.table);
      // A different database under this device id does not fix itself by retrying: say what to do.
      const hint = conflicts.length ? { conflicts, hint: conflictHint(target.deviceId) } : {};
      once("problem", problems.join("\n"), () => problems.length && log.error({ problems, ...hint }, "push incomplete; retrying next round"));
      once("status", result.statusSent === true ? "" : result.statusSent, () => result.statusSent !== true && log.warn({ problem: result.statusSent }, "could not report the backlog to the dashboard; trying again next round"));
    } catch (err) {
      // A local problem (database locked for too long, disk full): log it and try again next round.
      log.error({ err }, "push failed");
    }
    return true;
  };

  // After a failed database backup the next try waits one interval, then two, four, … up to --backup-every,
  // so a backup the server keeps refusing does not snapshot the whole database every round.
  const backupEveryMs = (backupHours ?? 0) * 3_600_000;
  const failed = { times: 0, roundAt: 0 };
  const backupDue = (db: SqliteDb, now: number) => {
    if (failed.times) return now - failed.roundAt >= Math.min(backupEveryMs, config.intervalSeconds * 1000 * 2 ** (failed.times - 1));
    const last = lastBackupAt(db)?.getTime();
    // A last backup in the future means the clock went back (a Pi has no clock battery): back up now.
    return last === undefined || now - last >= backupEveryMs || last > now;
  };

  const backup = async (db: SqliteDb, roundAt: number) => {
    let stored = false;
    try {
      const result = await lockedBackup(config, target, apiKey, shutdown, { db, ...backupSet, database: true });
      if (!result) return log.info("another obd2-sync holds the lock; backing up next round");
      const { database, logs, halted } = result;
      const problems: string[] = [];
      if (database?.status === "ok") {
        const { filename, sizeBytes, databaseBytes, sha256, journalMode, snapshotSeconds } = database;
        log.info({ filename, sizeBytes, databaseBytes, sha256, journalMode, snapshotSeconds }, "backup stored");
        stored = true;
      } else if (database) problems.push(`database: ${database.error}`);
      for (const l of logs) {
        if (l.status === "uploaded") log.info({ path: l.path, filename: l.filename, sizeBytes: l.sizeBytes }, "log uploaded");
        if (l.status === "failed") problems.push(`${l.path}: ${l.error}`);
      }
      if (halted instanceof Stopped) return;
      if (halted) problems.push(halted.message);
      if (problems.length) log.error({ problems }, stored ? "log backup incomplete; retrying at the next backup" : "backup failed; retrying");
    } catch (err) {
      log.error({ err }, "backup failed; retrying");
    }
    if (stored) failed.times = 0;
    else Object.assign(failed, { times: failed.times + 1, roundAt });
  };

  const round = async (startedAt: number) => {
    if (!existsSync(config.dbPath)) return once("reach", "no-db", () => log.warn({ db: config.dbPath }, "database not found; waiting for it"));
    const reachable = await pingServer(target.serverUrl, config.pingTimeoutMs, shutdown.stop).catch((err) => {
      if (err instanceof Stopped) return undefined;
      throw err;
    });
    if (reachable === undefined) return;
    if (reachable !== true) return once("reach", "unreachable", () => log.info({ reason: reachable.message }, "server not reachable; will keep probing"));
    once("reach", "reachable", () => log.info("server reachable"));
    let db: SqliteDb;
    try {
      db = openPiDb(config.dbPath);
    } catch (err) {
      // A wrong --db is fixed by hand, and a database the logger is creating right now fixes itself: either way, wait.
      if (!(err instanceof CliError)) throw err;
      return once("db", err.message, () => log.error({ db: config.dbPath, problem: err.message }, "database unusable; waiting for it"));
    }
    once("db", "", () => {});
    try {
      if ((await push(db)) && backupHours !== undefined && !shutdown.stop.aborted && backupDue(db, startedAt)) await backup(db, startedAt);
    } finally {
      db.close();
    }
  };

  while (!shutdown.stop.aborted) {
    const started = Date.now();
    await round(started);
    await sleep(Math.max(0, config.intervalSeconds * 1000 - (Date.now() - started)), shutdown.stop).catch((err) => {
      if (!(err instanceof Stopped)) throw err;
    });
  }
  log.info({ signal: shutdown.signal }, "obd2-sync run stopped");
  shutdown.dispose();
  return EXIT.ok;
}
