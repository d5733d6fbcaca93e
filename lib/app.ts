/**
 * Builds the Hono app. The Bun and Node entries in scripts/ serve it; tests
 * call createApp() with their own dependencies.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import { requestId } from "hono/request-id";
import { matchedRoutes } from "hono/route";
import { registerFunctions } from "../functions/index.ts";
import { apiKeyAuth, type Auth } from "./auth.ts";
import type { AnalysisWorker } from "./analysis-worker.ts";
import type { Config } from "./config.ts";
import type { Db } from "./db.ts";
import { handleError, validationError } from "./errors.ts";
import type { Logger } from "./logger.ts";
import { createMetrics, type Metrics } from "./metrics.ts";
import { systemClock, type Clock } from "./time.ts";

export type Deps = {
  config: Config;
  db: Db;
  logger: Logger;
  clock?: Clock;
  /** Woken when a sync queues a drive for analysis; absent, queued drives wait for a worker elsewhere. */
  analysisWorker?: Pick<AnalysisWorker, "wake">;
  /** Overrides of health-check timeouts, so tests of a hung dependency stay quick. */
  healthTimeoutsMs?: { mysql: number; ollama: number };
};

export type AppEnv = {
  Variables: {
    requestId: string;
    logger: Logger;
    auth: Auth;
    deps: Required<Pick<Deps, "clock">> & Deps & { startedAt: Date; metrics: Metrics };
  };
};

export type App = OpenAPIHono<AppEnv>;

export function createApp(deps: Deps): App {
  const clock = deps.clock ?? systemClock;
  const resolved = { ...deps, clock, startedAt: clock.now(), metrics: createMetrics({ db: deps.db, clock, logger: deps.logger }) };
  const app: App = new OpenAPIHono<AppEnv>({
    // One validation hook, so every 422 has the same shape.
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.error);
    },
  });

  app.use("*", requestId());
  app.use("*", async (c, next) => {
    const logger = deps.logger.child({ reqId: c.var.requestId });
    c.set("logger", logger);
    c.set("deps", resolved);
    const start = performance.now();
    await next();
    const ms = performance.now() - start;
    // One line per request. The query string and headers are left out: they may carry keys.
    logger.info({ method: c.req.method, path: c.req.path, status: c.res.status, durationMs: Math.round(ms) }, "request");
    // Middleware is mounted for ALL methods; the last route of a method is the endpoint that matched.
    const route = matchedRoutes(c).findLast((r) => r.method !== "ALL")?.path ?? "unmatched";
    resolved.metrics.request(c.req.method, route, c.res.status, ms / 1000);
  });
  app.use("/api/*", apiKeyAuth());

  app.onError(handleError);
  app.notFound((c) => c.json({ detail: "Not found" }, 404));
  registerFunctions(app);
  return app;
}
