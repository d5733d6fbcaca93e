/**
 * `obd2-sync restore`: verifies a downloaded database backup and unpacks it
 * into place. Nothing is written at --to until the unpacked file has passed
 * every check; then it is renamed there in one step.
 */
import { existsSync, statSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { gunzipFile, integrityProblem, moveIntoPlace, TempFiles } from "../backup.ts";
import { CliError, EXIT, parseFlags, printJson, type ExitCode } from "../cli.ts";
import { onShutdown, Stopped } from "../shutdown.ts";

export const usage = `Usage: obd2-sync restore --from FILE.db.gz --to PATH [--sha256 HEX] [--force] [--json]

Unpacks a database backup (a .db.gz from the server's BACKUP_DIR) into a temp
file next to --to, checks it (a whole gzip file; its sha256 when --sha256 is
given; PRAGMA integrity_check), then renames it to --to. Needs no server.

  --sha256 HEX  the backup's sha256 as GET /api/v1/backups lists it
  --force       replace an existing --to (stop the logger first)
  --json        print the result as JSON

Exit codes: 0 restored, 1 the backup failed a check (nothing was written),
2 usage error (including an existing --to without --force).`;

export async function main(args: string[]): Promise<ExitCode> {
  const flags = parseFlags("restore", args, { from: { type: "string" }, to: { type: "string" }, sha256: { type: "string" }, force: { type: "boolean" } });
  if (!flags.from || !flags.to) throw new CliError("restore needs --from and --to", "obd2-sync restore --from obd-2026-11-22T10-00-00-000.db.gz --to ./data/obd.db");
  const from = resolve(flags.from);
  const to = resolve(flags.to);
  const expected = flags.sha256?.toLowerCase();
  if (expected !== undefined && !/^[0-9a-f]{64}$/.test(expected)) throw new CliError(`--sha256 must be 64 hex digits (got ${JSON.stringify(flags.sha256)})`, "copy the sha256 GET /api/v1/backups lists");
  if (!existsSync(from) || !statSync(from).isFile()) throw new CliError(`backup not found: ${from}`, "copy the .db.gz from the server first (see docs/backups.md)");
  if (!existsSync(dirname(to))) throw new CliError(`directory not found: ${dirname(to)}`, "create it, or pass --to in an existing directory");
  if (existsSync(to) && !flags.force) throw new CliError(`${to} exists; refusing to overwrite it`, "stop the logger and pass --force to replace it, or choose another --to");
  // A -wal left beside the old file would be replayed into the new one: it means the old one is open or was not closed cleanly.
  if (existsSync(`${to}-wal`) && statSync(`${to}-wal`).size > 0) {
    throw new CliError(`${to}-wal exists: a program may still have ${to} open`, `stop the logger and obd2-sync; if nothing uses it, move ${to}-wal away (it belongs to the old database)`);
  }

  const temp = new TempFiles(dirname(to), `${basename(to)}.obd2-restore-`);
  temp.sweep();
  const shutdown = onShutdown();
  try {
    const unpacked = temp.path(".db");
    const refused = (why: string) => new CliError(`${from}: ${why}; nothing was written to ${to}`, "fetch the backup again, or restore an older one", EXIT.unsynced);
    const digest = await gunzipFile(from, unpacked, shutdown.stop).catch((err) => {
      if (err instanceof Stopped) throw new CliError(`stopped by ${shutdown.signal ?? "a signal"}; nothing was written to ${to}`, "run `obd2-sync restore` again", EXIT.unsynced);
      throw refused(`not a valid gzip file (${(err as Error).message})`);
    });
    if (expected && digest.sha256 !== expected) throw refused(`sha256 mismatch: expected ${expected}, the file has ${digest.sha256}`);
    const problem = integrityProblem(unpacked);
    if (problem) throw refused(`the unpacked database failed PRAGMA integrity_check (${problem})`);
    moveIntoPlace(unpacked, to);
    const result = { ok: true, from, to, sha256: digest.sha256, sizeBytes: digest.unpackedBytes };
    if (flags.json) printJson(result);
    else console.log(`Restored ${from} to ${to} (${(digest.unpackedBytes / 1e6).toFixed(1)} MB, integrity ok, sha256 of the backup ${digest.sha256})`);
    return EXIT.ok;
  } finally {
    temp.remove();
    shutdown.dispose();
  }
}
