/**
 * The durable auto-analysis queue (table analysis_jobs). A drive's job is
 * queued by the worker once the drive is closed and summarised
 * (lib/drives/summary.ts), in the same transaction that clears the drive's
 * analysis_due, so a drive whose summary is new or changed always gets its
 * job, once. Workers (lib/analysis/worker.ts) claim due jobs with SELECT ...
 * FOR UPDATE SKIP LOCKED, so several server processes can share one database
 * without running a job twice.
 */
import type { Pool, PoolConnection } from "mariadb";
import { fromSqlDatetime, sqlTimestamp } from "../time.ts";

/** A DATETIME(6) column as text, for fromSqlDatetime. */
const asText = (column: string) => `DATE_FORMAT(${column}, '%Y-%m-%d %H:%i:%s.%f')`;

async function inTransaction<T>(pool: Pool, work: (conn: PoolConnection) => Promise<T>): Promise<T> {
  const conn = await pool.getConnection();
  try {
    await conn.beginTransaction();
    const out = await work(conn);
    await conn.commit();
    return out;
  } catch (err) {
    await conn.rollback().catch(() => {});
    throw err;
  } finally {
    conn.release();
  }
}

/**
 * Queues the analysis of drive `driveRef` (drives.id), whose analysis_due is
 * set: a new job, or the pending one given the drive's current window. A job
 * that already ran (completed or failed) is queued again only if late rows
 * have not done so before: once per drive, so a Pi that keeps sending rows
 * for an old drive cannot keep the model busy. A running job is left alone
 * and the drive tried again next round. Returns whether the drive is done with.
 */
export async function queueDriveAnalysis(pool: Pool, driveRef: bigint, now: Date): Promise<boolean> {
  const at = sqlTimestamp(now);
  return inTransaction(pool, async (conn) => {
    const [drive] = await conn.query(
      { sql: "SELECT source_device, drive_start, drive_end, last_batch_id, requeued, analysis_due FROM drives WHERE id = ? FOR UPDATE", dateStrings: true },
      [driveRef],
    );
    if (!drive?.analysis_due) return true;
    const window = [drive.drive_start, drive.drive_end ?? drive.drive_start];
    // A job queued before drives were recorded, or for a drive row since deleted and found again, is adopted by
    // its (device, start), which is unique: inserting beside it would fail on every round of the worker.
    const [job] =
      (await conn.query("SELECT job_id, state FROM analysis_jobs WHERE drive_ref = ? FOR UPDATE", [driveRef])) as { job_id: bigint; state: string }[];
    const [old] = job ? [] : await conn.query("SELECT job_id, state FROM analysis_jobs WHERE device_id = ? AND drive_start = ? FOR UPDATE", [drive.source_device, window[0]]);
    const found = job ?? old;
    if (found?.state === "running") return false;
    let requeued = Boolean(drive.requeued);
    if (!found) {
      await conn.query(
        `INSERT INTO analysis_jobs (drive_ref, device_id, drive_start, drive_end, batch_id, state, run_after, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?)`,
        [driveRef, drive.source_device, ...window, drive.last_batch_id, at, at, at],
      );
    } else if (found.state === "pending") {
      await conn.query("UPDATE analysis_jobs SET drive_ref = ?, drive_start = ?, drive_end = ?, updated_at = ? WHERE job_id = ?", [driveRef, ...window, at, found.job_id]);
    } else if (!requeued) {
      // A fresh analysis (a new analysis_history row), with every attempt of its own.
      await conn.query(
        `UPDATE analysis_jobs SET drive_ref = ?, drive_start = ?, drive_end = ?, batch_id = ?, state = 'pending', attempts = 0, run_after = ?,
           lease_until = NULL, last_error = NULL, analysis_id = NULL, updated_at = ? WHERE job_id = ?`,
        [driveRef, ...window, drive.last_batch_id, at, at, found.job_id],
      );
      requeued = true;
    }
    await conn.query("UPDATE drives SET analysis_due = 0, requeued = ? WHERE id = ?", [requeued, driveRef]);
    return true;
  });
}

/**
 * Queues a drive's analysis again because someone asked (the drive page's
 * re-analyse button): unlike late rows, a person may ask any number of
 * times. False while its analysis is running (it is not interrupted).
 */
export async function requestDriveAnalysis(pool: Pool, driveRef: bigint, now: Date): Promise<boolean> {
  await pool.query("UPDATE drives SET analysis_due = 1, requeued = 0 WHERE id = ?", [driveRef]);
  const queued = await queueDriveAnalysis(pool, driveRef, now);
  // A running job left the drive due: the worker's next round queues it once that job is done.
  return queued;
}

export type Job = { jobId: bigint; deviceId: string; start: Date; end: Date; attempts: number; analysisId: bigint | null; driveRef: bigint | null };

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
    const columns = `job_id, device_id, ${asText("drive_start")} AS drive_start, ${asText("drive_end")} AS drive_end, attempts, analysis_id, drive_ref`;
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
      driveRef: row.drive_ref === null ? null : BigInt(row.drive_ref),
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
