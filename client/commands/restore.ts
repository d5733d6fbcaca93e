/**
 * `obd2-sync restore`: verifies a downloaded database backup, moves its ids
 * past what the server already holds for this device (catch-up.ts), and
 * unpacks it into place. Nothing is written at --to until the unpacked file
 * has passed every check and been caught up; then it is renamed there in
 * one step.
 */
import { existsSync, statSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { gunzipFile, integrityProblem, moveIntoPlace, TempFiles } from "../backup.ts";
import { catchUpWithServer, idWarning, raiseDriveCounter, type CaughtUp } from "../catch-up.ts";
import { CliError, EXIT, haltError, parseFlags, printJson, requireServer, retryNotice, type ExitCode } from "../cli.ts";
import { loadApiKey, loadConfig, requireTarget, type AgentConfig } from "../config.ts";
import { count, formatTable } from "../report.ts";
import { onShutdown, Stopped, type ShutdownHandle } from "../shutdown.ts";
import { openDb } from "../sqlite.ts";
import { ServerRefused, SyncClient, type TransportOptions } from "../transport.ts";

export const usage = `Usage: obd2-sync restore --from FILE.db.gz --to PATH [--sha256 HEX] [--force] [--json]
                         [--server URL] [--device-id ID] [--config FILE]
       obd2-sync restore --offline --from FILE.db.gz --to PATH [--sha256 HEX] [--force] [--json]

Unpacks a database backup (a .db.gz from the server's BACKUP_DIR) into a temp
file next to --to and checks it (a whole gzip file; its sha256 when --sha256
is given; PRAGMA integrity_check). Then it asks the server which ids it holds
for this device and raises the file's AUTOINCREMENT counters and sync marks
past them, so the logger cannot reuse the ids of rows pushed after the backup
was taken (their next push would overwrite those rows on the server). Only
then is the file renamed to --to. The server, device id and API key come
from the same flags, config file and COMPANION_API_KEY as push.

  --sha256 HEX  the backup's sha256 as GET /api/v1/backups lists it
  --force       replace an existing --to (stop the logger first)
  --offline     restore without asking the server; it prints what to do
                before the next push
  --json        print the result as JSON

Exit codes: 0 restored, 1 the backup failed a check or the server could not
be reached (nothing was written), 2 usage or configuration error (including
an existing --to without --force, no server or device id configured, and a
key or an answer the server refuses; nothing was written).`;

const RISK = "without the ids the server holds for this device, the restored database could hand them out again and its next push would overwrite those rows on the server";

type Server = { config: AgentConfig; serverUrl: string; deviceId: string; apiKey: string };

/** The server to ask, from push's settings; missing settings are a usage error that says why restore needs them. */
function serverFor(config: AgentConfig): Server {
  try {
    return { config, ...requireTarget(config), apiKey: loadApiKey(config) };
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    throw new CliError(`${err.message}; ${RISK}`, `${err.hint}; or pass --offline to restore without the server`, err.exitCode);
  }
}

/** A refusal from the server, saying what restore did not do and that --offline would. */
const notRestored = (refused: CliError, to: string) =>
  new CliError(`${refused.message}; ${RISK}, so nothing was written to ${to}`, `${refused.hint}; or pass --offline to restore without the server`, refused.exitCode);

/** The first look at the server, before the unpacking: one that does not answer refuses the restore at once. */
async function probe(server: Server, to: string, shutdown: ShutdownHandle) {
  await requireServer({ command: "restore", serverUrl: server.serverUrl, timeoutMs: server.config.pingTimeoutMs, shutdown }).catch((err) => {
    throw err instanceof CliError && !shutdown.stop.aborted ? notRestored(err, to) : err;
  });
}

/** Asks the server what it holds for the device and catches the unpacked file up with it; a refusal says what was not done. */
async function catchUp(server: Server, unpacked: string, to: string, shutdown: ShutdownHandle, onRetry: TransportOptions["onRetry"]) {
  const { config, serverUrl, deviceId, apiKey } = server;
  const client = new SyncClient({ serverUrl, apiKey, requestTimeoutMs: config.requestTimeoutMs, retries: config.retries, retryBaseMs: config.retryBaseMs, shutdown, onRetry });
  const state = await client.syncState(deviceId).catch((err) => {
    const halted = haltError(err, { command: "restore", serverUrl, signal: shutdown.signal, stopped: `nothing was written to ${to}` });
    if (err instanceof Stopped) throw halted ?? err;
    const refused = halted ?? (err instanceof ServerRefused ? new CliError(`server ${serverUrl}: ${err.message}`, "update OBD2-Server: restore needs its GET /api/v1/sync/state", EXIT.usage) : undefined);
    if (!refused) throw err;
    throw notRestored(refused, to);
  });
  const db = openDb(unpacked);
  try {
    return { lastDriveId: state.lastDriveId, tables: catchUpWithServer(db, state), driveCounter: raiseDriveCounter(db, state) };
  } finally {
    db.close();
  }
}

const shellWord = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`);

function offlineWarning(from: string, to: string, sha256?: string): string {
  return [
    "restored without asking the server (--offline). If this Pi pushed rows after the backup was taken, the restored database will hand out their ids again, and the next push will overwrite those rows on the server.",
    "Before the logger or obd2-sync start, once the server is reachable, restore again without --offline:",
    `  obd2-sync restore --from ${shellWord(from)} --to ${shellWord(to)}${sha256 ? ` --sha256 ${sha256}` : ""} --force`,
    'or raise the ids by hand (docs/backups.md, "Restoring offline").',
  ].join("\n");
}

const id = (n: number | null) => (n === null ? "-" : count(n));
const change = (before: number | null, after: number | null) => (before === after ? id(after) : `${id(before)} -> ${id(after)}`);

export async function main(args: string[]): Promise<ExitCode> {
  const flags = parseFlags("restore", args, {
    from: { type: "string" },
    to: { type: "string" },
    sha256: { type: "string" },
    force: { type: "boolean" },
    offline: { type: "boolean" },
  });
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
  // Settings are checked before the (possibly long) unpacking, so a missing one fails at once.
  const server = flags.offline ? undefined : serverFor(loadConfig(flags));

  const temp = new TempFiles(dirname(to), `${basename(to)}.obd2-restore-`);
  temp.sweep();
  const shutdown = onShutdown();
  try {
    if (server) await probe(server, to, shutdown);
    const unpacked = temp.path(".db");
    const refused = (why: string) => new CliError(`${from}: ${why}; nothing was written to ${to}`, "fetch the backup again, or restore an older one", EXIT.unsynced);
    const digest = await gunzipFile(from, unpacked, shutdown.stop).catch((err) => {
      if (err instanceof Stopped) throw haltError(err, { command: "restore", signal: shutdown.signal, stopped: `nothing was written to ${to}` }) ?? err;
      throw refused(`not a valid gzip file (${(err as Error).message})`);
    });
    if (expected && digest.sha256 !== expected) throw refused(`sha256 mismatch: expected ${expected}, the file has ${digest.sha256}`);
    const problem = integrityProblem(unpacked);
    if (problem) throw refused(`the unpacked database failed PRAGMA integrity_check (${problem})`);
    const caught = server ? await catchUp(server, unpacked, to, shutdown, retryNotice(flags.json)) : undefined;
    moveIntoPlace(unpacked, to);

    const tables: CaughtUp[] = caught?.tables ?? [];
    const driveCounter = caught?.driveCounter;
    const warnings = server ? tables.map((t) => idWarning(t, driveCounter?.after)).filter((w) => w !== undefined) : [offlineWarning(from, to, expected)];
    if (flags.json) {
      const asked = server ? { url: server.serverUrl, deviceId: server.deviceId, lastDriveId: caught?.lastDriveId ?? null } : null;
      printJson({ ok: true, from, to, sha256: digest.sha256, sizeBytes: digest.unpackedBytes, server: asked, tables, driveCounter: driveCounter ?? null, warnings });
      return EXIT.ok;
    }
    console.log(`Restored ${from} to ${to} (${(digest.unpackedBytes / 1e6).toFixed(1)} MB, integrity ok, sha256 of the backup ${digest.sha256})`);
    if (server) {
      const moved = tables.some((t) => t.nextIdAfter !== t.nextIdBefore || t.markAfter !== t.markBefore);
      console.log(moved ? `Moved its ids past what ${server.serverUrl} holds for ${server.deviceId}:` : `${server.serverUrl} holds no ids of ${server.deviceId} above the backup's; nothing to move:`);
      console.log(formatTable(["TABLE", "SERVER MAX ID", "NEXT ID", "MARK"], tables.map((t) => [t.table, t.serverMaxId ?? "none", change(t.nextIdBefore, t.nextIdAfter), change(t.markBefore, t.markAfter)])));
      if (driveCounter) console.log(`drive_counter: last drive id ${change(driveCounter.before, driveCounter.after)}`);
    }
    for (const w of warnings) console.error(`Warning: ${w}`);
    return EXIT.ok;
  } finally {
    temp.remove();
    shutdown.dispose();
  }
}
