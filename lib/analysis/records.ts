/**
 * An analysis as the API shows it (GET /api/v1/analyses, one drive's latest
 * in GET /api/v1/drives/{deviceId}/{driveId}): the analysis_history row with
 * what its result JSON stored.
 */
import { z } from "@hono/zod-openapi";
import type { analysis_history } from "../db/generated/prisma/client.ts";
import { DtcSchema, FindingSchema, HistorySchema, RecommendationSchema } from "./analyze.ts";

export const AnalysisRecordSchema = z
  .object({
    analysisId: z.int(),
    deviceId: z.string(),
    profileId: z.string().nullable(),
    driveStartTime: z.string().openapi({ example: "2026-11-22T10:00:00.000Z" }),
    driveEndTime: z.string().openapi({ example: "2026-11-22T10:30:00.000Z" }),
    status: z.enum(["pending", "running", "completed", "failed"]),
    triggeredBy: z.enum(["api", "auto"]).openapi({ description: "POST /api/v1/analyze, or auto-analysis after a drive closed" }),
    model: z.string(),
    processingTimeMs: z.int().nullable(),
    createdAt: z.string(),
    completedAt: z.string().nullable(),
    error: z.string().nullable().openapi({ description: "Why a failed analysis failed" }),
    findings: z.array(FindingSchema),
    recommendations: z.array(RecommendationSchema),
    history: HistorySchema.nullable().openapi({ description: "The drive against the device's earlier real drives; null for analyses made before drives were recorded" }),
    dtcs: z.array(DtcSchema).openapi({ description: "Trouble codes stored or pending during the drive" }),
  })
  .openapi("AnalysisRecord");

export type AnalysisRecord = z.infer<typeof AnalysisRecordSchema>;

type Stored = Partial<Pick<AnalysisRecord, "findings" | "recommendations" | "history" | "dtcs">> | null;

export function analysisRecord(row: analysis_history): AnalysisRecord {
  const result = (typeof row.result === "string" ? JSON.parse(row.result) : row.result) as Stored;
  return {
    analysisId: Number(row.analysis_id),
    deviceId: row.device_id,
    profileId: row.profile_source_id,
    driveStartTime: row.drive_start.toISOString(),
    driveEndTime: row.drive_end.toISOString(),
    status: row.status,
    triggeredBy: row.triggered_by,
    model: row.model,
    processingTimeMs: row.processing_time_ms,
    createdAt: row.created_at.toISOString(),
    completedAt: row.completed_at?.toISOString() ?? null,
    error: row.error_message,
    findings: result?.findings ?? [],
    recommendations: result?.recommendations ?? [],
    history: result?.history ?? null,
    dtcs: result?.dtcs ?? [],
  };
}
