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
  METRICS_MAX_DEVICES: positiveInt(50),
  MAX_REQUEST_MEMORY_MB: positive(256),
  SHUTDOWN_DRAIN_SECONDS: positive(10),
  SESSION_DAYS: z.coerce.number().positive().max(400, "must be at most 400 (browsers keep a cookie no longer)").default(30),
  TRUST_PROXY: flag("false"),
  // Unset: pretty logs on a terminal, JSON otherwise (lib/http/logger.ts).
  NODE_ENV: z.enum(["development", "production", "test"]).optional(),
});

export type Config = z.infer<typeof configSchema>;

/** Memory of one /sync body in progress, as a multiple of its size: the runtime's buffer, the chunks read, the text, a few slices of rows (bench:hostile "held": 196 MB for five 9.5 MB bodies). */
const SYNC_BODY_COPIES = 4;
/** What one realtime_data reading costs an analysis (bench:analysis: 87 MB for 1,000,000). */
const BYTES_PER_READING = 90;
/** What one streamed backup upload costs (bench:backup: 28 MB for a 100 MB upload): what the runtime buffers around the stream. */
const BACKUP_UPLOAD_MB = 32;

export type RequestKind = "sync" | "analysis" | "backup";

/** The most memory one request of each kind holds, in MB, under `config`; lib/http/admission.ts reserves it from MAX_REQUEST_MEMORY_MB. */
export function requestCostsMb(config: Pick<Config, "MAX_SYNC_PAYLOAD_MB" | "ANALYSIS_MAX_READINGS">): Record<RequestKind, number> {
  // Whole megabytes, so reserving and releasing them adds up exactly.
  return {
    sync: Math.ceil(SYNC_BODY_COPIES * config.MAX_SYNC_PAYLOAD_MB),
    analysis: Math.ceil((config.ANALYSIS_MAX_READINGS * BYTES_PER_READING) / 1024 / 1024),
    backup: BACKUP_UPLOAD_MB,
  };
}

/** MAX_REQUEST_MEMORY_MB must hold the worker's analysis and one request of the costliest kind. */
function budgetProblem(config: Config): string | undefined {
  const costs = requestCostsMb(config);
  const least = costs.analysis + Math.max(costs.sync, costs.analysis, costs.backup);
  if (config.MAX_REQUEST_MEMORY_MB >= least) return undefined;
  return `must be at least ${least} to hold the analysis worker's analysis and one more request (an analysis is ${costs.analysis} MB for ANALYSIS_MAX_READINGS, a sync body ${costs.sync} MB for MAX_SYNC_PAYLOAD_MB, a backup upload ${costs.backup} MB)`;
}

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
  return parseOrThrow(
    configSchema.superRefine((config, ctx) => {
      const problem = budgetProblem(config);
      if (problem) ctx.addIssue({ code: "custom", path: ["MAX_REQUEST_MEMORY_MB"], message: problem });
    }),
    readEnv(env, cwd),
  );
}

/** Just DATABASE_URL, for tools that need only the database (migrate, device, studio, db). */
export function loadDatabaseUrl(env: Env = process.env, cwd = process.cwd()): string | undefined {
  return parseOrThrow(configSchema.pick({ DATABASE_URL: true }), readEnv(env, cwd)).DATABASE_URL;
}

/** Just READONLY_DATABASE_URL, for the --read-only tools on an external database. */
export function loadReadOnlyDatabaseUrl(env: Env = process.env, cwd = process.cwd()): string | undefined {
  return parseOrThrow(configSchema.pick({ READONLY_DATABASE_URL: true }), readEnv(env, cwd)).READONLY_DATABASE_URL;
}
