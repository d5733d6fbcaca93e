/**
 * One drive analysis: the window's statistics (lib/analysis/drive-stats.ts), the
 * rule-based findings (lib/analysis/findings.ts), and recommendations from the local
 * LLM through Ollama, stored as ai_recommendations rows plus one
 * analysis_history row. POST /api/v1/analyze and the auto-analysis worker
 * both run it. The prompt templates are the files in prompts/.
 */
import { readFileSync } from "node:fs";
import { z } from "@hono/zod-openapi";
import type { Config } from "../config.ts";
import type { Db } from "../db/pools.ts";
import { driveAt, type AnalysedDrive } from "../drives/list.ts";
import { readDriveStats, type DriveStats } from "./drive-stats.ts";
import { dtcFindings, framePids, readDtcs, type DriveDtc } from "./dtcs.ts";
import { bySeverity, duration, findings as ruleFindings, type Finding } from "./findings.ts";
import { readHistory, type History } from "./history.ts";
import { LIMITS } from "./limits.ts";
import type { Logger } from "../http/logger.ts";
import { ollamaClient } from "./ollama.ts";
import { sqlTimestamp, type Clock } from "../time.ts";

export type AnalysisRequest = {
  deviceId: string;
  profileId?: string | null;
  start: Date;
  end: Date;
  parameters?: string[];
  focusAreas?: string[];
  /** The drive analysed (a job's, or POST /analyze's driveId): its stored statistics are used, and it becomes the drive's latest analysis. */
  drive?: AnalysedDrive;
};
export type Recommendation = { rank: number; category: string; recommendation: string; confidence: number };
export type AnalysisResult =
  | { status: "empty" }
  | {
      status: "completed";
      analysisId: bigint;
      recommendations: Recommendation[];
      findings: Finding[];
      history: History;
      dtcs: DriveDtc[];
      model: string;
      processingTimeMs: number;
      dropped: number;
    };

/**
 * The analysis failed after its analysis_history row was written; the row is
 * marked failed, except after a request (`trigger` api) that never reached
 * Ollama: that row is removed, and analysisId is null.
 */
export class AnalysisFailed extends Error {
  constructor(
    readonly kind: "unavailable" | "ollama_error" | "timeout" | "aborted",
    message: string,
    readonly analysisId: bigint | null,
    readonly findings: Finding[],
    /** Ollama's own message, for kind "ollama_error". */
    readonly ollamaError?: string,
  ) {
    super(message);
    this.name = "AnalysisFailed";
  }
}

/** How the API documents a recommendation. */
export const RecommendationSchema = z
  .object({
    rank: z.int().openapi({ example: 1 }),
    category: z.string().openapi({ example: "cooling" }),
    recommendation: z.string(),
    confidence: z.number().min(0).max(1).openapi({ example: 0.8 }),
  })
  .openapi("Recommendation");

/** How the API documents a rule-based finding (lib/analysis/findings.ts). */
export const FindingSchema = z
  .object({
    code: z.enum([
      "coolant_overtemp",
      "fuel_trim_lean",
      "fuel_trim_rich",
      "slow_warmup",
      "high_intake_temp",
      "idle_rpm_unstable",
      "low_voltage",
      "high_voltage",
      "baseline_anomaly",
      "trend",
      "dtc",
    ] satisfies Finding["code"][]),
    severity: z.enum(["info", "warning", "critical"] satisfies Finding["severity"][]),
    parameter: z.string().openapi({ example: "COOLANT_TEMP", description: "The parameter; for a dtc finding, the trouble code" }),
    message: z.string().openapi({ example: "Coolant peaked at 104 °C and stayed above 100 °C for 90 s" }),
    evidence: z.record(z.string(), z.number()).openapi({ description: "The numbers the message cites" }),
  })
  .openapi("Finding");

