/**
 * POST /api/v1/analyze: analyses one drive window now (lib/analysis/analyze.ts) and
 * answers with the recommendations and the rule-based findings. When Ollama
 * fails, the findings still come back in the error body.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { App, AppEnv } from "../lib/http/env.ts";
import { AnalysisFailed, DtcSchema, FindingSchema, HistorySchema, RecommendationSchema, runAnalysis } from "../lib/analysis/analyze.ts";
import { driveById } from "../lib/drives/list.ts";
import { WindowTooLarge } from "../lib/analysis/drive-stats.ts";
import { DeviceIdSchema, requireDevice } from "../lib/http/auth.ts";
import { limitedJsonBody } from "../lib/http/body.ts";
import { ApiError, ErrorBody, errorResponse as error, fieldError } from "../lib/http/errors.ts";
import { instant } from "../lib/readings/window.ts";

/** A request names a window and a few lists of short strings; anything longer is not an analysis request. */
const ANALYZE_BODY_BYTES = 64 * 1024;

const AnalyzeRequest = z
  .object({
    profileId: z
      .union([z.string().min(1).max(64), z.int()])
      .transform(String)
      .nullish()
      .openapi({ description: "The Pi's profile id, e.g. daily; numbers are accepted and read as text. Readings without a profile count too." }),
    deviceId: DeviceIdSchema.optional().openapi({ description: "Defaults to a device key's device, or to the only device the server knows" }),
    driveId: z.int().optional().openapi({ description: "Analyse this drive of the device (GET /api/v1/drives) instead of a window: it becomes the drive's latest analysis", example: 12 }),
    driveStartTime: instant("2026-11-22T10:00:00Z").optional().openapi({ description: "The window's start; required without driveId" }),
    driveEndTime: instant("2026-11-22T10:30:00Z").optional().openapi({ description: "The window's end; required without driveId" }),
    parameters: z
      .array(z.string().min(1).max(128))
      .min(1)
      .max(100)
      .optional()
      .openapi({ description: "Only these parameters' statistics and findings; all when absent", example: ["COOLANT_TEMP", "RPM"] }),
    focusAreas: z
      .array(z.string().min(1).max(200))
      .max(10)
      .optional()
      .openapi({ description: "What the recommendations should address", example: ["cooling", "fuel economy"] }),
  })
  .superRefine((body, ctx) => {
    if (body.driveId !== undefined) {
      for (const field of ["driveStartTime", "driveEndTime"] as const) {
        if (body[field] !== undefined) ctx.addIssue({ code: "custom", path: [field], message: "must be absent with driveId: the drive is the window" });
      }
      return;
    }
    for (const field of ["driveStartTime", "driveEndTime"] as const) if (body[field] === undefined) ctx.addIssue({ code: "custom", path: [field], message: "is required (or driveId)" });
    if (body.driveStartTime && body.driveEndTime && body.driveEndTime <= body.driveStartTime) ctx.addIssue({ code: "custom", path: ["driveEndTime"], message: "must be after driveStartTime" });
  })
  .openapi("AnalyzeRequest");

const Analysis = z
  .object({
    status: z.literal("ok"),
    analysisId: z.int(),
    recommendations: z.array(RecommendationSchema).openapi({ description: "At most 5, best first" }),
    findings: z.array(FindingSchema).openapi({ description: "Rule-based, from the drive's history and from its trouble codes, computed without the LLM" }),
    history: HistorySchema,
    dtcs: z.array(DtcSchema),
    model: z.string(),
    processingTimeMs: z.int(),
    dropped: z.int().openapi({ description: "Items of the model's reply that were malformed or beyond the fifth" }),
  })
  .openapi("Analysis");

const NoData = z.object({
  status: z.literal("ok"),
  recommendations: z.array(RecommendationSchema).length(0),
  findings: z.array(FindingSchema).length(0),
  message: z.literal("No drive data found for the specified time window"),
});

const Failed = ErrorBody.extend({ analysisId: z.int(), findings: z.array(FindingSchema) });

