/**
 * The durable auto-analysis queue (table analysis_jobs). /sync enqueues a
 * drive inside the batch's own transaction, so a job exists exactly when the
 * batch that completed the drive committed. Workers (lib/analysis/worker.ts)
 * claim due jobs with SELECT ... FOR UPDATE SKIP LOCKED, so several server
 * processes can share one database without running a job twice.
 */
import type { Pool, PoolConnection } from "mariadb";
import { fromSqlDatetime, sqlTimestamp, toSqlDatetime } from "../time.ts";

/** A DATETIME(6) column as text, for fromSqlDatetime. */
const asText = (column: string) => `DATE_FORMAT(${column}, '%Y-%m-%d %H:%i:%s.%f')`;

export type DriveWindowSql = { start: string; end: string };

/**
 * The drives a batch completed: each of its drive_end events, paired with
 * the latest drive_start before it on the server (from this batch or an
 * earlier one), as long as no other drive_end lies between them. A drive_end
 * whose start never arrived completes nothing.
 */
export async function completedDrives(conn: PoolConnection, deviceId: string, connectionLog: unknown[]): Promise<DriveWindowSql[]> {
  const ends = new Set<string>();
  for (const row of connectionLog as { event_type?: unknown; timestamp?: unknown }[]) {
    if (row?.event_type !== "drive_end" || typeof row.timestamp !== "string") continue;
    const at = toSqlDatetime(row.timestamp);
    if (at) ends.add(at);
  }
  if (ends.size === 0) return [];
  // The fixed-width format sorts as text.
  const sorted = [...ends].sort();
  const first = sorted[0]!;
  const last = sorted.at(-1)!;
  // Every drive event from the start that precedes the first end up to the last end, in time order
  // (at equal times an end sorts before a start, closing the drive before it).
  const events: { event_type: string; at: string }[] = await conn.query(
    `SELECT event_type, ${asText("timestamp")} AS at FROM connection_log
     WHERE source_device = ? AND event_type IN ('drive_start', 'drive_end') AND timestamp <= ?
       AND timestamp >= COALESCE((SELECT MAX(timestamp) FROM connection_log
                                  WHERE source_device = ? AND event_type = 'drive_start' AND timestamp <= ?), ?)
     ORDER BY timestamp, event_type`,
    [deviceId, last, deviceId, first, first],
  );
  const drives: DriveWindowSql[] = [];
  let start: string | undefined;
  for (const e of events) {
    if (e.event_type === "drive_start") {
      start = e.at;
      continue;
    }
    if (start && ends.has(e.at)) drives.push({ start, end: e.at });
    start = undefined;
  }
  return drives;
}

/** Queues the drive unless it already is (a replayed batch). Runs in the sync's transaction. */
export async function enqueueDrive(conn: PoolConnection, deviceId: string, batchId: string, drive: DriveWindowSql, now: Date): Promise<void> {
  const at = sqlTimestamp(now);
  await conn.query(
    `INSERT IGNORE INTO analysis_jobs (device_id, drive_start, drive_end, batch_id, state, run_after, created_at, updated_at)
     VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)`,
    [deviceId, drive.start, drive.end, batchId, at, at, at],
  );
}

export type Job = { jobId: bigint; deviceId: string; start: Date; end: Date; attempts: number; analysisId: bigint | null };

/**
 * Claims one due job: a pending one whose backoff has passed, or a running
 * one whose lease expired (its worker died). The claim is a lease of
 * `leaseMs`; the attempt is counted when the job finishes, not here.
 */
export async function claimJob(pool: Pool, now: Date, leaseMs: number): Promise<Job | undefined> {
  const conn = await pool.getConnection();
  try {
    // READ COMMITTED: rows the scan looked at but did not pick are not left locked.
    await conn.query("SET TRANSACTION ISOLATION LEVEL READ COMMITTED");
    await conn.beginTransaction();
    const at = sqlTimestamp(now);
    // One condition per query, so each walks the (state, run_after) index in order and locks only the row it
    // returns; an OR would sort all candidates first and lock them all, starving concurrent claimers.
    const columns = `job_id, device_id, ${asText("drive_start")} AS drive_start, ${asText("drive_end")} AS drive_end, attempts, analysis_id`;
    let [row] = await conn.query(
      `SELECT ${columns} FROM analysis_jobs WHERE state = 'pending' AND run_after <= ? ORDER BY run_after LIMIT 1 FOR UPDATE SKIP LOCKED`,
      [at],
    );
    row ??= (
      await conn.query(`SELECT ${columns} FROM analysis_jobs WHERE state = 'running' AND lease_until < ? LIMIT 1 FOR UPDATE SKIP LOCKED`, [at])
    )[0];
    if (!row) {
      await conn.commit();
      return undefined;
    }
    await conn.query("UPDATE analysis_jobs SET state = 'running', lease_until = ?, updated_at = ? WHERE job_id = ?", [
      sqlTimestamp(new Date(now.getTime() + leaseMs)),
      at,
      row.job_id,
    ]);
    await conn.commit();
    return {
      jobId: BigInt(row.job_id),
      deviceId: row.device_id,
      start: fromSqlDatetime(row.drive_start),
      end: fromSqlDatetime(row.drive_end),
      attempts: row.attempts,
      analysisId: row.analysis_id === null ? null : BigInt(row.analysis_id),
    };
  } catch (err) {
    await conn.rollback().catch(() => {});
    throw err;
  } finally {
    conn.release();
  }
}

export type JobOutcome =
  | { state: "completed"; analysisId: bigint | null }
  /** Runs again at runAfter; countsAttempt is false while Ollama is merely unreachable. */
  | { state: "pending"; runAfter: Date; error: string; countsAttempt: boolean; analysisId: bigint | null }
  | { state: "failed"; error: string; analysisId: bigint | null };

export async function finishJob(pool: Pool, job: Job, outcome: JobOutcome, now: Date): Promise<void> {
  const attempts = outcome.state === "pending" && !outcome.countsAttempt ? job.attempts : job.attempts + 1;
  await pool.query(
    `UPDATE analysis_jobs SET state = ?, attempts = ?, run_after = ?, lease_until = NULL, last_error = ?, analysis_id = ?, updated_at = ?
     WHERE job_id = ?`,
    [
      outcome.state,
      attempts,
      sqlTimestamp(outcome.state === "pending" ? outcome.runAfter : now),
      outcome.state === "completed" ? null : outcome.error,
      outcome.analysisId,
      sqlTimestamp(now),
      job.jobId,
    ],
  );
}

/** The queue's size from jobCounts: drives waiting for auto-analysis or being analysed. */
export const queueSize = (counts: Record<string, number>) => (counts.pending ?? 0) + (counts.running ?? 0);

/** Jobs per state, for /metrics and health. */
export async function jobCounts(pool: Pool): Promise<Record<string, number>> {
  const rows = await pool.query("SELECT state, COUNT(*) AS n FROM analysis_jobs GROUP BY state");
  return Object.fromEntries(rows.map((r: { state: string; n: bigint | number }) => [r.state, Number(r.n)]));
}
