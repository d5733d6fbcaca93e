/** `obd2-sync push`: drains everything now, then prints a per-table summary. */
import { CliError, EXIT, haltError, openPiDb, parseFlags, printJson, requireServer, retryNotice, type ExitCode } from "../cli.ts";
import { loadApiKey, loadConfig, requireTarget, type AgentConfig } from "../config.ts";
import { discoverTables, q } from "../delta.ts";
import { acquireLock } from "../lock.ts";
import { progressBar, type Progress } from "../progress.ts";
import { collectState, conflictHint, conflictLine, count, formatTable } from "../report.ts";
import { onShutdown, type ShutdownHandle } from "../shutdown.ts";
import type { SqliteDb } from "../sqlite.ts";
import { readConflicts } from "../store.ts";
import { sendStatus, statusReport } from "../status-report.ts";
import { pushAll, type PushResult } from "../sync.ts";
import { SyncClient, type TransportOptions } from "../transport.ts";

export const usage = `Usage: obd2-sync push [--db PATH] [--server URL] [--device-id ID] [--batch-size N]
                      [--config FILE] [--retry-quarantined] [--resend-all [--yes]] [--wait] [--json]

Checks that the server answers (GET /api/v1/ping), then sends every row not
yet on the server, table by table (parents first), in gzip chunks of
--batch-size rows (default 5000), and prints a summary. A table's mark moves
only after the server's receipt accounts for every row.

  --retry-quarantined  first resend rows in quarantine (after a server fix)
  --resend-all         send every row again, as if nothing had been pushed (after
                       the server lost its database); asks first on a terminal
  --yes                with --resend-all: do not ask (for scripts)
  --wait               if another push holds the lock, wait for it instead of exiting
  --json               print the result as JSON

Exit codes: 0 every table was drained (rows logged meanwhile go next time),
1 something is left unsynced (the server unreachable, a table failed, rows in
quarantine, stopped by a signal, --resend-all not confirmed), 2 usage or
configuration error (including a key the server refuses and a wrong URL).`;

/** Runs one locked push; shared with `run`. Returns undefined when another process holds the lock. */
export async function lockedPush(
  config: AgentConfig,
  target: { serverUrl: string; deviceId: string },
  apiKey: string,
  shutdown: ShutdownHandle,
  o: { db: SqliteDb; wait?: boolean; retryQuarantined?: boolean; resendAll?: boolean; progress?: Progress; onRetry?: TransportOptions["onRetry"] },
): Promise<(PushResult & { statusSent: true | string }) | undefined> {
  const lock = await acquireLock(config.dbPath, { wait: o.wait, signal: shutdown.stop });
  if (!lock) return undefined;
  try {
    const client = new SyncClient({ ...target, apiKey, requestTimeoutMs: config.requestTimeoutMs, retries: config.retries, retryBaseMs: config.retryBaseMs, shutdown, onRetry: o.onRetry });
    // Counting the backlog costs a scan of the mutable tables and a COUNT per append table: only for the bar.
    if (o.progress) o.progress.start(o.resendAll ? rowCount(o.db) : collectState(o.db).tables.reduce((n, t) => n + t.backlog + (o.retryQuarantined ? t.quarantined : 0), 0));
    const result = await pushAll({ db: o.db, deviceId: target.deviceId, config, client, shutdown, onProgress: o.progress?.update }, { retryQuarantined: o.retryQuarantined, resendAll: o.resendAll });
    // The dashboard shows how far behind the Pi is. Best effort: a report that fails is the next push's job.
    // After a refused key, an unreachable server or a stop there is no one to tell.
    const statusSent = result.halted ? "not sent: the push ended early" : await sendStatus({ ...target, apiKey, timeoutMs: config.requestTimeoutMs }, statusReport(o.db));
    return { ...result, statusSent };
  } finally {
    lock.release();
  }
}

/** Every row of the mirrored tables this database has. */
function rowCount(db: SqliteDb): number {
  return discoverTables(db).present.reduce((n, src) => n + Number(db.prepare(`SELECT COUNT(*) AS n FROM ${q(src.name)}`).get()?.n ?? 0), 0);
}