const route = createRoute({
  method: "post",
  path: "/api/v1/analyze",
  summary: "Analyse a drive window: statistics, rule-based findings and the local LLM's recommendations",
  description:
    "Waits for Ollama, up to ANALYSIS_TIMEOUT_SECONDS. Recommendations are stored as ai_recommendations rows (sync_batch_id = the analysis id) " +
    "and the analysis as an analysis_history row; a failed analysis is recorded as failed, except one that never reached Ollama (503), which is not recorded.",
  tags: ["analysis"],
  middleware: [limitedJsonBody(() => ANALYZE_BODY_BYTES)] as const,
  request: { body: { required: true, content: { "application/json": { schema: AnalyzeRequest } } } },
  responses: {
    200: { description: "The analysis, or a message when the window has no readings (Ollama is not asked)", content: { "application/json": { schema: z.union([Analysis, NoData]) } } },
    401: error("Missing or invalid API key"),
    403: error("A device key for another device"),
    404: error("No such drive (driveId)"),
    413: error("Body larger than 64 KB"),
    415: error("Not JSON, or an unsupported Content-Encoding"),
    429: error("Busy: the device already has an analysis running, or the server's request memory is spoken for; retry after Retry-After seconds"),
    422: error("Invalid request, naming the field; also a missing deviceId when the server knows no device or several, and a window with more than ANALYSIS_MAX_READINGS readings"),
    502: error("Ollama answered with an error, e.g. the model is not pulled", Failed.extend({ ollamaError: z.string() })),
    503: error("Ollama unreachable; nothing is recorded", Failed.omit({ analysisId: true }).extend({ ollamaUrl: z.string(), model: z.string() })),
    504: error("The analysis took longer than ANALYSIS_TIMEOUT_SECONDS", Failed),
  },
});

/** The key's device, or the only device the server knows. */
async function defaultDevice(c: Context<AppEnv>): Promise<string> {
  const auth = c.var.auth;
  if (auth.kind === "device") return auth.deviceId;
  const [row] = await c.var.deps.db.pool.query("SELECT COUNT(*) AS n, MIN(device_id) AS id FROM devices");
  const n = Number(row.n);
  if (n === 1) return row.id;
  throw fieldError("deviceId", n === 0 ? "is required: no device has synced yet" : `is required: the server knows ${n} devices`);
}

export function registerAnalyze(app: App) {
  app.openapi(route, async (c) => {
    const body = c.req.valid("json");
    const deviceId = body.deviceId ?? (await defaultDevice(c));
    requireDevice(c, deviceId);
    const { db, config, clock, admission } = c.var.deps;
    const drive = body.driveId === undefined ? undefined : await driveById(db.pool, deviceId, body.driveId);
    if (body.driveId !== undefined && !drive) throw new ApiError(404, `Drive ${body.driveId} of device ${deviceId} not found`);
    // An analysis holds its readings in memory and a connection while it reads them: one per device, and as many as the budget holds.
    const ticket = admission.enter("analysis", deviceId);
    const request = {
      deviceId,
      profileId: body.profileId,
      start: drive?.start ?? body.driveStartTime!,
      end: drive?.end ?? body.driveEndTime!,
      parameters: body.parameters,
      focusAreas: body.focusAreas,
      drive,
    };
    try {
      const result = await runAnalysis({ db, config, clock, logger: c.var.logger }, request, { trigger: "api" });
      if (result.status === "empty") {
        return c.json({ status: "ok" as const, recommendations: [], findings: [], message: "No drive data found for the specified time window" as const }, 200);
      }
      const { analysisId, recommendations, findings, history, dtcs, model, processingTimeMs, dropped } = result;
      return c.json({ status: "ok" as const, analysisId: Number(analysisId), recommendations, findings, history, dtcs, model, processingTimeMs, dropped }, 200);
    } catch (err) {
      if (err instanceof WindowTooLarge) throw fieldError("driveEndTime", err.message);
      if (!(err instanceof AnalysisFailed)) throw err;
      const common = { ...(err.analysisId === null ? {} : { analysisId: Number(err.analysisId) }), findings: err.findings };
      switch (err.kind) {
        case "unavailable":
          throw new ApiError(503, "Ollama unavailable", { ollamaUrl: config.OLLAMA_BASE_URL, model: config.OLLAMA_MODEL, ...common });
        case "ollama_error":
          throw new ApiError(502, "Ollama error", { ollamaError: err.ollamaError, ...common });
        case "timeout":
          throw new ApiError(504, `Analysis timed out after ${config.ANALYSIS_TIMEOUT_SECONDS} s`, common);
        default:
          throw err;
      }
    } finally {
      ticket.release();
    }
  });
}
