/**
 * Finding drives inside /sync, cheaply: while a batch's rows are validated,
 * DriveTouches keeps a few facts per drive they belong to (the earliest time,
 * the latest reading, the readings' data_source), and recordDrives writes
 * them into `drives` in the batch's own transaction, with one multi-row upsert
 * and a few small statements. Nothing here reads realtime_data: the
 * summaries are the worker's job (lib/drives/summary.ts).
 *
 * Which drive a row belongs to:
 * - rows that carry a drive_id (current Pis): that drive;
 * - a connection_log drive_start without one (older Pis): a drive of its own,
 *   keyed -(its source_id); SQLite row ids start at 1, so the key is negative
 *   and never meets a Pi's drive ids, which count up from 1;
 * - readings and alerts without a drive_id: the latest such drive that
 *   started before them, unless its drive_end came first.
 *
 * Closing here: a drive_end closes its drive (with a drive_id, that drive;
 * without, the latest keyed drive that started before it, unless another
 * drive_end came between), and a drive that starts closes every earlier drive
 * of the device still open. The third rule, no reading for
 * DRIVE_IDLE_CLOSE_MINUTES, is the worker's.
 */
import type { PoolConnection } from "mariadb";
import type { TableName } from "../tables.ts";

/** How much of a drive's summary a row changes: 1 its alerts, DTCs and drive_summary facts; 2 its readings too. */
type Level = 1 | 2;

type Touch = { first: string; lastReading: string | undefined; level: Level; source: string | null | undefined };

/** A connection_log drive event as validated (times are DATETIME(6) text, which sorts as time). */
type DriveEvent = { sourceId: number; at: string; end: boolean; driveId: number | null };

const min = (a: string | undefined, b: string) => (a === undefined || b < a ? b : a);
const max = (a: string | undefined, b: string) => (a === undefined || b > a ? b : a);

/** One data_source for a set of rows: the shared value, "mixed" when they differ; undefined until a row says. */
function mergeSource(a: string | null | undefined, b: string | null | undefined): string | null | undefined {
  if (a === undefined || a === null) return b ?? a;
  if (b === undefined || b === null || a === b) return a;
  return "mixed";
}

/** What one batch's validated rows say about drives; fed a slice at a time, bounded by the batch. */
export class DriveTouches {
  readonly byDrive = new Map<number, Touch>();
  /** Rows without a drive_id (older Pis): their span, attributed by time in recordDrives. */
  loose: Touch & { last: string } = { first: "", last: "", lastReading: undefined, level: 1, source: undefined };
  readonly events: DriveEvent[] = [];

  private touch(driveId: unknown, at: unknown, level: Level, reading: boolean, source?: unknown): void {
    if (typeof at !== "string") return;
    const src = typeof source === "string" ? source : source === null ? null : undefined;
    if (typeof driveId !== "number") {
      const l = this.loose;
      l.first = l.first === "" ? at : min(l.first, at);
      l.last = max(l.last || undefined, at);
      if (reading) l.lastReading = max(l.lastReading, at);
      l.level = Math.max(l.level, level) as Level;
      l.source = mergeSource(l.source, src);
      return;
    }
    const t = this.byDrive.get(driveId);
    if (!t) {
      this.byDrive.set(driveId, { first: at, lastReading: reading ? at : undefined, level, source: src });
      return;
    }
    t.first = min(t.first, at);
    if (reading) t.lastReading = max(t.lastReading, at);
    if (level > t.level) t.level = level;
    t.source = mergeSource(t.source, src);
  }

