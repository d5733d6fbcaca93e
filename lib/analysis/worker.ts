/**
 * The auto-analysis worker: runs inside the server process, claims queued
 * drives (lib/analysis/jobs.ts) one at a time and analyses them. It never
 * touches a sync's response: /sync only enqueues and wakes it.
 *
 * Retries: while Ollama is unreachable a job waits ANALYSIS_RETRY_SECONDS
 * without using up an attempt (Ollama being off for a weekend is normal at
 * home), and the log says so once when Ollama goes away and once when it is
 * back, not per job and round. Other failures back off exponentially,
 * doubling from ANALYSIS_RETRY_SECONDS up to an hour, and after
 * ANALYSIS_MAX_ATTEMPTS the job is marked failed.
 *
 * With ANALYSIS_ENABLED=false a job gets the drive's statistics and
 * rule-based findings only, and Ollama is never called.
 *
 * Each round also tends the drives (lib/drives/summary.ts): closes idle
 * ones, summarises settled ones and queues their analyses, so a sync only
 * records rows and wakes the worker.
 */
import { claimJob, finishJob, type Job, type JobOutcome } from "./jobs.ts";
import { AnalysisFailed, runAnalysis } from "./analyze.ts";
import type { Config } from "../config.ts";
import { WindowTooLarge } from "./drive-stats.ts";
import type { Db } from "../db/pools.ts";
import { driveByRef } from "../drives/list.ts";
import { tendDrives } from "../drives/summary.ts";
import type { Logger } from "../http/logger.ts";
import { systemClock, type Clock } from "../time.ts";

export type AnalysisWorker = {
  /** Look for due jobs now (a sync just queued one). */
  wake(): void;
  /**
   * Stops at a job boundary: no new claims; a running analysis gets up to
   * graceMs to finish, then it is aborted and its job goes back to the queue
   * as it was. Resolves when the worker is idle; later calls return the same promise.
   */
  stop(graceMs?: number): Promise<void>;
};

type WorkerDeps = { db: Db; config: Config; logger: Logger; clock?: Clock };

const MAX_BACKOFF_MS = 3600_000;

