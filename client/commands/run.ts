/**
 * `obd2-sync run`: the daemon systemd starts. Every --interval seconds it
 * probes GET /api/v1/ping with a short timeout and, when the server answers,
 * pushes everything. SIGTERM stops it cleanly between chunks (see
 * shutdown.ts). It logs JSON lines through pino on stdout for journald.
 */
import { existsSync } from "node:fs";
import { CliError, EXIT, openPiDb, parseFlags, type ExitCode } from "../cli.ts";
import { loadApiKey, loadConfig, requireTarget } from "../config.ts";
import { onShutdown, sleep, Stopped } from "../shutdown.ts";
import { SyncClient } from "../transport.ts";
import { lockedPush } from "./push.ts";

export const usage = `Usage: obd2-sync run [--interval SECONDS] [--db PATH] [--server URL] [--device-id ID]
                     [--batch-size N] [--config FILE]

Runs until SIGTERM: every --interval seconds (default 30, or
companionService.intervalSeconds) it probes the server with a short timeout
and, when it answers, pushes everything. If a manual push holds the lock, the
round is skipped. Logs are JSON lines on stdout.`;

export async function main(args: string[]): Promise<ExitCode> {
  const flags = parseFlags("run", args, { interval: { type: "string" } });
  const config = loadConfig(flags);
  if (flags.interval !== undefined) {
    const seconds = Number(flags.interval);
    if (!Number.isFinite(seconds) || seconds <= 0) throw new CliError(`--interval must be a number of seconds above 0 (got ${JSON.stringify(flags.interval)})`, "obd2-sync run --interval 30");
    config.intervalSeconds = seconds;
  }
  const target = requireTarget(config);
  const apiKey = loadApiKey(config);
  // Loaded here only: the daemon logs through pino, the one-shot commands print plain text.
  const { default: pino } = await import("pino");
  const log = pino({ base: { deviceId: target.deviceId }, redact: ["apiKey"] });
  const shutdown = onShutdown();
  log.info({ db: config.dbPath, server: target.serverUrl, intervalSeconds: config.intervalSeconds }, "obd2-sync run started");

  // Lasting conditions (away from home, a wrong key) are logged when they start, not every round.
  const last = { reach: "", problem: "" };
  const once = (kind: keyof typeof last, condition: string, write: () => void) => {
    if (condition !== last[kind]) write();
    last[kind] = condition;
  };

  const round = async () => {
    if (!existsSync(config.dbPath)) return once("reach", "no-db", () => log.warn({ db: config.dbPath }, "database not found; waiting for it"));
    const probe = new SyncClient({ ...target, apiKey, requestTimeoutMs: config.requestTimeoutMs, retries: 0, retryBaseMs: 0, shutdown });
    const reachable = await probe.ping(config.pingTimeoutMs);
    if (reachable !== true) return once("reach", "unreachable", () => log.info({ reason: reachable }, "server not reachable; will keep probing"));
    once("reach", "reachable", () => log.info("server reachable"));
    const db = openPiDb(config.dbPath);
    try {
      const result = await lockedPush(config, target, apiKey, shutdown, { db });
      if (!result) return log.info("another obd2-sync holds the lock; skipping this round");
      for (const t of result.tables) {
        if (t.sent || t.quarantined) log.info({ table: t.table, sent: t.sent, inserted: t.inserted, updated: t.updated, quarantined: t.quarantined }, "pushed");
      }
      const problems = result.tables.filter((t) => t.error && t.status !== "stopped").map((t) => `${t.table}: ${t.error}`);
      once("problem", problems.join("\n"), () => problems.length && log.error({ problems }, "push incomplete; retrying next round"));
    } catch (err) {
      // A local problem (database locked for too long, disk full): log it and try again next round.
      log.error({ err }, "push failed");
    } finally {
      db.close();
    }
  };

  while (!shutdown.stop.aborted) {
    const started = Date.now();
    await round();
    await sleep(Math.max(0, config.intervalSeconds * 1000 - (Date.now() - started)), shutdown.stop).catch((err) => {
      if (!(err instanceof Stopped)) throw err;
    });
  }
  log.info({ signal: shutdown.signal }, "obd2-sync run stopped");
  shutdown.dispose();
  return EXIT.ok;
}
