/**
 * The bare Hono app: request id, the request log and metrics, API-key auth,
 * and one error handler, with no endpoints. functions/index.ts mounts them on
 * it (createApp), so this layer never reaches up into the one above.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import { requestId } from "hono/request-id";
import { matchedRoutes } from "hono/route";
import { createAdmission } from "./admission.ts";
import { apiKeyAuth } from "./auth.ts";
import type { App, AppEnv, Deps } from "./env.ts";
import { handleError, validationError } from "./errors.ts";
import { createMetrics } from "./metrics.ts";
import { systemClock } from "../time.ts";

export function newApp(deps: Deps): App {
  const clock = deps.clock ?? systemClock;
  const resolved = {
    ...deps,
    clock,
    startedAt: clock.now(),
    metrics: createMetrics({ db: deps.db, clock, logger: deps.logger, maxDevices: deps.config.METRICS_MAX_DEVICES }),
    admission: createAdmission(deps.config, { worker: deps.analysisWorker !== undefined }),
  };
  const app: App = new OpenAPIHono<AppEnv>({
    // One validation hook, so every 422 has the same shape.
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.error);
    },
  });

  // A client may name its request (to find it in both logs), within the id's own bounds: at most
  // 64 characters of [A-Za-z0-9_=-]. Anything else is replaced by a fresh UUID, never echoed.
  app.use("*", requestId({ limitLength: 64 }));
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
  return app;
}
