/**
 * Start-up shared by the Bun and Node entries: configuration (fail fast),
 * the database (the embedded default when DATABASE_URL is unset), migrations,
 * then the app.
 */
import { createApp, type App } from "./app.ts";
import { sweepStaleUploads } from "./backup-store.ts";
import { ConfigError, loadConfig, type Config } from "./config.ts";
import { createDb } from "./db.ts";
import { startEmbeddedDb } from "./embedded-db.ts";
import { createLogger, type Logger } from "./logger.ts";
import { migrate } from "./migrate.ts";

export type Booted = { app: App; config: Config; logger: Logger; shutdown(): Promise<void> };

export async function boot(): Promise<Booted> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(err.message);
    process.exit(2);
  }
  const logger = createLogger(config);
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
  const app = createApp({ config, db, logger });
  return {
    app,
    config,
    logger,
    async shutdown() {
      await db.close();
      await embedded?.stop();
    },
  };
}

/** Logs where to look, and stops cleanly on SIGINT/SIGTERM. */
export function announce({ config, logger, shutdown }: Booted, stopListening: () => void) {
  const base = `http://localhost:${config.PORT}`;
  logger.info(`OBD2-Server listening on ${base}  API docs: ${base}/docs  health: ${base}/api/v1/health`);
  const stop = async (signal: string) => {
    logger.info({ signal }, "shutting down");
    stopListening();
    await shutdown();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
