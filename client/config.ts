/**
 * The agent's configuration. Flags override the Pi app's shared JSON config
 * file (section `companionService`, unknown keys ignored), which overrides
 * built-in defaults. The API key is read only from COMPANION_API_KEY (the
 * environment or a .env file), never from a flag or the config file, and is
 * never printed.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { deviceIdProblem } from "../lib/device-id.ts";
import { readDotenv } from "../lib/dotenv.ts";
import { CliError, type Flags } from "./cli.ts";

export type AgentConfig = {
  dbPath: string;
  serverUrl?: string;
  deviceId?: string;
  /** Most rows in one POST. */
  batchSize: number;
  /** Most bytes of row JSON in one POST (before gzip); the server refuses bodies over MAX_SYNC_PAYLOAD_MB (10 MB). */
  maxChunkBytes: number;
  intervalSeconds: number;
  pingTimeoutMs: number;
  requestTimeoutMs: number;
  /** Retries of network errors, 5xx and 429 allowed in one run, across all requests. */
  retries: number;
  retryBaseMs: number;
  /** The config file that was read, if one was. */
  configFile?: string;
};

export const DEFAULTS = {
  config: "./obd_config.json",
  dbPath: "./data/obd.db",
  batchSize: 5000,
  maxChunkBytes: 4 * 1024 * 1024,
  // New rows reach the server within a minute of being logged: at most one interval plus one push.
  intervalSeconds: 30,
  pingSeconds: 3,
  requestSeconds: 60,
  retries: 6,
  retryBaseSeconds: 1,
} as const;

const MAX_BATCH_SIZE = 50_000;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

function readConfigFile(path: string, explicit: boolean): Json | undefined {
  if (!existsSync(path)) {
    if (!explicit) return undefined;
    throw new CliError(`config file not found: ${path}`, "pass an existing file with --config, or leave --config out to use flags and defaults");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new CliError(`config file ${path} is not valid JSON (${(err as Error).message})`, `fix the JSON in ${path}`);
  }
  if (!isObject(parsed)) throw new CliError(`config file ${path} must hold a JSON object`, `fix ${path}`);
  return parsed;
}

/** Reads one setting, naming it and its source when it is invalid. */
class Settings {
  constructor(
    private readonly values: Json,
    private readonly where: string,
  ) {}

  private fail(key: string, rule: string, value: unknown): never {
    throw new CliError(`${this.where}${key} ${rule} (got ${JSON.stringify(value)})`, `fix ${this.where}${key}`);
  }

  string(key: string, check?: (s: string) => string | undefined): string | undefined {
    const v = this.values[key];
    if (v === undefined || v === null || v === "") return undefined;
    if (typeof v !== "string") this.fail(key, "must be a string", v);
    const problem = check?.(v);
    if (problem) this.fail(key, problem, v);
    return v;
  }

  number(key: string, { min, max, int = false }: { min: number; max: number; int?: boolean }): number | undefined {
    const raw = this.values[key];
    if (raw === undefined || raw === null || raw === "") return undefined;
    const v = typeof raw === "string" ? Number(raw) : raw;
    if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max || (int && !Number.isInteger(v))) {
      this.fail(key, `must be ${int ? "a whole number" : "a number"} from ${min} to ${max}`, raw);
    }
    return v;
  }

  section(key: string): Settings {
    const v = this.values[key];
    return new Settings(isObject(v) ? v : {}, `${this.where}${key}.`);
  }
}

/** The server's base URL: without trailing slashes, and without the /api/v1 a URL copied from the API docs ends with. */
const baseUrl = (url: string | undefined) => url?.replace(/\/+$/, "").replace(/\/api\/v1$/i, "");

const checkUrl = (s: string) => (/^https?:\/\/[^\s/]+/.test(s) ? undefined : "must be an http:// or https:// URL");
const checkDevice = deviceIdProblem;