/** --resend-all's question on a terminal; without one it needs --yes. True when the user agreed. */
async function confirmResend(db: SqliteDb, dbPath: string, target: { serverUrl: string; deviceId: string }, yes: boolean | undefined): Promise<boolean> {
  if (yes) return true;
  if (!process.stdin.isTTY || !process.stderr.isTTY) {
    throw new CliError("push --resend-all asks before sending every row again, and there is no terminal to ask on", "add --yes to resend without asking: obd2-sync push --resend-all --yes");
  }
  const { createInterface } = await import("node:readline/promises");
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const rows = count(rowCount(db));
    const answer = await prompt.question(`Send all ${rows} rows of ${dbPath} to ${target.serverUrl} as ${target.deviceId} again (the server keeps one copy of each)? [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    prompt.close();
  }
}

/** The last line of a push's summary: what reached the server, said plainly. */
function closingLine(o: { sent: number; ok: boolean; notSynced: number; arrived: number; dbPath: string; serverUrl: string; deviceId: string }): string {
  const to = `to ${o.serverUrl} as ${o.deviceId}`;
  const rows = (n: number) => `${count(n)} ${n === 1 ? "row" : "rows"}`;
  const notOn = `${rows(o.notSynced)} ${o.notSynced === 1 ? "is" : "are"} not on the server`;
  if (!o.ok) return o.sent ? `Pushed ${rows(o.sent)} of ${o.dbPath} ${to}, but ${notOn} yet.` : `Nothing was pushed ${to}: ${notOn} (${o.dbPath}).`;
  const later = o.arrived ? ` ${rows(o.arrived)} logged since then go next time.` : "";
  return `${o.sent ? `Pushed ${rows(o.sent)} of ${o.dbPath} ${to}.` : `Nothing new to push from ${o.dbPath} ${to}.`} Everything is on the server.${later}`;
}

export async function main(args: string[]): Promise<ExitCode> {
  const flags = parseFlags("push", args, { "retry-quarantined": { type: "boolean" }, "resend-all": { type: "boolean" }, yes: { type: "boolean" }, wait: { type: "boolean" } });
  if (flags.yes && !flags["resend-all"]) throw new CliError("--yes goes with --resend-all", "obd2-sync push --resend-all --yes");
  const config = loadConfig(flags);
  const target = requireTarget(config);
  const apiKey = loadApiKey(config);
  const db = openPiDb(config.dbPath);
  const shutdown = onShutdown();
  let bar: Progress | undefined;
  try {
    await requireServer({ command: "push", serverUrl: target.serverUrl, timeoutMs: config.pingTimeoutMs, shutdown });
    if (flags["resend-all"] && !(await confirmResend(db, config.dbPath, target, flags.yes))) {
      console.log("Nothing was resent.");
      return EXIT.unsynced;
    }
    bar = process.stderr.isTTY && !flags.json ? progressBar() : undefined;
    const result = await lockedPush(config, target, apiKey, shutdown, {
      db,
      wait: flags.wait,
      retryQuarantined: flags["retry-quarantined"],
      resendAll: flags["resend-all"],
      progress: bar,
      onRetry: retryNotice(flags.json),
    });
    bar?.done();
    if (!result) {
      throw new CliError(
        `another obd2-sync is already pushing ${config.dbPath} (lock ${config.dbPath}.sync-lock)`,
        "wait for it to finish, or run `obd2-sync push --wait` to wait for it",
        EXIT.unsynced,
      );
    }
    const after = collectState(db);
    const left = new Map(after.tables.map((t) => [t.table, t]));
    const quarantined = after.tables.reduce((n, t) => n + t.quarantined, 0);
    // Rows the logger wrote after a table was drained are not a failure of this push: they go next time.
    const arrived = after.tables.reduce((n, t) => n + t.backlog, 0);
    const ok = !result.halted && result.tables.every((t) => t.status === "ok") && quarantined === 0;
    const sent = result.tables.reduce((n, t) => n + t.sent, 0);
    if (flags.json) {
      printJson({
        ok,
        server: target.serverUrl,
        deviceId: target.deviceId,
        db: config.dbPath,
        sent,
        tables: result.tables.map((t) => ({ ...t, backlog: left.get(t.table)?.backlog ?? 0, quarantinedTotal: left.get(t.table)?.quarantined ?? 0 })),
        missing: result.missing,
        skipped: result.skipped,
        error: result.halted?.message ?? null,
        statusReported: result.statusSent === true,
      });
    } else {
      console.log(
        formatTable(
          ["TABLE", "SENT", "INSERTED", "UPDATED", "QUARANTINED", "LEFT", "STATUS"],
          result.tables.map((t) => [t.table, t.sent, t.inserted, t.updated, left.get(t.table)?.quarantined ?? 0, left.get(t.table)?.backlog ?? 0, t.error ? `${t.status}: ${t.error}` : t.status]),
        ),
      );
      if (result.missing.length) console.log(`Not in this database (skipped): ${result.missing.join(", ")}`);
      if (result.skipped.length) console.log(`Not sent: ${result.skipped.map((s) => `${s.table} (${s.reason})`).join("; ")}`);
      const unknown = result.tables.flatMap((t) => t.unknownColumns.map((c) => `${t.table}.${c}`));
      const unmapped = result.tables.filter((t) => !t.mirrored && t.sent > 0).map((t) => t.table);
      if (unknown.length || unmapped.length) {
        const kept = [unknown.length ? `columns ${unknown.join(", ")} (in each row's extra)` : "", unmapped.length ? `tables ${unmapped.join(", ")} (in unmapped_rows)` : ""];
        console.log(`The server kept what it does not know yet: ${kept.filter(Boolean).join("; ")}.`);
      }
      if (quarantined) {
        console.log(`${count(quarantined)} ${quarantined === 1 ? "row is" : "rows are"} in quarantine: see \`obd2-sync status\`; after fixing, run \`obd2-sync push --retry-quarantined\`.`);
      }
      console.log(closingLine({ sent, ok, notSynced: arrived + quarantined, arrived, dbPath: config.dbPath, serverUrl: target.serverUrl, deviceId: target.deviceId }));
    }
    if (result.halted) throw haltError(result.halted, { command: "push", serverUrl: target.serverUrl, signal: shutdown.signal, stopped: "the rest is sent next time" }) ?? result.halted;
    const conflicts = readConflicts(db);
    const refused = result.tables.filter((t) => t.status === "conflict");
    if (refused.length) {
      const lines = refused.map((t) => conflictLine(t.table, conflicts.get(t.table) ?? { conflicts: [] }));
      throw new CliError(
        `the server already holds other rows for device ${target.deviceId} in table ${refused.map((t) => t.table).join(", ")} (${lines.join("; ")}): ` +
          "this looks like a different Pi database (for example a new SD card); those tables were not sent and nothing changed here",
        conflictHint(target.deviceId),
        EXIT.unsynced,
      );
    }
    return ok ? EXIT.ok : EXIT.unsynced;
  } finally {
    bar?.done();
    shutdown.dispose();
    db.close();
  }
}
