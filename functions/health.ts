import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../lib/http/env.ts";
import { jobCounts, queueSize } from "../lib/analysis/jobs.ts";
import { driveCount } from "../lib/drives/list.ts";
import { ollamaStatus } from "../lib/analysis/ollama.ts";
import { formatUptime, withTimeout } from "../lib/time.ts";
import { version } from "../lib/version.ts";

const Health = z.object({
  status: z.enum(["healthy", "degraded", "unhealthy"]),
  version: z.string(),
  components: z.object({
    api: z.literal("up"),
    mysql: z.enum(["up", "down"]),
    ollama: z.enum(["up", "down"]),
    ollamaModel: z.string().openapi({ description: 'The model name when Ollama lists it, "not_loaded" when not, "unknown" when Ollama is down' }),
  }),
  lastSync: z
    .object({ batchId: z.string(), deviceId: z.string(), completedAt: z.string(), rowsInserted: z.number(), rowsUpdated: z.number() })
    .nullable(),
  analysisQueue: z.int().nullable().openapi({ description: "Drives waiting for auto-analysis or being analysed (jobs pending or running); null when MySQL is down" }),
  lastAnalysis: z
    .object({ analysisId: z.int(), deviceId: z.string(), status: z.enum(["pending", "running", "completed", "failed"]), triggeredBy: z.enum(["api", "auto"]), createdAt: z.string(), completedAt: z.string().nullable() })
    .nullable()
    .openapi({ description: "The newest analysis; null when there is none or MySQL is down" }),
  driveCount: z.int().nullable().openapi({ description: "Drives the server holds (GET /api/v1/drives); null when MySQL is down" }),
  uptime: z.string().openapi({ example: "2d 4h 30m" }),
});

const route = createRoute({
  method: "get",
  path: "/api/v1/health",
  summary: "Component health; always answers within 5 s",
  description: "unhealthy (503) when MySQL is down; degraded when Ollama or its model is missing.",
  tags: ["status"],
  security: [],
  responses: {
    200: { description: "healthy or degraded", content: { "application/json": { schema: Health } } },
    503: { description: "unhealthy", content: { "application/json": { schema: Health } } },
  },
});

// The budget: each check runs in parallel under its own bound, so the whole answer stays under 5 s.
const TIMEOUTS_MS = { mysql: 3000, ollama: 4500 };

export function registerHealth(app: App) {
  app.openapi(route, async (c) => {
    const { config, db, clock, startedAt, healthTimeoutsMs = TIMEOUTS_MS } = c.var.deps;
    const mysqlCheck = withTimeout(
      (async () => {
        await db.pool.query("SELECT 1");
        const [last, counts, analysis, drives] = await Promise.all([
          db.prisma.sync_history.findFirst({ where: { status: "success" }, orderBy: { completed_at: "desc" } }),
          jobCounts(db.pool),
          db.prisma.analysis_history.findFirst({ orderBy: { analysis_id: "desc" } }),
          driveCount(db.pool),
        ]);
        return { last, queue: queueSize(counts), analysis, drives };
      })(),
      healthTimeoutsMs.mysql,
    ).then(
      (read) => ({ up: true as const, ...read }),
      (err) => {
        c.var.logger.warn({ err: String(err) }, "health: mysql check failed");
        return { up: false as const, last: null, queue: null, analysis: null, drives: null };
      },
    );
    const [mysql, ollama] = await Promise.all([mysqlCheck, ollamaStatus(config.OLLAMA_BASE_URL, config.OLLAMA_MODEL, healthTimeoutsMs.ollama)]);
    const status = !mysql.up ? "unhealthy" : ollama.ollamaModel === config.OLLAMA_MODEL ? "healthy" : "degraded";
    const last = mysql.last;
    const body = {
      status,
      version,
      components: { api: "up" as const, mysql: mysql.up ? ("up" as const) : ("down" as const), ...ollama },
      lastSync: last
        ? {
            batchId: last.batch_id,
            deviceId: last.device_id,
            completedAt: (last.completed_at ?? last.started_at).toISOString(),
            rowsInserted: last.rows_inserted,
            rowsUpdated: last.rows_updated,
          }
        : null,
      analysisQueue: mysql.queue,
      lastAnalysis: mysql.analysis
        ? {
            analysisId: Number(mysql.analysis.analysis_id),
            deviceId: mysql.analysis.device_id,
            status: mysql.analysis.status,
            triggeredBy: mysql.analysis.triggered_by,
            createdAt: mysql.analysis.created_at.toISOString(),
            completedAt: mysql.analysis.completed_at?.toISOString() ?? null,
          }
        : null,
      driveCount: mysql.drives,
      uptime: formatUptime(clock.now().getTime() - startedAt.getTime()),
    } as const;
    return status === "unhealthy" ? c.json(body, 503) : c.json(body, 200);
  });
}
