/** `obd2-sync status`: per table, the mark, backlog, oldest unsynced row, quarantine and last error. Reads only. */
import { EXIT, openPiDb, parseFlags, printJson, type ExitCode } from "../cli.ts";
import { loadConfig } from "../config.ts";
import { collectState, conflictHint, conflictLine, count, formatAge, formatTable, quarantineSample } from "../report.ts";

export const usage = `Usage: obd2-sync status [--db PATH] [--config FILE] [--json]

Shows, per mirrored table: the high-water mark (append-only tables), rows not
yet on the server (backlog), the age of the oldest of them, rows in
quarantine, and the last error. Reads the database only; needs no server.
Exits 0 when nothing is waiting, 1 when something is (backlog or quarantine).`;

const SAMPLE = 20;

export async function main(args: string[]): Promise<ExitCode> {
  const flags = parseFlags("status", args, {});
  const config = loadConfig(flags);
  const db = openPiDb(config.dbPath);
  try {
    const state = collectState(db);
    const sample = quarantineSample(db, state.tables.filter((t) => t.quarantined > 0).map((t) => t.table), SAMPLE);
    const waiting = state.tables.reduce((n, t) => n + t.backlog + t.quarantined, 0);
    const conflicted = state.tables.filter((t) => t.conflict);
    if (flags.json) {
      printJson({ db: config.dbPath, server: config.serverUrl ?? null, deviceId: config.deviceId ?? null, ...state, quarantine: sample.map(({ rowid, ...q }) => q) });
    } else {
      console.log(`Database ${config.dbPath}${config.deviceId ? `  device ${config.deviceId}` : ""}${config.serverUrl ? `  server ${config.serverUrl}` : ""}`);
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
            t.lastSyncedAt ?? "never",
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
      console.log(waiting ? `\n${count(waiting)} rows not on the server yet.` : "\nEverything is on the server.");
    }
    return waiting || conflicted.length ? EXIT.unsynced : EXIT.ok;
  } finally {
    db.close();
  }
}