  /** Takes note of a slice of validated rows of `table`. */
  see(table: TableName, rows: Record<string, unknown>[]): void {
    switch (table) {
      case "realtime_data":
        for (const r of rows) this.touch(r.drive_id, r.timestamp, 2, true, r.data_source);
        return;
      case "alert_log":
        for (const r of rows) this.touch(r.drive_id, r.timestamp, 1, false);
        return;
      case "dtc_log":
        for (const r of rows) this.touch(r.drive_id, r.first_seen_timestamp, 1, false);
        return;
      case "drive_summary":
        // Its key is the Pi's drive_id.
        for (const r of rows) this.touch(r.drive_id, r.drive_start_timestamp, 1, false, r.data_source);
        return;
      case "connection_log":
        for (const r of rows) {
          if ((r.event_type !== "drive_start" && r.event_type !== "drive_end") || typeof r.timestamp !== "string") continue;
          const driveId = typeof r.drive_id === "number" ? r.drive_id : null;
          const end = r.event_type === "drive_end";
          this.events.push({ sourceId: r.id as number, at: r.timestamp, end, driveId });
          // A start or an end moves the drive's window, so its readings are read again.
          if (driveId !== null) this.touch(driveId, r.timestamp, 2, false);
        }
        return;
      default:
    }
  }

  get empty(): boolean {
    return this.byDrive.size === 0 && this.loose.first === "" && this.events.length === 0;
  }
}

/** Key of a drive found from its connection_log drive_start alone (see the file's comment). */
const derivedDriveId = (startSourceId: number) => -startSourceId;

const UPSERT_HEAD =
  "INSERT INTO drives (source_device, drive_id, drive_start, last_reading_at, last_row_at, last_batch_id, data_source, version, summary_due) VALUES ";
// Assignments run left to right and each sees the columns assigned before it, so every column is assigned once, from its old value.
const UPSERT_TAIL = ` ON DUPLICATE KEY UPDATE
  drive_start = LEAST(drive_start, VALUES(drive_start)),
  last_reading_at = GREATEST(COALESCE(last_reading_at, VALUES(last_reading_at)), COALESCE(VALUES(last_reading_at), last_reading_at)),
  last_row_at = VALUES(last_row_at),
  last_batch_id = VALUES(last_batch_id),
  data_source = CASE WHEN VALUES(data_source) IS NULL OR VALUES(data_source) = data_source THEN data_source
                     WHEN data_source IS NULL THEN VALUES(data_source) ELSE 'mixed' END,
  version = version + 1,
  summary_due = GREATEST(summary_due, VALUES(summary_due))`;

/** Rows per multi-row upsert: 9 placeholders each. */
const UPSERT_ROWS = 500;

type Upsert = { driveId: number; first: string; lastReading: string | null; source: string | null; level: Level };

/**
 * Writes what `touches` saw into `drives`, in the sync's transaction (the
 * device's row lock is held, so no other batch of the device runs
 * meanwhile). Returns whether the batch had drive rows at all, and how many
 * drives its drive_ends and new drives closed.
 */
export async function recordDrives(conn: PoolConnection, deviceId: string, batchId: string, touches: DriveTouches, now: string): Promise<{ touched: boolean; closed: number }> {
  if (touches.empty) return { touched: false, closed: 0 };
  const upserts: Upsert[] = [...touches.byDrive].map(([driveId, t]) => ({ driveId, first: t.first, lastReading: t.lastReading ?? null, source: t.source ?? null, level: t.level }));
  for (const e of touches.events) {
    if (!e.end && e.driveId === null) upserts.push({ driveId: derivedDriveId(e.sourceId), first: e.at, lastReading: null, source: null, level: 2 });
  }
  await upsertDrives(conn, deviceId, batchId, upserts, now);
  let closed = await closeByDriveEnd(conn, deviceId, batchId, touches.events, now);
  if (touches.loose.first !== "") await touchByTime(conn, deviceId, batchId, touches.loose, now);
  if (upserts.length) closed += await closeByNextDrive(conn, deviceId, now);
  return { touched: true, closed };
}

async function upsertDrives(conn: PoolConnection, deviceId: string, batchId: string, upserts: Upsert[], now: string) {
  for (let i = 0; i < upserts.length; i += UPSERT_ROWS) {
    const chunk = upserts.slice(i, i + UPSERT_ROWS);
    await conn.query(
      UPSERT_HEAD + chunk.map(() => "(?, ?, ?, ?, ?, ?, ?, 1, ?)").join(", ") + UPSERT_TAIL,
      chunk.flatMap((u) => [deviceId, u.driveId, u.first, u.lastReading, now, batchId, u.source, u.level]),
    );
  }
}

