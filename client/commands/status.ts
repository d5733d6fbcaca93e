/** `obd2-sync status`: the version, whether the server answers, and per table the mark, backlog, oldest unsynced row, quarantine and last error. Reads only. */
import { version } from "../../lib/version.ts";
import { CliError, EXIT, openPiDb, parseFlags, printJson, requireServer, type ExitCode } from "../cli.ts";
import { loadConfig } from "../config.ts";
import { collectState, conflictHint, conflictLine, count, formatAge, formatTable, quarantineSample } from "../report.ts";
import { onShutdown } from "../shutdown.ts";

export const usage = `Usage: obd2-sync status [--db PATH] [--server URL] [--config FILE] [--json]

Shows the agent's version and, per mirrored table: the high-water mark
(append-only tables), rows not yet on the server (backlog), the age of the
oldest of them, rows in quarantine, when it last synced, and the last error.
Reads the database only. When a server is configured it also says whether
the server answers (GET /api/v1/ping); it needs no API key.
Exits 0 when nothing is waiting, 1 when something is (backlog or quarantine).`;

const SAMPLE = 20;

/** A time as status shows every time: how long ago. */
const ago = (iso: string | null, now: number) => {
  const at = iso === null ? NaN : Date.parse(iso);
  return Number.isNaN(at) ? null : `${formatAge(Math.max(0, Math.round((now - at) / 1000)))} ago`;
};

/** The server line: reachable, or why not (status reports it; it does not fail on it). */
async function serverCheck(serverUrl: string | undefined, timeoutMs: number): Promise<{ reachable: boolean; problem?: string } | undefined> {
  if (!serverUrl) return undefined;
  const shutdown = onShutdown(0);
  try {
    await requireServer({ command: "status", serverUrl, timeoutMs, shutdown });
    return { reachable: true };
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    return { reachable: false, problem: err.message };
  } finally {
    shutdown.dispose();
  }
}

export async function main(args: string[]): Promise<ExitCode> {
  const flags = parseFlags("status", args, {});
  const config = loadConfig(flags);
  const db = openPiDb(config.dbPath);
  try {
    const now = Date.now();
    const state = collectState(db, now);
    const sample = quarantineSample(db, state.tables.filter((t) => t.quarantined > 0).map((t) => t.table), SAMPLE);
    const waiting = state.tables.reduce((n, t) => n + t.backlog + t.quarantined, 0);
    const server = await serverCheck(config.serverUrl, config.pingTimeoutMs);
    const conflicted = state.tables.filter((t) => t.conflict);
    if (flags.json) {
      printJson({
        version,
        db: config.dbPath,
        server: config.serverUrl ?? null,
        serverReachable: server?.reachable ?? null,
        serverProblem: server?.problem ?? null,
        deviceId: config.deviceId ?? null,
        ...state,
        quarantine: sample.map(({ rowid, ...q }) => q),
      });
    } else {
      console.log(`obd2-sync ${version}  database ${config.dbPath}${config.deviceId ? `  device ${config.deviceId}` : ""}`);
      if (server) console.log(`Server: ${server.reachable ? `${config.serverUrl} answers` : server.problem}`);
      if (!state.initialised) console.log("No sync_log yet: nothing has been pushed from this database (push or init creates it).");
      console.log(
        formatTable(
          ["TABLE", "MARK", "BACKLOG", "OLDEST UNSYNCED", "QUARANTINED", "LAST SYNC", "LAST ERROR"],
          state.tables.map((t) => [
            t.table,
            t.mode === "append" ? t.mark : "(hashes)",
            t.backlog,
            t.oldestUnsyncedAgeSeconds === null ? "-" : `${formatAge(t.oldestUnsyncedAgeSeconds)} ago`,
            t.quarantined,
            ago(t.lastSyncedAt, now) ?? "never",
            t.lastError ?? "-",
          ]),
        ),
      );
      if (state.missing.length) console.log(`Not in this database (skipped): ${state.missing.join(", ")}`);
      if (state.skipped.length) console.log(`Not sent: ${state.skipped.map((s) => `${s.table} (${s.reason})`).join("; ")}`);
      if (conflicted.length) {
        const device = conflicted[0]!.conflict!.deviceId;
        console.log(`\nThe server refused these tables: it holds other rows under device ${device}, from a different Pi database (for example a new SD card):`);
        for (const t of conflicted) console.log(`  ${conflictLine(t.table, t.conflict!)} (since ${t.conflict!.at})`);
        console.log(`Try: ${conflictHint(device)}`);
      }
      if (sample.length) {
        console.log(`\nQuarantined rows (the server rejected them; fix and run \`obd2-sync push --retry-quarantined\`):`);
        for (const q of sample) console.log(`  ${q.table} ${q.key}: ${q.error}`);
      }
      console.log(waiting ? `\n${count(waiting)} ${waiting === 1 ? "row is" : "rows are"} not on the server yet.` : "\nEverything is on the server.");
    }
    return waiting || conflicted.length ? EXIT.unsynced : EXIT.ok;
  } finally {
    db.close();
  }
}
