/**
 * GET /api/v1/drives/{deviceId}/{driveId}: one drive with its summary, its
 * per-parameter statistics, its rule-based findings and its latest analysis
 * (with the history and trouble codes that analysis saw). Another device's
 * drive is 404 for a device key, as a drive that does not exist is.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../lib/http/env.ts";
import { FindingSchema } from "../lib/analysis/analyze.ts";
import { analysisRecord, AnalysisRecordSchema } from "../lib/analysis/records.ts";
import { DeviceIdSchema } from "../lib/http/auth.ts";
import { ApiError, errorResponse as error } from "../lib/http/errors.ts";
import { DriveIdSchema, DriveSchema, getDrive, ParameterStatsSchema } from "../lib/drives/list.ts";

const DriveDetail = DriveSchema.omit({ analysis: true })
  .extend({
    parameters: z.array(ParameterStatsSchema).openapi({ description: "Per-parameter statistics of the stored summary; empty until it is computed" }),
    findings: z.array(FindingSchema).openapi({ description: "The rule-based findings of the stored summary" }),
    analysis: AnalysisRecordSchema.nullable().openapi({ description: "The drive's latest analysis, in full" }),
  })
  .openapi("DriveDetail");

const route = createRoute({
  method: "get",
  path: "/api/v1/drives/{deviceId}/{driveId}",
  summary: "One drive: summary, statistics, findings and latest analysis",
  tags: ["drives"],
  request: {
    params: z.object({
      deviceId: DeviceIdSchema,
      driveId: DriveIdSchema,
    }),
  },
  responses: {
    200: { description: "The drive", content: { "application/json": { schema: DriveDetail } } },
    401: error("Missing or invalid API key"),
    404: error("No such drive, or another device's drive"),
    422: error("An invalid deviceId or driveId"),
  },
});

export function registerDrive(app: App) {
  app.openapi(route, async (c) => {
    const { deviceId, driveId } = c.req.valid("param");
    const auth = c.var.auth;
    const notFound = new ApiError(404, `Drive ${driveId} of device ${deviceId} not found`);
    // A device key learns nothing of other devices: their drives do not exist for it.
    if (auth.kind === "device" && auth.deviceId !== deviceId) throw notFound;
    const { db } = c.var.deps;
    const drive = await getDrive(db.pool, deviceId, Number(driveId));
    if (!drive) throw notFound;
    const latest = drive.analysis ? await db.prisma.analysis_history.findUnique({ where: { analysis_id: BigInt(drive.analysis.analysisId) } }) : null;
    return c.json({ ...drive, analysis: latest ? analysisRecord(latest) : null }, 200);
  });
}