/** How the API documents an analysis's history (lib/analysis/history.ts). */
export const HistorySchema = z
  .object({
    priorDrives: z.int().openapi({ description: "The device's real drives before this one in the baseline (at most 20)" }),
    dataSource: z.string().nullable(),
    inBaseline: z.boolean().openapi({ description: "false for a drive whose data is not real: analysed, but never part of a baseline" }),
    note: z.string().optional(),
    baselines: z.array(
      z.object({
        parameter: z.string(),
        metric: z.string().openapi({ example: "mean" }),
        unit: z.string(),
        drives: z.int(),
        mean: z.number(),
        std: z.number(),
        thisDrive: z.number().nullable(),
        z: z.number().nullable(),
      }),
    ),
    anomalies: z.array(z.object({ parameter: z.string(), metric: z.string(), thisDrive: z.number(), mean: z.number(), std: z.number(), z: z.number() })),
    trends: z.array(
      z.object({
        parameter: z.string(),
        metric: z.string(),
        drives: z.int(),
        slopePerDrive: z.number(),
        change: z.number().openapi({ description: "The fitted change over the drives, in the metric's unit" }),
        r2: z.number(),
        direction: z.enum(["rising", "falling", "steady"]),
      }),
    ),
  })
  .openapi("AnalysisHistory");

/** How the API documents a trouble code of the drive (lib/analysis/dtcs.ts). */
export const DtcSchema = z
  .object({
    code: z.string().openapi({ example: "P0171" }),
    status: z.string().openapi({ description: "stored or pending, as the Pi last reported it" }),
    description: z.string().nullable(),
    firstSeen: z.string(),
    lastSeen: z.string(),
    recurring: z.boolean().openapi({ description: "The code was seen before this drive" }),
    freezeFrame: z.record(z.string(), z.union([z.number(), z.string()])).optional().openapi({ description: "The PIDs the ECU froze when the code set" }),
  })
  .openapi("DriveDtc");

type Deps = { db: Db; config: Config; logger: Logger; clock: Clock };

/** The model may suggest more; the owner reads the first few. */
const MAX_RECOMMENDATIONS = 5;

// Read once: a missing template fails at start-up, not in the middle of a drive's analysis.
const template = (name: string) => readFileSync(new URL(`../../prompts/${name}`, import.meta.url), "utf8");
const SYSTEM_PROMPT = template("analysis-system.md");
const USER_PROMPT = template("analysis-user.md");

/** Ollama's structured output: the reply must be an array of these. */
const FORMAT = {
  type: "array",
  maxItems: MAX_RECOMMENDATIONS,
  items: {
    type: "object",
    properties: {
      rank: { type: "integer" },
      category: { type: "string" },
      recommendation: { type: "string" },
      confidence: { type: "number" },
    },
    required: ["rank", "category", "recommendation", "confidence"],
  },
};

/** Low: the same drive should get the same advice. */
const TEMPERATURE = 0.2;

/** analysis_history.model of an analysis that did not ask a model (ANALYSIS_ENABLED=false): findings only. */
const NO_MODEL = "none";

/**
 * Analyses a drive window. Empty windows store nothing and never call Ollama.
 * With opts.analysisId (a job's retry) that analysis_history row is reused.
 * With opts.model false, Ollama is not asked: the statistics and findings are
 * stored with no recommendations. Throws AnalysisFailed for Ollama's
 * failures, after marking the row failed (or removing it, for a request
 * that never reached Ollama).
 */
