/**
 * The server's configuration: one zod schema over the environment and `.env`
 * (the environment wins). Start-up fails fast, naming every missing or invalid
 * variable. Nothing else in the server reads process.env.
 */
import { z } from "zod";
import { readDotenv } from "./dotenv.ts";

const positive = (fallback: number) => z.coerce.number().positive().default(fallback);
const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const flag = (fallback: "true" | "false") =>
  z
    .enum(["true", "false"], { error: "must be true or false" })
    .default(fallback)
    .transform((v) => v === "true");
const mysqlUrl = z.string().regex(/^(mysql|mariadb):\/\/\S+$/, "must be a mysql:// URL, e.g. mysql://user:pass@127.0.0.1:3306/obd2");

const configSchema = z.object({
  DATABASE_URL: mysqlUrl.optional(),
  /** A user with SELECT only, for `npm run studio -- --read-only` and `npm run db -- --read-only` on DATABASE_URL's database. */
  READONLY_DATABASE_URL: mysqlUrl.optional(),
  API_KEY: z.string({ error: "is required" }).min(16, "must be at least 16 characters"),
  OLLAMA_BASE_URL: z.url().default("http://localhost:11434"),
  OLLAMA_MODEL: z.string().min(1).default("gemma2:2b"),
  BACKUP_DIR: z.string().min(1).default("./data/backups"),
  PORT: z.coerce.number().int().min(1).max(65535).default(8000),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  MAX_BACKUP_SIZE_MB: positive(100),
  BACKUP_RETENTION_COUNT: positiveInt(30),
  MAX_SYNC_PAYLOAD_MB: positive(10),
  ANALYSIS_TIMEOUT_SECONDS: positive(120),
  ANALYSIS_POLL_SECONDS: positive(5),
  ANALYSIS_RETRY_SECONDS: positive(30),
  ANALYSIS_MAX_ATTEMPTS: positiveInt(5),
  ANALYSIS_MAX_READINGS: positiveInt(1_000_000),
  ANALYSIS_ENABLED: flag("true"),
  DRIVE_IDLE_CLOSE_MINUTES: positive(30),
  DRIVE_SETTLE_SECONDS: z.coerce.number().min(0).default(60),
  METRICS_PUBLIC: flag("false"),
  SHUTDOWN_DRAIN_SECONDS: positive(10),
  SESSION_DAYS: z.coerce.number().positive().max(400, "must be at most 400 (browsers keep a cookie no longer)").default(30),
  TRUST_PROXY: flag("false"),
  // Unset: pretty logs on a terminal, JSON otherwise (lib/http/logger.ts).
  NODE_ENV: z.enum(["development", "production", "test"]).optional(),
});

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

/** `env` over the `.env` file in `cwd`. An empty value means unset, as in a blank `DATABASE_URL=`. */
function readEnv(env: Env, cwd: string): Env {
  const merged: Env = readDotenv(`${cwd}/.env`);
  for (const [k, v] of Object.entries(env)) if (v !== undefined) merged[k] = v;
  for (const k of Object.keys(merged)) if (merged[k] === "") delete merged[k];
  return merged;
}

function parseOrThrow<T extends z.ZodType>(schema: T, env: Env): z.infer<T> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new ConfigError(`Invalid configuration (environment or .env):\n${problems.join("\n")}`);
  }
  return parsed.data;
}

/** Loads the configuration from `env` over `.env` in `cwd`; throws ConfigError naming each bad variable. */
export function loadConfig(env: Env = process.env, cwd = process.cwd()): Config {
  return parseOrThrow(configSchema, readEnv(env, cwd));
}

/** Just DATABASE_URL, for tools that need only the database (migrate, device, studio, db). */
export function loadDatabaseUrl(env: Env = process.env, cwd = process.cwd()): string | undefined {
  return parseOrThrow(configSchema.pick({ DATABASE_URL: true }), readEnv(env, cwd)).DATABASE_URL;
}

/** Just READONLY_DATABASE_URL, for the --read-only tools on an external database. */
export function loadReadOnlyDatabaseUrl(env: Env = process.env, cwd = process.cwd()): string | undefined {
  return parseOrThrow(configSchema.pick({ READONLY_DATABASE_URL: true }), readEnv(env, cwd)).READONLY_DATABASE_URL;
}