/** Starts the worker loop. */
export function startAnalysisWorker(deps: WorkerDeps): AnalysisWorker {
  const { db, config } = deps;
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger.child({ component: "analysis-worker" });
  const retryMs = config.ANALYSIS_RETRY_SECONDS * 1000;
  // A claim outlives the longest analysis, so only a dead worker's job is claimed again.
  const leaseMs = config.ANALYSIS_TIMEOUT_SECONDS * 1000 + 60_000;

  let stopping = false;
  let wakeUp: (() => void) | undefined;
  let running: AbortController | undefined;
  /** Whether the last job that tried found Ollama unreachable. */
  let ollamaAway = false;
  const ollamaAnswered = () => {
    if (ollamaAway) logger.info({ ollamaUrl: config.OLLAMA_BASE_URL }, "Ollama is back; analysing the queued drives");
    ollamaAway = false;
  };
  if (!config.ANALYSIS_ENABLED) logger.info("ANALYSIS_ENABLED=false: queued drives get statistics and findings only; Ollama is not called");

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wakeUp = undefined;
        resolve();
      }
      wakeUp = done;
    });

  async function outcomeOf(job: Job, signal: AbortSignal): Promise<JobOutcome> {
    try {
      // A job of a drive analyses the drive as it is now (late rows may have moved its end), with its stored statistics.
      const drive = job.driveRef === null ? undefined : await driveByRef(db.pool, job.driveRef);
      const window = drive ? { start: drive.start, end: drive.end } : { start: job.start, end: job.end };
      const result = await runAnalysis(
        { db, config, logger, clock },
        { deviceId: job.deviceId, ...window, drive },
        { analysisId: job.analysisId ?? undefined, trigger: "auto", signal, model: config.ANALYSIS_ENABLED },
      );
      if (result.status === "empty") {
        logger.info({ jobId: job.jobId, deviceId: job.deviceId }, "Auto-analysis: the drive has no readings on the server; nothing to analyse");
        return { state: "completed", analysisId: job.analysisId };
      }
      if (config.ANALYSIS_ENABLED) ollamaAnswered();
      logger.info({ jobId: job.jobId, analysisId: result.analysisId, recommendations: result.recommendations.length, findings: result.findings.length }, "Auto-analysis completed");
      return { state: "completed", analysisId: result.analysisId };
    } catch (err) {
      const analysisId = err instanceof AnalysisFailed ? err.analysisId : job.analysisId;
      const now = clock.now().getTime();
      if (err instanceof AnalysisFailed && err.kind === "aborted") {
        return { state: "pending", runAfter: new Date(now), error: "stopped with the server", countsAttempt: false, analysisId };
      }
      if (err instanceof AnalysisFailed && err.kind === "unavailable") {
        if (!ollamaAway) {
          logger.warn(
            { ollamaUrl: config.OLLAMA_BASE_URL, retrySeconds: config.ANALYSIS_RETRY_SECONDS },
            "Ollama unreachable: queued drives wait for it (queue size in /api/v1/health and /metrics); set ANALYSIS_ENABLED=false for findings without it",
          );
        }
        ollamaAway = true;
        logger.debug({ jobId: job.jobId, deviceId: job.deviceId }, "Auto-analysis skipped: Ollama unavailable");
        return { state: "pending", runAfter: new Date(now + retryMs), error: "Ollama unavailable", countsAttempt: false, analysisId };
      }
      if (err instanceof AnalysisFailed && err.kind === "ollama_error") ollamaAnswered();
      const error = err instanceof AnalysisFailed ? (err.ollamaError ?? err.message) : String((err as Error)?.message ?? err);
      const attempts = job.attempts + 1;
      // A drive too long to analyse stays too long: retrying cannot help.
      if (attempts >= config.ANALYSIS_MAX_ATTEMPTS || err instanceof WindowTooLarge) {
        logger.error({ err, jobId: job.jobId, attempts }, "Auto-analysis failed for good");
        return { state: "failed", error, analysisId };
      }
      const backoff = Math.min(retryMs * 2 ** (attempts - 1), MAX_BACKOFF_MS);
      logger.warn({ err, jobId: job.jobId, attempts, retryInMs: backoff }, "Auto-analysis failed; will retry");
      return { state: "pending", runAfter: new Date(now + backoff), error, countsAttempt: true, analysisId };
    }
  }

  async function loop() {
    while (!stopping) {
      let tended = false;
      try {
        tended = await tendDrives({ pool: db.pool, config, logger }, clock.now());
      } catch (err) {
        logger.error({ err }, "could not close, summarise or queue drives");
      }
      let job: Job | undefined;
      try {
        job = await claimJob(db.pool, clock.now(), leaseMs);
      } catch (err) {
        logger.error({ err }, "could not claim an analysis job");
      }
      if (!job) {
        if (!tended && !stopping) await sleep(config.ANALYSIS_POLL_SECONDS * 1000);
        continue;
      }
      running = new AbortController();
      const outcome = await outcomeOf(job, running.signal);
      running = undefined;
      try {
        await finishJob(db.pool, job, outcome, clock.now());
      } catch (err) {
        // The lease runs out and another claim picks the job up again.
        logger.error({ err, jobId: job.jobId }, "could not record an analysis job's outcome");
      }
    }
  }

  const done = loop();
  let stopped: Promise<void> | undefined;
  return {
    wake: () => wakeUp?.(),
    stop(graceMs = 10_000) {
      stopped ??= (async () => {
        stopping = true;
        wakeUp?.();
        const job = running;
        const timer = job && setTimeout(() => job.abort(), graceMs);
        await done;
        clearTimeout(timer);
      })();
      return stopped;
    },
  };
}
