/** `obd2-sync push`: drains everything now, then prints a per-table summary. */
import { CliError, EXIT, haltError, openPiDb, parseFlags, printJson, type ExitCode } from "../cli.ts";
import { loadApiKey, loadConfig, requireTarget, type AgentConfig } from "../config.ts";
import { acquireLock } from "../lock.ts";
import { progressBar, type Progress } from "../progress.ts";
import { collectState, conflictHint, conflictLine, count, formatTable } from "../report.ts";
import { onShutdown, type ShutdownHandle } from "../shutdown.ts";
import type { SqliteDb } from "../sqlite.ts";
import { readConflicts } from "../store.ts";
import { pushAll, type PushResult } from "../sync.ts";
import { SyncClient } from "../transport.ts";

export const usage = `Usage: obd2-sync push [--db PATH] [--server URL] [--device-id ID] [--batch-size N]
                      [--config FILE] [--retry-quarantined] [--wait] [--json]

Sends every row not yet on the server, table by table (parents first), in
gzip chunks of --batch-size rows (default 5000), then prints a summary.
A table's mark moves only after the server's receipt accounts for every row.

  --retry-quarantined  first resend rows in quarantine (after a server fix)
  --wait               if another push holds the lock, wait for it instead of exiting
  --json               print the result as JSON

Exit codes: 0 every table was drained (rows logged meanwhile go next time),
1 something is left unsynced (a table failed, rows in quarantine, the server
unreachable, stopped by a signal), 2 usage or configuration error.`;

/** Runs one locked push; shared with `run`. Returns undefined when another process holds the lock. */
export async function lockedPush(
  config: AgentConfig,
  target: { serverUrl: string; deviceId: string },
  apiKey: string,
  shutdown: ShutdownHandle,
  o: { db: SqliteDb; wait?: boolean; retryQuarantined?: boolean; progress?: Progress },
): Promise<PushResult | undefined> {
  const lock = await acquireLock(config.dbPath, { wait: o.wait, signal: shutdown.stop });
  if (!lock) return undefined;
  try {
    const client = new SyncClient({ ...target, apiKey, requestTimeoutMs: config.requestTimeoutMs, retries: config.retries, retryBaseMs: config.retryBaseMs, shutdown });
    // Counting the backlog costs a scan of the mutable tables and a COUNT per append table: only for the bar.
    o.progress?.start(collectState(o.db).tables.reduce((n, t) => n + t.backlog + (o.retryQuarantined ? t.quarantined : 0), 0));
    return await pushAll({ db: o.db, deviceId: target.deviceId, config, client, shutdown, onProgress: o.progress?.update }, { retryQuarantined: o.retryQuarantined });
  } finally {
    lock.release();
  }
}

export async function main(args: string[]): Promise<ExitCode> {
  const flags = parseFlags("push", args, { "retry-quarantined": { type: "boolean" }, wait: { type: "boolean" } });
  const config = loadConfig(flags);
  const target = requireTarget(config);
  const apiKey = loadApiKey(config);
  const db = openPiDb(config.dbPath);
  const shutdown = onShutdown();
  const bar = process.stderr.isTTY && !flags.json ? progressBar() : undefined;
  try {
    const result = await lockedPush(config, target, apiKey, shutdown, {
      db,
      wait: flags.wait,
      retryQuarantined: flags["retry-quarantined"],
      progress: bar,
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
    if (flags.json) {
      printJson({
        ok,
        server: target.serverUrl,
        deviceId: target.deviceId,
        db: config.dbPath,
        tables: result.tables.map((t) => ({ ...t, backlog: left.get(t.table)?.backlog ?? 0, quarantinedTotal: left.get(t.table)?.quarantined ?? 0 })),
        missing: result.missing,
        skipped: result.skipped,
        error: result.halted?.message ?? null,
      });
    } else {
      console.log(`Pushed ${config.dbPath} to ${target.serverUrl} as ${target.deviceId}`);
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
      if (ok) console.log(arrived ? `Caught up; ${count(arrived)} rows logged since then go next time.` : "Everything is on the server.");
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
