/** pino, with pretty output only in development. Request logging lives in lib/http/app.ts. */
import pino from "pino";
import type { Config } from "../config.ts";

export type Logger = pino.Logger;

export function createLogger(config: Pick<Config, "LOG_LEVEL" | "NODE_ENV">): Logger {
  return pino({
    level: config.LOG_LEVEL,
    // Defence in depth: no code logs headers, but if any object with one is logged, the key is masked.
    redact: { paths: ["*.headers['x-api-key']", "*.apiKey", "*.api_key", "apiKey"], censor: "[redacted]" },
    // Resolved here: the transport's worker would otherwise look for pino-pretty from the working directory.
    ...(config.NODE_ENV === "development" ? { transport: { target: import.meta.resolve("pino-pretty") } } : {}),
  });
}
