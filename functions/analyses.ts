/**
 * GET /api/v1/analyses and GET /api/v1/analyses/{id}: analyses from
 * analysis_history, by POST /analyze and by auto-analysis, with their
 * findings, recommendations, history and trouble codes. A device key sees
 * only its own device.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../lib/http/env.ts";
import { analysisRecord, AnalysisRecordSchema } from "../lib/analysis/records.ts";
import { DeviceIdSchema, listedDevice, mayActFor } from "../lib/http/auth.ts";
import { ApiError, errorResponse as error } from "../lib/http/errors.ts";

const listRoute = createRoute({
  method: "get",
  path: "/api/v1/analyses",
  summary: "List analyses, newest first",
  tags: ["analysis"],
  request: {
    query: z.object({
      deviceId: DeviceIdSchema.optional().openapi({ description: "Defaults to a device key's device; all devices for the admin key" }),
      limit: z.coerce.number().int().min(1).max(100).default(20),
    }),
  },
  responses: {
    200: { description: "The analyses", content: { "application/json": { schema: z.object({ analyses: z.array(AnalysisRecordSchema) }) } } },
    401: error("Missing or invalid API key"),
    403: error("A device key for another device"),
    422: error("An invalid deviceId or limit"),
  },
});

const oneRoute = createRoute({
  method: "get",
  path: "/api/v1/analyses/{id}",
  summary: "One analysis",
  tags: ["analysis"],
  request: { params: z.object({ id: z.string().regex(/^\d{1,18}$/, "must be an analysis id (digits)").openapi({ example: "42" }) }) },
  responses: {
    200: { description: "The analysis", content: { "application/json": { schema: AnalysisRecordSchema } } },
    401: error("Missing or invalid API key"),
    404: error("No such analysis, or one of another device than the key's (the same answer, so ids reveal nothing)"),
    422: error("An invalid id"),
  },
});

export function registerAnalyses(app: App) {
  app.openapi(listRoute, async (c) => {
    const query = c.req.valid("query");
    const deviceId = listedDevice(c, query.deviceId);
    const rows = await c.var.deps.db.prisma.analysis_history.findMany({
      where: deviceId ? { device_id: deviceId } : {},
      orderBy: { analysis_id: "desc" },
      take: query.limit,
    });
    return c.json({ analyses: rows.map(analysisRecord) }, 200);
  });

  app.openapi(oneRoute, async (c) => {
    const { id } = c.req.valid("param");
    const row = await c.var.deps.db.prisma.analysis_history.findUnique({ where: { analysis_id: BigInt(id) } });
    if (!row || !mayActFor(c, row.device_id)) throw new ApiError(404, `Analysis ${id} not found`);
    return c.json(analysisRecord(row), 200);
  });
}
