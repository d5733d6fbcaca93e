/**
 * The types every HTTP module shares: what the app is built from (Deps) and
 * what each request carries (AppEnv). They live apart from the app factory so
 * middleware can name them without importing the factory that mounts it.
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AnalysisWorker } from "../analysis/worker.ts";
import type { Config, RequestKind } from "../config.ts";
import type { Db } from "../db/pools.ts";
import type { Clock } from "../time.ts";
import type { Logger } from "./logger.ts";
import type { Metrics } from "./metrics.ts";

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

/** One request admitted by lib/http/admission.ts: attribute it to its device once known (which may refuse it), and release it when done. */
export type Ticket = { device(deviceId: string): void; release(): void };

/** What the server takes on at once (lib/http/admission.ts). */
export type Admission = {
  /** Admits a request of `kind` (for `deviceId`, when already known) or throws a 429. */
  enter(kind: RequestKind, deviceId?: string): Ticket;
};

/** Who the request's X-API-Key (or dashboard session) belongs to. */
export type Auth = { kind: "admin" } | { kind: "device"; deviceId: string };

/** A signed-in dashboard session (lib/http/session.ts): who, its id, and the CSRF token its forms carry. */
export type Session = { auth: Auth; sid: string; csrf: string; expiresAt: Date };

export type AppEnv = {
  Variables: {
    requestId: string;
    logger: Logger;
    auth: Auth;
    /** Set when the request was authenticated by a dashboard session cookie rather than X-API-Key. */
    session?: Session;
    deps: Required<Pick<Deps, "clock">> & Deps & { startedAt: Date; metrics: Metrics; admission: Admission };
  };
};

export type App = OpenAPIHono<AppEnv>;