const CLOSE_BY_END = `UPDATE drives SET closed_by = 'drive_end', drive_end = ?, closed_at = COALESCE(closed_at, ?),
  last_row_at = ?, last_batch_id = ?, version = version + 1, summary_due = 2 WHERE id = ?`;

/** Closes each drive_end's drive; an end whose drive is unknown, or already ended earlier, closes nothing. */
async function closeByDriveEnd(conn: PoolConnection, deviceId: string, batchId: string, events: DriveEvent[], now: string): Promise<number> {
  let closed = 0;
  for (const e of events.filter((x) => x.end).sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0))) {
    const [drive] = await conn.query(
      {
        sql:
          e.driveId === null
            ? "SELECT id, closed_by, drive_end FROM drives WHERE source_device = ? AND drive_id < 0 AND drive_start <= ? ORDER BY drive_start DESC LIMIT 1"
            : "SELECT id, closed_by, drive_end FROM drives WHERE source_device = ? AND drive_id = ?",
        dateStrings: true,
      },
      [deviceId, e.driveId ?? e.at],
    );
    if (!drive) continue;
    // Another drive_end already closed the drive that started before this one: this end's own start never arrived.
    if (drive.closed_by === "drive_end" && e.driveId === null && drive.drive_end < e.at) continue;
    await conn.query(CLOSE_BY_END, [e.at, now, now, batchId, drive.id]);
    // Counted even when a replay finds it closed already, so a replayed batch answers as the first did.
    closed++;
  }
  return closed;
}

/**
 * Rows without a drive_id: the keyed drives (drive_id < 0) whose time the
 * batch's span [first, last] reaches get the span's part before the next
 * such drive's start, and are marked for a new summary.
 */
async function touchByTime(conn: PoolConnection, deviceId: string, batchId: string, span: DriveTouches["loose"], now: string) {
  const drives: { id: bigint; drive_start: string; drive_end: string | null; closed_by: string | null }[] = await conn.query(
    {
      sql: `SELECT id, drive_start, drive_end, closed_by FROM drives WHERE source_device = ? AND drive_id < 0 AND drive_start <= ?
              AND drive_start >= COALESCE((SELECT MAX(drive_start) FROM drives WHERE source_device = ? AND drive_id < 0 AND drive_start <= ?), '1000-01-01')
            ORDER BY drive_start`,
      dateStrings: true,
    },
    [deviceId, span.last, deviceId, span.first],
  );
  for (let i = 0; i < drives.length; i++) {
    const d = drives[i]!;
    const next = drives[i + 1]?.drive_start;
    // Rows after a drive's own drive_end belong to no drive.
    const from = span.first > d.drive_start ? span.first : d.drive_start;
    if (d.closed_by === "drive_end" && d.drive_end !== null && d.drive_end < from) continue;
    const lastReading = span.lastReading === undefined ? null : next !== undefined && span.lastReading >= next ? next : span.lastReading;
    await conn.query(
      `UPDATE drives SET last_reading_at = GREATEST(COALESCE(last_reading_at, ?), COALESCE(?, last_reading_at)), last_row_at = ?, last_batch_id = ?,
         data_source = CASE WHEN ? IS NULL OR ? = data_source THEN data_source WHEN data_source IS NULL THEN ? ELSE 'mixed' END,
         version = version + 1, summary_due = GREATEST(summary_due, ?) WHERE id = ?`,
      [lastReading, lastReading, now, batchId, span.source ?? null, span.source ?? null, span.source ?? null, span.level, d.id],
    );
  }
}

/** A drive that starts closes every earlier drive of the device that is still open. */
async function closeByNextDrive(conn: PoolConnection, deviceId: string, now: string): Promise<number> {
  const [{ latest }] = await conn.query({ sql: "SELECT MAX(drive_start) AS latest FROM drives WHERE source_device = ?", dateStrings: true }, [deviceId]);
  const res = await conn.query(
    `UPDATE drives SET closed_by = 'next_drive', closed_at = ?, drive_end = COALESCE(last_reading_at, drive_start)
     WHERE source_device = ? AND closed_by IS NULL AND drive_start < ?`,
    [now, deviceId, latest],
  );
  return res.affectedRows;
}
