/**
 * pino: JSON lines (what journald and `jq` want), or pino-pretty for a person
 * at a terminal: when stdout is a TTY and NODE_ENV is unset, and always with
 * NODE_ENV=development. systemd's unit sets NODE_ENV=production, so the
 * service logs JSON whatever its stdout is. Request logging lives in
 * lib/http/app.ts.
 */
import pino from "pino";
import type { Config } from "../config.ts";

export type Logger = pino.Logger;

/** pino-pretty's path, resolved here (the transport's worker would look from the working directory); undefined when it is not installed (npm ci --omit=dev). */
function prettyTarget(): string | undefined {
  try {
    return import.meta.resolve("pino-pretty");
  } catch {
    return undefined;
  }
}

export function createLogger(config: Pick<Config, "LOG_LEVEL" | "NODE_ENV">, stdoutIsTTY = process.stdout.isTTY === true): Logger {
  const pretty = config.LOG_LEVEL !== "silent" && (config.NODE_ENV === "development" || (config.NODE_ENV === undefined && stdoutIsTTY));
  const target = pretty ? prettyTarget() : undefined;
  return pino({
    level: config.LOG_LEVEL,
    // Defence in depth: no code logs headers, but if any object with one is logged, the key is masked.
    redact: { paths: ["*.headers['x-api-key']", "*.apiKey", "*.api_key", "apiKey"], censor: "[redacted]" },
    ...(target ? { transport: { target } } : {}),
  });
}
