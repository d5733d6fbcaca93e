/**
 * The trouble codes of a drive: dtc_log rows stored or pending during it
 * (its drive_id, or a first-to-last-seen span that overlaps its window),
 * whether each is new or came back, what it means (dtc-codes.ts) and the
 * freeze frame the Pi read when it set, cited in a finding.
 */
import type { Pool } from "mariadb";
import { dtcDescription } from "./dtc-codes.ts";
import type { Finding } from "./findings.ts";
import { sqlTimestamp } from "../time.ts";

export type DriveDtc = {
  code: string;
  /** As the Pi last reported it: stored or pending. */
  status: string;
  description: string | null;
  firstSeen: string;
  lastSeen: string;
  /** Seen before this drive: the row's code was first seen earlier, or an earlier row of the same code exists (cleared since). */
  recurring: boolean;
  /** The PIDs the ECU froze when the code set (Mode 02), when the Pi could read them. */
  freezeFrame?: Record<string, number | string>;
};

/** Enough for any real drive; a Pi reporting more in one drive gets its first ones. */
const MAX_DTCS = 50;

/** dtc_log's DATETIME(6) text as ISO 8601 UTC. */
const iso = (sql: string) => `${sql.slice(0, 10)}T${sql.slice(11)}Z`;

const parsed = (v: unknown) => (typeof v === "string" ? JSON.parse(v) : v);

/** The drive's codes, in the order they were first seen. `driveId` is the Pi's drive id, when the drive has one. */
export async function readDtcs(pool: Pool, q: { deviceId: string; start: Date; end: Date; driveId?: number | bigint | null }): Promise<DriveDtc[]> {
  const [start, end] = [sqlTimestamp(q.start), sqlTimestamp(q.end)];
  const rows: { source_id: bigint; dtc_code: string; status: string; description: string | null; first_seen: string; last_seen: string }[] = await pool.query(
    {
      sql: `SELECT source_id, dtc_code, status, description, first_seen_timestamp AS first_seen, last_seen_timestamp AS last_seen FROM dtc_log
            WHERE source_device = ? AND status IN ('stored', 'pending')
              AND (drive_id = ? OR (first_seen_timestamp <= ? AND last_seen_timestamp >= ?))
            ORDER BY first_seen_timestamp, source_id LIMIT ${MAX_DTCS}`,
      dateStrings: true,
    },
    [q.deviceId, q.driveId ?? null, end, start],
  );
  if (rows.length === 0) return [];
  const codes = [...new Set(rows.map((r) => r.dtc_code))];
  const earlier: { dtc_code: string }[] = await pool.query(
    `SELECT DISTINCT dtc_code FROM dtc_log WHERE source_device = ? AND dtc_code IN (${codes.map(() => "?").join(", ")}) AND first_seen_timestamp < ?`,
    [q.deviceId, ...codes, start],
  );
  const before = new Set(earlier.map((r) => r.dtc_code));
  const frames: { dtc_log_id: bigint; pid_responses_json: unknown }[] = await pool.query(
    `SELECT dtc_log_id, pid_responses_json FROM dtc_freeze_frame WHERE source_device = ? AND dtc_log_id IN (${rows.map(() => "?").join(", ")})
     ORDER BY captured_at_timestamp_utc`,
    [q.deviceId, ...rows.map((r) => r.source_id)],
  );
  const frameOf = new Map<string, Record<string, number | string>>();
  for (const f of frames) {
    const pids = parsed(f.pid_responses_json);
    // A degraded frame ("{}": the ECU answered nothing) says nothing; the first real one is the moment the code set.
    if (pids && typeof pids === "object" && !Array.isArray(pids) && Object.keys(pids).length && !frameOf.has(String(f.dtc_log_id))) {
      frameOf.set(String(f.dtc_log_id), pids);
    }
  }
  return rows.map((r) => {
    const frame = frameOf.get(String(r.source_id));
    return {
      code: r.dtc_code,
      status: r.status,
      description: dtcDescription(r.dtc_code, r.description),
      firstSeen: iso(r.first_seen),
      lastSeen: iso(r.last_seen),
      recurring: r.first_seen < start || before.has(r.dtc_code),
      ...(frame ? { freezeFrame: frame } : {}),
    };
  });
}

/** The freeze-frame PIDs a finding names first: what the engine was doing when the code set. */
const CITED = ["RPM", "SPEED", "COOLANT_TEMP", "ENGINE_LOAD", "SHORT_FUEL_TRIM_1", "LONG_FUEL_TRIM_1", "INTAKE_PRESSURE", "MAF", "INTAKE_TEMP", "THROTTLE_POS"];
const CITED_IN_MESSAGE = 6;

const numberText = (v: number) => String(Number(v.toPrecision(4)));

/** The freeze frame's numeric PIDs, the engine's state first, at most `limit`. */
export function framePids(frame: Record<string, number | string>, limit: number): [string, number][] {
  const numeric = Object.entries(frame).filter((e): e is [string, number] => typeof e[1] === "number" && Number.isFinite(e[1]));
  const rank = (name: string) => (CITED.includes(name) ? CITED.indexOf(name) : CITED.length);
  return numeric.sort((a, b) => rank(a[0]) - rank(b[0])).slice(0, limit);
}

/** One finding per code; a stored code is a warning, a pending one (seen once, not yet confirmed) information. */
export function dtcFindings(dtcs: DriveDtc[]): Finding[] {
  return dtcs.map((d) => {
    const pids = d.freezeFrame ? framePids(d.freezeFrame, 16) : [];
    const frame = pids.length
      ? `; freeze frame ${pids.slice(0, CITED_IN_MESSAGE).map(([name, v]) => `${name} ${numberText(v)}`).join(", ")}`
      : "; no freeze frame";
    const history = d.recurring ? `recurring (first seen ${d.firstSeen.slice(0, 16).replace("T", " ")} UTC)` : "new this drive";
    return {
      code: "dtc",
      severity: d.status === "stored" ? "warning" : "info",
      parameter: d.code,
      message: `${d.code} ${d.description ?? "(no description known)"}: ${d.status}, ${history}${frame}`,
      evidence: Object.fromEntries(pids),
    };
  });
}