export async function runAnalysis(
  deps: Deps,
  req: AnalysisRequest,
  opts: { analysisId?: bigint; trigger?: "api" | "auto"; signal?: AbortSignal; model?: boolean } = {},
): Promise<AnalysisResult> {
  const { db, config, logger, clock } = deps;
  const began = performance.now();
  const timeoutMs = config.ANALYSIS_TIMEOUT_SECONDS * 1000;
  const model = opts.model === false ? NO_MODEL : config.OLLAMA_MODEL;
  // A drive's own statistics were stored with its summary; a window, or a filtered request, reads its readings.
  const filtered = req.parameters !== undefined || Boolean(req.profileId);
  const stored = req.drive?.stats && !filtered ? req.drive.stats : null;
  const read = stored ?? (await readDriveStats(db.pool, { deviceId: req.deviceId, start: req.start, end: req.end, profileId: req.profileId }, config.ANALYSIS_MAX_READINGS));
  const stats = selectParameters(read, req.parameters);
  if (!stats) return { status: "empty" };

  const analysisId = await startRow(db, req, model, opts.trigger ?? "api", clock.now(), opts.analysisId);
  const drive = req.drive ?? (await driveAt(db.pool, req.deviceId, req.start, req.end));
  const { history, findings: historyFindings } = await readHistory(db.pool, {
    deviceId: req.deviceId,
    start: drive?.start ?? req.start,
    driveRef: drive?.ref ?? null,
    dataSource: drive?.dataSource ?? null,
    stats,
  });
  const dtcs = await readDtcs(db.pool, { deviceId: req.deviceId, start: req.start, end: req.end, driveId: drive && drive.driveId > 0n ? drive.driveId : null });
  const forParameters = (list: Finding[]) => list.filter((f) => !req.parameters || req.parameters.includes(f.parameter));
  // Trouble codes belong to the drive, not to a parameter: a parameter filter keeps them.
  const found = bySeverity([...forParameters([...ruleFindings(stats), ...historyFindings]), ...dtcFindings(dtcs)]);
  const kept = { findings: found, facts: stats.facts, history, dtcs };
  const log = logger.child({ deviceId: req.deviceId, analysisId: Number(analysisId), model });
  try {
    const messages = [
      { role: "system", content: SYSTEM_PROMPT },
      { role: "user", content: userPrompt(req, stats, found, history, dtcs) },
    ];
    // Without the model (ANALYSIS_ENABLED=false), an empty reply: the findings alone are stored.
    let content = "[]";
    if (opts.model !== false) {
      try {
        const client = ollamaClient(config.OLLAMA_BASE_URL, Math.max(1, timeoutMs - (performance.now() - began)), opts.signal);
        const reply = await client.chat({
          model,
          stream: false,
          messages,
          format: FORMAT,
          options: { temperature: TEMPERATURE },
        });
        content = reply.message.content;
      } catch (err) {
        throw ollamaFailure(err, opts.signal, config, analysisId, found);
      }
    }

    let parsed = parseRecommendations(content);
    if (!parsed) {
      log.warn({ reply: content.slice(0, 200) }, "analysis: the model's reply is not a JSON array of recommendations; none kept");
      parsed = { recommendations: [], dropped: 1 };
    }
    const processingTimeMs = Math.round(performance.now() - began);
    await complete(db, req, analysisId, clock.now(), processingTimeMs, { ...kept, ...parsed });
    log.info({ ms: processingTimeMs, recommendations: parsed.recommendations.length, dropped: parsed.dropped, findings: found.length }, "analysis completed");
    return { status: "completed", analysisId, findings: found, history, dtcs, model, processingTimeMs, ...parsed };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const auto = opts.trigger === "auto";
    if (err instanceof AnalysisFailed) {
      // The worker says once that Ollama went away (worker.ts), not per job.
      const level = err.kind === "ollama_error" ? "error" : err.kind === "unavailable" && auto ? "debug" : "warn";
      log[level]({ kind: err.kind, ollamaError: err.ollamaError }, `analysis failed: ${message}`);
    } else {
      log.error({ err }, "analysis failed");
    }
    // A request that never reached the model analysed nothing worth keeping: its findings go back in the answer.
    if (err instanceof AnalysisFailed && err.kind === "unavailable" && !auto && opts.analysisId === undefined) {
      await db.pool.query("DELETE FROM analysis_history WHERE analysis_id = ?", [analysisId]).catch((e) => log.error({ err: e }, "could not remove the analysis"));
      throw new AnalysisFailed(err.kind, err.message, null, err.findings);
    }
    await markFailed(db, analysisId, clock.now(), message, kept).catch((e) =>
      log.error({ err: e }, "could not mark the analysis failed"),
    );
    throw err;
  }
}

/**
 * Only the requested parameters' statistics (and so the prompt's table);
 * null when none of them has readings. The drive facts stay whole: they
 * describe the drive, not a parameter.
 */
function selectParameters(stats: DriveStats | null, parameters: string[] | undefined): DriveStats | null {
  if (!stats || !parameters) return stats;
  const kept = stats.parameters.filter((p) => parameters.includes(p.parameter));
  if (kept.length === 0) return null;
  return { ...stats, parameters: kept, rows: kept.reduce((n, p) => n + p.count, 0) };
}

