/**
 * `obd2-sync analyze --last-drive`: finds the Pi's last completed drive in
 * its connection_log, asks the server to analyse it (POST /api/v1/analyze),
 * and prints the model's ranked recommendations and the rule-based findings.
 * The server analyses the rows it holds, so it also says when readings of
 * that drive have not been pushed yet.
 */
import type { Recommendation } from "../../lib/analysis/analyze.ts";
import type { Finding } from "../../lib/analysis/findings.ts";
import { fromSqlDatetime, toSqlDatetime } from "../../lib/time.ts";
import { CliError, EXIT, haltError, openPiDb, parseFlags, printJson, requireServer, type ExitCode } from "../cli.ts";
import { loadApiKey, loadConfig, requireTarget } from "../config.ts";
import { count, formatAge } from "../report.ts";
import { onShutdown } from "../shutdown.ts";
import type { SqliteDb } from "../sqlite.ts";
import { hasTable, readMarks } from "../store.ts";
import { SyncClient, Unreachable } from "../transport.ts";

const DEFAULT_TIMEOUT_SECONDS = 180;

export const usage = `Usage: obd2-sync analyze --last-drive [--focus AREA,AREA] [--timeout SECONDS] [--json]
                         [--db PATH] [--server URL] [--device-id ID] [--config FILE]

Finds the last completed drive in the Pi's connection_log (the latest
drive_end and the drive_start before it) and asks the server to analyse its
readings (POST /api/v1/analyze). Prints the drive, the model's
recommendations in rank order, and the rule-based findings. The server
analyses the rows it holds: push first. The server, device id and API key
come from the same flags, config file and COMPANION_API_KEY as push.

  --last-drive       analyse the last completed drive (required)
  --focus LIST       comma-separated areas for the model to focus on, e.g. fuel,cooling
  --timeout SECONDS  how long to wait for the analysis (default ${DEFAULT_TIMEOUT_SECONDS}; the server
                     gives up after its ANALYSIS_TIMEOUT_SECONDS, 120 by default)
  --json             print the server's answer as JSON

Exit codes: 0 analysed, 1 not analysed (no readings of the drive on the
server, Ollama unavailable or failing, timed out, the server unreachable),
2 usage or configuration error (including no completed drive in the
database and a key the server refuses).`;

/** A drive as the Pi logged it: its window, in the Pi's own text and as UTC DATETIME(6) text. */
export type Drive = { startText: string; endText: string; start: string; end: string };

/**
 * A Pi datetime column in one form that sorts as text: the Pi writes
 * `… HH:MM:SS.ffffff`, `… HH:MM:SS` and `…THH:MM:SSZ` side by side.
 */
const sortable = (column: string) => `substr(replace(replace(${column}, 'T', ' '), 'Z', '') || '.000000', 1, 26)`;
const IS_DATETIME = "GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9][T ][0-9][0-9]:[0-9][0-9]:[0-9][0-9]*'";

const noDrive = (why: string) => new CliError(`no completed drive to analyse: ${why}`, "drive first (the logger writes drive_start and drive_end to connection_log), or pass --db with the Pi's database", EXIT.usage);

/**
 * The last completed drive: the latest drive_end, paired with the latest
 * drive_start at or before it, as long as no other drive_end lies between
 * them (the rule the server's auto-analysis queue uses).
 */
export function lastDrive(db: SqliteDb): Drive {
  if (!hasTable(db, "connection_log")) throw noDrive("this database has no connection_log");
  const latest = (type: string, where = "") =>
    db.prepare(`SELECT timestamp AS at FROM connection_log WHERE event_type = ? AND timestamp ${IS_DATETIME} ${where} ORDER BY ${sortable("timestamp")} DESC LIMIT 1`);
  const endText = latest("drive_end").get("drive_end")?.at;
  if (typeof endText !== "string") throw noDrive("connection_log has no drive_end");
  const end = toSqlDatetime(endText);
  if (!end) throw noDrive(`the last drive_end has an unreadable timestamp ${JSON.stringify(endText)}`);
  const startText = latest("drive_start", `AND ${sortable("timestamp")} <= ?`).get("drive_start", end)?.at;
  const start = typeof startText === "string" ? toSqlDatetime(startText) : undefined;
  if (!start) throw noDrive(`the last drive_end (${endText}) has no drive_start before it`);
  const between = db
    .prepare(`SELECT timestamp AS at FROM connection_log WHERE event_type = 'drive_end' AND timestamp ${IS_DATETIME} AND ${sortable("timestamp")} > ? AND ${sortable("timestamp")} < ? LIMIT 1`)
    .get(start, end);
  if (between) throw noDrive(`the last drive_end (${endText}) has no drive_start after the drive_end before it (${between.at})`);
  return { startText: startText as string, endText, start, end };
}