/** Resolves flags over the config file over defaults. */
export function loadConfig(flags: Flags, cwd = process.cwd()): AgentConfig {
  const configPath = resolve(cwd, flags.config ?? DEFAULTS.config);
  const file = readConfigFile(configPath, flags.config !== undefined);
  const fileLabel = `config file ${flags.config ?? DEFAULTS.config}: `;
  // The Pi app keeps its sections at the top level or, in newer versions, under `pi`.
  const root = new Settings(file ?? {}, fileLabel);
  const pi = root.section("pi");
  const section = isObject(file?.companionService) ? root.section("companionService") : pi.section("companionService");
  const timeouts = section.section("timeouts");
  const appDb = pi.section("database").string("path") ?? root.section("database").string("path");
  const cli = new Settings(flags as Json, "--");

  const requestSeconds = timeouts.number("requestSeconds", { min: 0.01, max: 3600 }) ?? section.number("syncTimeoutSeconds", { min: 0.01, max: 3600 });
  return {
    dbPath: flags.db ? resolve(cwd, flags.db) : appDb ? resolve(dirname(configPath), appDb) : resolve(cwd, DEFAULTS.dbPath),
    serverUrl: baseUrl(cli.string("server", checkUrl) ?? section.string("baseUrl", checkUrl)),
    deviceId: cli.string("device-id", checkDevice) ?? section.string("deviceId", checkDevice) ?? root.string("deviceId", checkDevice),
    batchSize: cli.number("batch-size", { min: 1, max: MAX_BATCH_SIZE, int: true }) ?? section.number("batchSize", { min: 1, max: MAX_BATCH_SIZE, int: true }) ?? DEFAULTS.batchSize,
    maxChunkBytes: section.number("maxChunkBytes", { min: 1024, max: 64 * 1024 * 1024, int: true }) ?? DEFAULTS.maxChunkBytes,
    intervalSeconds: section.number("intervalSeconds", { min: 0.01, max: 86_400 }) ?? DEFAULTS.intervalSeconds,
    pingTimeoutMs: 1000 * (timeouts.number("pingSeconds", { min: 0.01, max: 600 }) ?? DEFAULTS.pingSeconds),
    requestTimeoutMs: 1000 * (requestSeconds ?? DEFAULTS.requestSeconds),
    retries: section.number("retries", { min: 0, max: 1000, int: true }) ?? DEFAULTS.retries,
    retryBaseMs: 1000 * (section.number("retryBaseSeconds", { min: 0, max: 600 }) ?? DEFAULTS.retryBaseSeconds),
    configFile: file ? configPath : undefined,
  };
}

/** The server and device a push needs; a usage error naming the flag when either is missing. */
export function requireTarget(config: AgentConfig): { serverUrl: string; deviceId: string } {
  if (!config.serverUrl) {
    throw new CliError("no server URL configured", "pass --server http://<server>:8000, or set companionService.baseUrl in obd_config.json");
  }
  if (!config.deviceId) {
    throw new CliError("no device id configured", "pass --device-id <id>, or set companionService.deviceId in obd_config.json");
  }
  return { serverUrl: config.serverUrl, deviceId: config.deviceId };
}

/** COMPANION_API_KEY from a .env file, or undefined. */
const keyFromEnvFile = (path: string) => readDotenv(path).COMPANION_API_KEY || undefined;

/**
 * COMPANION_API_KEY from the environment, else from `.env` in the working
 * directory, else from `.env` next to the config file.
 */
export function loadApiKey(config: AgentConfig, env: Record<string, string | undefined> = process.env, cwd = process.cwd()): string {
  const key =
    env.COMPANION_API_KEY ||
    keyFromEnvFile(resolve(cwd, ".env")) ||
    (config.configFile ? keyFromEnvFile(resolve(dirname(config.configFile), ".env")) : undefined);
  if (!key) {
    throw new CliError(
      "no API key: COMPANION_API_KEY is not set",
      "set COMPANION_API_KEY in the environment or in a .env file (the key comes from `npm run device -- add <id>` on the server; it is never a flag)",
    );
  }
  return key;
}