function ollamaFailure(err: unknown, signal: AbortSignal | undefined, config: Config, analysisId: bigint, found: Finding[]): AnalysisFailed {
  const name = (err as Error)?.name;
  const text = (err as Error)?.message ?? String(err);
  if (signal?.aborted) return new AnalysisFailed("aborted", "Analysis aborted", analysisId, found);
  if (name === "TimeoutError") return new AnalysisFailed("timeout", `Analysis timed out after ${config.ANALYSIS_TIMEOUT_SECONDS} s`, analysisId, found);
  // fetch rejects with a TypeError when it gets no HTTP answer: refused, DNS, reset.
  if (err instanceof TypeError) return new AnalysisFailed("unavailable", `Ollama unavailable at ${config.OLLAMA_BASE_URL}: ${text}`, analysisId, found);
  // The client's ResponseError (an HTTP error status, e.g. a missing model), or a body that is not Ollama's.
  return new AnalysisFailed("ollama_error", `Ollama error: ${text}`, analysisId, found, text);
}

/** Writes the running analysis_history row (or resets a retry's), returning its id; it becomes the analysed drive's latest. */
async function startRow(db: Db, req: AnalysisRequest, model: string, trigger: "api" | "auto", now: Date, reuse?: bigint): Promise<bigint> {
  const id = await historyRow(db, req, model, trigger, now, reuse);
  if (req.drive) await db.pool.query("UPDATE drives SET analysis_id = ? WHERE id = ?", [id, req.drive.ref]);
  return id;
}

async function historyRow(db: Db, req: AnalysisRequest, model: string, trigger: "api" | "auto", now: Date, reuse?: bigint): Promise<bigint> {
  if (reuse !== undefined) {
    const res = await db.pool.query(
      `UPDATE analysis_history SET status = 'running', model = ?, triggered_by = ?, processing_time_ms = NULL, result = NULL,
         error_message = NULL, completed_at = NULL WHERE analysis_id = ?`,
      [model, trigger, reuse],
    );
    if (res.affectedRows > 0) return reuse;
  }
  const res = await db.pool.query(
    `INSERT INTO analysis_history (device_id, profile_source_id, drive_start, drive_end, model, status, triggered_by, created_at)
     VALUES (?, ?, ?, ?, ?, 'running', ?, ?)`,
    [req.deviceId, req.profileId ?? null, sqlTimestamp(req.start), sqlTimestamp(req.end), model, trigger, sqlTimestamp(now)],
  );
  return BigInt(res.insertId);
}

/**
 * The recommendations and the completed status commit together. source_id is
 * -(analysisId * 10 + rank): negative, so it never meets the Pi's own ids, and
 * stable, so a retry overwrites its rows instead of adding more.
 */
async function complete(
  db: Db,
  req: AnalysisRequest,
  analysisId: bigint,
  now: Date,
  processingTimeMs: number,
  result: Kept & { recommendations: Recommendation[]; dropped: number },
): Promise<void> {
  const at = sqlTimestamp(now);
  const batchId = String(analysisId);
  const recs = result.recommendations;
  const conn = await db.pool.getConnection();
  try {
    await conn.beginTransaction();
    if (recs.length > 0) {
      await conn.query(
        `INSERT INTO ai_recommendations (source_id, source_device, synced_at, sync_batch_id, timestamp, recommendation, priority_rank, profile_id, created_at)
         VALUES ${recs.map(() => "(?, ?, ?, ?, ?, ?, ?, ?, ?)").join(", ")}
         ON DUPLICATE KEY UPDATE synced_at = VALUES(synced_at), sync_batch_id = VALUES(sync_batch_id), timestamp = VALUES(timestamp),
           recommendation = VALUES(recommendation), priority_rank = VALUES(priority_rank), profile_id = VALUES(profile_id)`,
        recs.flatMap((r) => [
          -(analysisId * 10n + BigInt(r.rank)),
          req.deviceId,
          at,
          batchId,
          sqlTimestamp(req.end),
          r.recommendation,
          r.rank,
          req.profileId ?? null,
          at,
        ]),
      );
    }
    // A retry that got fewer recommendations than an earlier attempt leaves none of that attempt's behind.
    await conn.query("DELETE FROM ai_recommendations WHERE source_device = ? AND sync_batch_id = ? AND priority_rank > ?", [
      req.deviceId,
      batchId,
      recs.length,
    ]);
    await conn.query(
      `UPDATE analysis_history SET status = 'completed', processing_time_ms = ?, completed_at = ?, result = ?, error_message = NULL
       WHERE analysis_id = ?`,
      [processingTimeMs, at, JSON.stringify(result), analysisId],
    );
    await conn.commit();
  } catch (err) {
    await conn.rollback().catch(() => {});
    throw err;
  } finally {
    await conn.release();
  }
}