/** What the Pi holds of the drive's readings: how many, how many are not pushed yet, and its most common profile. */
export function driveReadings(db: SqliteDb, drive: Drive): { readings: number; unsent: number; profileId?: string } {
  if (!hasTable(db, "realtime_data")) return { readings: 0, unsent: 0 };
  const mark = readMarks(db).get("realtime_data")?.lastSyncedId ?? 0;
  // The plain range on the raw text lets the timestamp index narrow the scan to the drive's days, whatever form each row uses.
  const nextDay = new Date(Date.parse(`${drive.end.slice(0, 10)}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
  const window = `timestamp >= ? AND timestamp < ? AND ${sortable("timestamp")} BETWEEN ? AND ?`;
  const params = [drive.start.slice(0, 10), nextDay, drive.start, drive.end];
  const counted = db.prepare(`SELECT count(*) AS n, coalesce(sum(id > ?), 0) AS unsent FROM realtime_data WHERE ${window}`).get(mark, ...params)!;
  const hasProfile = db.prepare("SELECT 1 FROM pragma_table_info('realtime_data') WHERE name = 'profile_id'").get() !== undefined;
  const profile = hasProfile
    ? db.prepare(`SELECT profile_id AS p, count(*) AS n FROM realtime_data WHERE ${window} AND profile_id IS NOT NULL GROUP BY profile_id ORDER BY n DESC, p LIMIT 1`).get(...params)?.p
    : undefined;
  return { readings: Number(counted.n), unsent: Number(counted.unsent), profileId: profile === undefined || profile === null ? undefined : String(profile) };
}

/** The wire form of a Pi time: the Pi's own text with "T" (ISO 8601; the server takes a time without a zone as UTC, as the Pi means it). */
const wireTime = (text: string) => text.replace(" ", "T");

function printFindings(findings: Finding[]) {
  if (!findings.length) return console.log("Findings: none; every rule-based check passed.");
  console.log("Findings:");
  for (const f of findings) console.log(`  [${f.severity}] ${f.parameter}: ${f.message}`);
}

const listOf = <T>(v: unknown): T[] => (Array.isArray(v) ? (v as T[]) : []);

/** Why the server did not analyse the drive, and what to try: exit 1 when the server or its model failed, 2 when it refused the request. */
function failure(status: number, body: Record<string, unknown>): CliError {
  const detail = typeof body.detail === "string" ? body.detail : `HTTP ${status}`;
  const failed = (why: string, hint: string) => new CliError(why, hint, EXIT.unsynced);
  const refused = (why: string, hint = "update obd2-sync and OBD2-Server to matching versions") => new CliError(why, hint, EXIT.usage);
  if (status === 503) {
    return failed(`the server could not reach Ollama at ${body.ollamaUrl ?? "its OLLAMA_BASE_URL"} (model ${body.model ?? "unknown"}), so there are no recommendations`, "start Ollama on the server (`systemctl start ollama`), then run analyze again");
  }
  if (status === 502) return failed(`Ollama failed: ${body.ollamaError ?? detail}`, "check the model on the server (`ollama list`, the server's OLLAMA_MODEL), then run analyze again");
  if (status === 504) return failed(`the server stopped the analysis: ${detail}`, "raise ANALYSIS_TIMEOUT_SECONDS on the server or use a smaller OLLAMA_MODEL");
  if (status >= 500) return failed(`POST /api/v1/analyze answered ${status} (${detail})`, "see the server's log, then run analyze again");
  const problems = listOf<{ path?: string; message?: string }>(body.errors).map((p) => `${p.path}: ${p.message}`);
  return refused(`the server refused the request (${status}): ${[detail, ...problems].join("; ")}`);
}

function parseTimeout(text: string | undefined): number {
  if (text === undefined) return DEFAULT_TIMEOUT_SECONDS;
  const seconds = Number(text);
  if (text.trim() === "" || !Number.isFinite(seconds) || seconds <= 0 || seconds > 3600) {
    throw new CliError(`--timeout must be a number of seconds from 0 to 3600 (got ${JSON.stringify(text)})`, "obd2-sync analyze --last-drive --timeout 300");
  }
  return seconds;
}

export async function main(args: string[]): Promise<ExitCode> {
  const flags = parseFlags("analyze", args, { "last-drive": { type: "boolean" }, focus: { type: "string" }, timeout: { type: "string" } });
  if (!flags["last-drive"]) throw new CliError("analyze needs --last-drive (the only drive it can pick for now)", "obd2-sync analyze --last-drive");
  const focusAreas = flags.focus?.split(",").map((s) => s.trim()).filter(Boolean);
  if (focusAreas && !focusAreas.length) throw new CliError("--focus needs at least one area", "obd2-sync analyze --last-drive --focus fuel,cooling");
  const timeoutSeconds = parseTimeout(flags.timeout);
  const config = loadConfig(flags);
  const target = requireTarget(config);
  const apiKey = loadApiKey(config);

  const db = openPiDb(config.dbPath);
  let drive: Drive;
  let local: ReturnType<typeof driveReadings>;
  try {
    drive = lastDrive(db);
    local = driveReadings(db, drive);
  } finally {
    db.close();
  }

  const payload = {
    deviceId: target.deviceId,
    ...(local.profileId === undefined ? {} : { profileId: local.profileId }),
    driveStartTime: wireTime(drive.startText),
    driveEndTime: wireTime(drive.endText),
    ...(focusAreas ? { focusAreas } : {}),
  };
  // Ctrl-C abandons the request at once: an analysis records nothing on the Pi.
  const shutdown = onShutdown(0);
  let answer: Awaited<ReturnType<SyncClient["analyze"]>>;
  let timeout: AbortSignal | undefined;
  try {
    await requireServer({ command: "analyze --last-drive", serverUrl: target.serverUrl, timeoutMs: config.pingTimeoutMs, shutdown });
    timeout = AbortSignal.timeout(timeoutSeconds * 1000);
    const client = new SyncClient({ ...target, apiKey, requestTimeoutMs: timeoutSeconds * 1000, retries: 0, retryBaseMs: 0, shutdown });
    answer = await client.analyze(payload, timeout);
  } catch (err) {
    if (err instanceof Unreachable && timeout?.aborted) {
      throw new CliError(`server ${target.serverUrl}: no analysis within ${timeoutSeconds} s`, `pass a longer --timeout; the server gives up after its ANALYSIS_TIMEOUT_SECONDS`, EXIT.unsynced);
    }
    throw haltError(err, { command: "analyze --last-drive", serverUrl: target.serverUrl, signal: shutdown.signal, stopped: "the server may still finish the analysis" }) ?? err;
  } finally {
    shutdown.dispose();
  }

  const { status, body } = answer;
  const failed = status === 200 ? undefined : failure(status, body);
  const empty = status === 200 && !("analysisId" in body);
  const onPiOnly = `${count(local.unsent)} of the drive's ${count(local.readings)} readings are on the Pi only`;

  if (flags.json) printJson(body);
  else {
    const seconds = Math.round((fromSqlDatetime(drive.end).getTime() - fromSqlDatetime(drive.start).getTime()) / 1000);
    console.log(`Drive ${drive.start.slice(0, 19)} to ${drive.end.slice(0, 19)} UTC (${formatAge(seconds)}), device ${target.deviceId}${local.profileId ? `, profile ${local.profileId}` : ""}`);
    if (empty) console.log(String(body.message ?? "No drive data found for the specified time window"));
    if (status === 200 && !empty) {
      const recommendations = listOf<Recommendation>(body.recommendations).toSorted((a, b) => a.rank - b.rank);
      const took = typeof body.processingTimeMs === "number" ? `, ${(body.processingTimeMs / 1000).toFixed(1)} s` : "";
      console.log(recommendations.length ? `Recommendations (${body.model}${took}):` : `Recommendations: none from ${body.model}${took}.`);
      for (const r of recommendations) console.log(`  ${r.rank}. [${r.category}] ${r.recommendation} (confidence ${Number(r.confidence).toFixed(2)})`);
    }
    // A failed analysis still carries the rule-based findings, which need no model.
    if (!empty && Array.isArray(body.findings)) printFindings(body.findings as Finding[]);
  }
  if (failed) throw failed;
  if (empty) {
    if (local.unsent > 0) throw new CliError(`the server holds no readings of this drive; ${onPiOnly}`, "run `obd2-sync push` first, then analyze again", EXIT.unsynced);
    if (local.readings > 0) {
      throw new CliError(
        `the server holds no readings of this drive, although this database has pushed all ${count(local.readings)} of them`,
        `check that --device-id is the id they were pushed as (the server keeps rows per device)`,
        EXIT.unsynced,
      );
    }
    throw new CliError("the server holds no readings of this drive, and the Pi has none between its drive_start and drive_end either", "nothing to analyse: the logger recorded no readings during that drive", EXIT.unsynced);
  }
  if (local.unsent > 0) console.error(`Warning: the analysis may lack readings: ${onPiOnly}; run \`obd2-sync push\`, then analyze again.`);
  return EXIT.ok;
}
