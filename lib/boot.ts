/**
 * Start-up shared by the Bun and Node entries: configuration (fail fast),
 * the database (the embedded default when DATABASE_URL is unset), migrations,
 * then the app.
 */
import { startAnalysisWorker, type AnalysisWorker } from "./analysis/worker.ts";
import { sweepStaleUploads } from "./backup/store.ts";
import { ConfigError, loadConfig, requestCostsMb, type Config } from "./config.ts";
import { createDb } from "./db/pools.ts";
import { startEmbeddedDb } from "./db/embedded.ts";
import type { App, Deps } from "./http/env.ts";
import { createLogger, type Logger } from "./http/logger.ts";
import { migrate } from "./db/migrate.ts";

export type Booted = { app: App; config: Config; logger: Logger; analysisWorker: AnalysisWorker; shutdown(o?: { quiet?: boolean }): Promise<void> };

/** `createApp` builds the app with its endpoints (functions/index.ts); lib/ only knows its type. */
export async function boot(createApp: (deps: Deps) => App): Promise<Booted> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(err.message);
    process.exit(2);
  }
  const logger = createLogger(config);
  const costs = requestCostsMb(config);
  logger.info(
    { maxRequestMemoryMb: config.MAX_REQUEST_MEMORY_MB, syncBodyMb: costs.sync, analysisMb: costs.analysis, backupUploadMb: costs.backup },
    "request memory budget: what one request of each kind reserves from MAX_REQUEST_MEMORY_MB (the analysis worker holds one analysis' worth)",
  );
  const embedded = config.DATABASE_URL ? undefined : await startEmbeddedDb(process.cwd(), (msg) => logger.info(msg));
  const url = config.DATABASE_URL ?? embedded!.url;
  try {
    const applied = await migrate(url);
    if (applied.length) logger.info({ applied }, "migrations applied");
  } catch (err) {
    // Don't leave a MariaDB we started running behind a server that never came up.
    await embedded?.stop();
    throw err;
  }
  // Uploads cut off by a crash or restart leave temp files; they are never backups.
  const swept = sweepStaleUploads(config.BACKUP_DIR);
  if (swept.length) logger.warn({ files: swept.length }, "removed unfinished backup uploads");
  const db = createDb(url);
  const analysisWorker = startAnalysisWorker({ config, db, logger });
  const app = createApp({ config, db, logger, analysisWorker });
  return {
    app,
    config,
    logger,
    analysisWorker,
    async shutdown({ quiet = false } = {}) {
      const step = (msg: string) => quiet || logger.info(msg);
      await analysisWorker.stop();
      step("analysis worker stopped");
      await db.close();
      step("database pools closed");
      if (embedded) {
        await embedded.stop();
        step("embedded MariaDB stopped");
      }
    },
  };
}

/**
 * When listening failed because PORT is taken: stops what boot started (the
 * embedded MariaDB too), says so in one line naming the port and PORT, and
 * exits 1. Any other error is left to the caller.
 */
export async function exitIfPortInUse({ config, logger, shutdown }: Booted, err: unknown): Promise<void> {
  if ((err as { code?: string })?.code !== "EADDRINUSE") return;
  await shutdown({ quiet: true }).catch(() => {});
  logger.fatal(`port ${config.PORT} is already in use (another OBD2-Server, or another program); stop that, or set PORT in .env to a free port`);
  process.exit(1);
}

/** The HTTP server, as each entry's runtime provides it. */
export type Listener = {
  /** Stops accepting connections; resolves once the requests in flight have finished and every connection is closed. */
  close(): Promise<void>;
  /** Cuts the connections still open. */
  forceClose(): void;
};

/**
 * Logs where to look, and stops cleanly on SIGINT/SIGTERM: no new
 * connections, requests in flight get SHUTDOWN_DRAIN_SECONDS to finish (a
 * /sync cut off then rolls back whole), then the worker, the pools and the
 * embedded MariaDB stop, and the process exits 0.
 */
export function announce({ config, logger, shutdown, analysisWorker }: Booted, listener: Listener) {
  const base = `http://localhost:${config.PORT}`;
  logger.info(`OBD2-Server listening on ${base}  dashboard: ${base}/  API docs: ${base}/docs  health: ${base}/api/v1/health`);
  const stop = async (signal: string) => {
    const drained = listener.close();
    // The worker winds down alongside the drain, so its grace does not add to it.
    void analysisWorker.stop(config.SHUTDOWN_DRAIN_SECONDS * 1000);
    logger.info({ signal, drainSeconds: config.SHUTDOWN_DRAIN_SECONDS }, "shutting down: stopped accepting connections");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<"deadline">((resolve) => (timer = setTimeout(resolve, config.SHUTDOWN_DRAIN_SECONDS * 1000, "deadline")));
    if ((await Promise.race([drained, deadline])) === "deadline") {
      logger.warn("requests still in flight at the drain deadline; closing their connections");
      listener.forceClose();
    } else {
      clearTimeout(timer);
      logger.info("requests in flight finished");
    }
    try {
      await shutdown();
    } catch (err) {
      logger.error({ err }, "shutdown failed");
      process.exit(1);
    }
    logger.info("stopped");
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