/** What an analysis stores besides the model's answer, whether it completes or fails. */
type Kept = { findings: Finding[]; facts: DriveStats["facts"]; history: History; dtcs: DriveDtc[] };

async function markFailed(db: Db, analysisId: bigint, now: Date, message: string, result: Kept) {
  await db.pool.query("UPDATE analysis_history SET status = 'failed', error_message = ?, completed_at = ?, result = ? WHERE analysis_id = ?", [
    message,
    sqlTimestamp(now),
    JSON.stringify(result),
    analysisId,
  ]);
}

const Item = z.object({
  rank: z.number(),
  category: z.string().trim().min(1),
  recommendation: z.string().trim().min(1),
  confidence: z.number(),
});

/**
 * The model's reply as recommendations: a JSON array (or {recommendations: […]}),
 * each item checked on its own. Malformed items and those beyond
 * MAX_RECOMMENDATIONS are dropped and counted; confidence is clamped to 0..1;
 * ranks become 1..n in the model's rank order. undefined when the reply is
 * not such JSON at all.
 */
export function parseRecommendations(content: string): { recommendations: Recommendation[]; dropped: number } | undefined {
  let json: unknown;
  try {
    json = JSON.parse(content);
  } catch {
    return undefined;
  }
  const items = Array.isArray(json) ? json : (json as { recommendations?: unknown })?.recommendations;
  if (!Array.isArray(items)) return undefined;
  const valid = items.flatMap((item) => {
    const parsed = Item.safeParse(item);
    return parsed.success ? [parsed.data] : [];
  });
  // sort is stable: equal ranks keep the model's order.
  const kept = valid.sort((a, b) => a.rank - b.rank).slice(0, MAX_RECOMMENDATIONS);
  return {
    recommendations: kept.map((r, i) => ({
      rank: i + 1,
      category: r.category,
      recommendation: r.recommendation,
      confidence: Math.min(1, Math.max(0, r.confidence)),
    })),
    dropped: items.length - kept.length,
  };
}

/** Four significant digits: enough for advice, short enough for a small model's context. */
const num = (x: number) => String(Math.abs(x) < 1e-9 ? 0 : Number(x.toPrecision(4)));

function factLines(f: DriveStats["facts"]): string {
  const trim = (x: number | null) => (x === null ? "n/a" : `${x > 0 ? "+" : ""}${num(x)} %`);
  return [
    `- duration: ${duration(f.durationSeconds)}`,
    `- distance: ${f.distanceKm === null ? "unknown (no SPEED)" : `${num(f.distanceKm)} km`}`,
    `- idle share: ${f.idleShare === null ? "unknown (no SPEED)" : `${Math.round(f.idleShare * 100)} %`}`,
    `- warm-up to ${LIMITS.warmC} °C: ${f.warmUpSeconds !== null ? duration(f.warmUpSeconds) : f.maxCoolantC === null ? "unknown (no COOLANT_TEMP)" : "not reached"}`,
    `- max coolant: ${f.maxCoolantC === null ? "unknown" : `${num(f.maxCoolantC)} °C`}`,
    `- fuel trims (means): short-term ${trim(f.fuelTrim.stft)}, long-term ${trim(f.fuelTrim.ltft)}, total ${trim(f.fuelTrim.total)}`,
  ].join("\n");
}

/**
 * What the prompt holds at most, so it stays well inside a small model's
 * context (gemma2:2b reads 8,192 tokens): with every cap reached the user
 * prompt is about 6,700 characters and the system prompt 1,700, some 2,500
 * tokens in all (tests/analyze.test.ts builds that worst case). The stored
 * result keeps everything.
 */
export const PROMPT_CAPS = { parameters: 40, findings: 12, baselines: 8, dtcs: 8, freezeFramePids: 10 } as const;

function statisticsTable(stats: DriveStats): string {
  const head = "parameter | unit | n | min | mean | max | std | p5 | p95 | time above";
  // The most-read parameters when a Pi logs more than fit.
  const shown = stats.parameters.length > PROMPT_CAPS.parameters ? [...stats.parameters].sort((a, b) => b.count - a.count).slice(0, PROMPT_CAPS.parameters) : stats.parameters;
  const rows = shown.map((p) =>
    [
      p.parameter,
      p.unit ?? "",
      p.count,
      ...[p.min, p.mean, p.max, p.std, p.p5, p.p95].map(num),
      p.above.map((a) => `>${a.threshold}: ${Math.round(a.seconds)} s`).join(", ") || "-",
    ].join(" | "),
  );
  return [head, ...rows].join("\n");
}

const signedNum = (x: number) => `${x > 0 ? "+" : ""}${num(x)}`;

function historyLines(h: History): string {
  const lines = [
    h.inBaseline ? `This drive's data is real (data_source ${h.dataSource ?? "not tagged"}).` : `NOT REAL DATA: ${h.note}`,
    h.priorDrives ? `Baseline: the device's last ${h.priorDrives} real drives before this one.` : "No earlier real drives of this device: no baseline yet.",
  ];
  const baselines = [...h.baselines].sort((a, b) => Math.abs(b.z ?? 0) - Math.abs(a.z ?? 0)).slice(0, PROMPT_CAPS.baselines);
  for (const b of baselines) {
    const drive = b.thisDrive === null ? "n/a" : `${num(b.thisDrive)} ${b.unit}`;
    const z = b.z === null ? "" : `, z ${signedNum(b.z)}`;
    lines.push(`- ${b.parameter} ${b.metric}: this drive ${drive}, baseline ${num(b.mean)} ± ${num(b.std)} ${b.unit} over ${b.drives} drives${z}`);
  }
  for (const t of h.trends) lines.push(`- trend of ${t.parameter} ${t.metric} over ${t.drives} drives: ${t.direction}, ${signedNum(t.slopePerDrive)} per drive (r² ${num(t.r2)})`);
  return lines.join("\n");
}

function dtcLines(dtcs: DriveDtc[]): string {
  if (dtcs.length === 0) return "none stored or pending during this drive";
  const shown = dtcs.slice(0, PROMPT_CAPS.dtcs).map((d) => {
    const frame = d.freezeFrame ? framePids(d.freezeFrame, PROMPT_CAPS.freezeFramePids).map(([k, v]) => `${k} ${num(v)}`).join(", ") : "none";
    return `- ${d.code} ${d.description ?? "(no description known)"}: ${d.status}, ${d.recurring ? "recurring" : "new this drive"}; freeze frame: ${frame}`;
  });
  if (dtcs.length > shown.length) shown.push(`- and ${dtcs.length - shown.length} more`);
  return shown.join("\n");
}

function userPrompt(req: AnalysisRequest, stats: DriveStats, found: Finding[], history: History, dtcs: DriveDtc[]): string {
  const findings = found.slice(0, PROMPT_CAPS.findings).map((f) => `- [${f.severity}] ${f.message}`);
  if (found.length > findings.length) findings.push(`- and ${found.length - findings.length} more`);
  return fill(USER_PROMPT, {
    deviceId: req.deviceId,
    profile: req.profileId ? ` (profile ${req.profileId})` : "",
    start: req.start.toISOString(),
    end: req.end.toISOString(),
    rows: String(stats.rows),
    facts: factLines(stats.facts),
    statistics: statisticsTable(stats),
    findings: findings.length ? findings.join("\n") : "none: every rule-based check passed",
    history: historyLines(history),
    dtcs: dtcLines(dtcs),
    focusAreas: req.focusAreas?.length ? req.focusAreas.join("; ") : "none given; cover what the data shows",
  });
}

/** Replaces each {{name}}; a placeholder without a value is a bug in this file, so it throws. */
function fill(text: string, values: Record<string, string>): string {
  return text.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`prompt placeholder {{${name}}} has no value`);
    return value;
  });
}
