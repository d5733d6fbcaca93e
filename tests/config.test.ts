/** lib/config.ts: defaults, `.env` under the environment, fail-fast messages that name the variable, and .env.example. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, loadConfig, loadDatabaseUrl } from "../lib/config.ts";
import { parseDotenv } from "../lib/dotenv.ts";

const KEY = "k".repeat(16);
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A directory holding `.env` with `text` (or none). */
function cwdWith(text?: string): string {
  const dir = mkdtempSync(join(tmpdir(), "obd2-config-"));
  dirs.push(dir);
  if (text !== undefined) writeFileSync(join(dir, ".env"), text);
  return dir;
}

function problems(env: Record<string, string>, cwd = cwdWith()): string {
  try {
    loadConfig(env, cwd);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error("loadConfig accepted an invalid configuration");
}

const HEADER = "Invalid configuration (environment or .env):\n";

describe("loadConfig", () => {
  test("only API_KEY set should give every default and no DATABASE_URL (the embedded default)", () => {
    expect(loadConfig({ API_KEY: KEY }, cwdWith())).toEqual({
      API_KEY: KEY,
      OLLAMA_BASE_URL: "http://localhost:11434",
      OLLAMA_MODEL: "gemma2:2b",
      BACKUP_DIR: "./data/backups",
      PORT: 8000,
      LOG_LEVEL: "info",
      MAX_BACKUP_SIZE_MB: 100,
      BACKUP_RETENTION_COUNT: 30,
      MAX_SYNC_PAYLOAD_MB: 10,
      ANALYSIS_TIMEOUT_SECONDS: 120,
      ANALYSIS_POLL_SECONDS: 5,
      ANALYSIS_RETRY_SECONDS: 30,
      ANALYSIS_MAX_ATTEMPTS: 5,
      ANALYSIS_MAX_READINGS: 1_000_000,
      ANALYSIS_ENABLED: true,
      DRIVE_IDLE_CLOSE_MINUTES: 30,
      DRIVE_SETTLE_SECONDS: 60,
      METRICS_PUBLIC: false,
      METRICS_MAX_DEVICES: 50,
      MAX_REQUEST_MEMORY_MB: 256,
      SHUTDOWN_DRAIN_SECONDS: 10,
      SESSION_DAYS: 30,
      TRUST_PROXY: false,
    });
  });

  test("a MAX_REQUEST_MEMORY_MB that cannot hold the worker's analysis and one more request should be refused, naming what it needs", () => {
    expect(problems({ API_KEY: KEY, MAX_REQUEST_MEMORY_MB: "100" })).toBe(
      `${HEADER}  MAX_REQUEST_MEMORY_MB: must be at least 172 to hold the analysis worker's analysis and one more request (an analysis is 86 MB for ANALYSIS_MAX_READINGS, a sync body 40 MB for MAX_SYNC_PAYLOAD_MB, a backup upload 32 MB)`,
    );
    expect(loadConfig({ API_KEY: KEY, MAX_REQUEST_MEMORY_MB: "100", ANALYSIS_MAX_READINGS: "200000" }, cwdWith()).MAX_REQUEST_MEMORY_MB).toBe(100);
  });

  test("a missing API_KEY should stop start-up naming API_KEY", () => {
    expect(problems({})).toBe(`${HEADER}  API_KEY: is required`);
  });

  test("a short API_KEY should be refused", () => {
    expect(problems({ API_KEY: "short" })).toBe(`${HEADER}  API_KEY: must be at least 16 characters`);
  });

  test("PORT=abc should be refused naming PORT", () => {
    expect(problems({ API_KEY: KEY, PORT: "abc" })).toBe(`${HEADER}  PORT: Invalid input: expected number, received NaN`);
  });

  test("every invalid variable should be named at once", () => {
    const env = {
      DATABASE_URL: "postgres://u:p@db/obd2",
      OLLAMA_BASE_URL: "not a url",
      PORT: "70000",
      LOG_LEVEL: "loud",
      MAX_BACKUP_SIZE_MB: "0",
      BACKUP_RETENTION_COUNT: "2.5",
      MAX_SYNC_PAYLOAD_MB: "-1",
      ANALYSIS_TIMEOUT_SECONDS: "soon",
      ANALYSIS_MAX_ATTEMPTS: "0",
      ANALYSIS_ENABLED: "no",
      METRICS_PUBLIC: "yes",
      NODE_ENV: "staging",
    };
    expect(problems(env)).toBe(
      HEADER +
        [
          "  DATABASE_URL: must be a mysql:// URL, e.g. mysql://user:pass@127.0.0.1:3306/obd2",
          "  API_KEY: is required",
          "  OLLAMA_BASE_URL: Invalid URL",
          "  PORT: Too big: expected number to be <=65535",
          '  LOG_LEVEL: Invalid option: expected one of "fatal"|"error"|"warn"|"info"|"debug"|"trace"|"silent"',
          "  MAX_BACKUP_SIZE_MB: Too small: expected number to be >0",
          "  BACKUP_RETENTION_COUNT: Invalid input: expected int, received number",
          "  MAX_SYNC_PAYLOAD_MB: Too small: expected number to be >0",
          "  ANALYSIS_TIMEOUT_SECONDS: Invalid input: expected number, received NaN",
          "  ANALYSIS_MAX_ATTEMPTS: Too small: expected number to be >0",
          "  ANALYSIS_ENABLED: must be true or false",
          "  METRICS_PUBLIC: must be true or false",
          '  NODE_ENV: Invalid option: expected one of "development"|"production"|"test"',
        ].join("\n"),
    );
  });

  test("values should come from .env, with the environment winning", () => {
    const cwd = cwdWith(`API_KEY=${KEY}\nPORT=9000\nOLLAMA_MODEL=llama3\n`);
    const config = loadConfig({ PORT: "9100", DATABASE_URL: "mysql://u:p@127.0.0.1:3306/obd2" }, cwd);
    expect(config).toMatchObject({ API_KEY: KEY, PORT: 9100, OLLAMA_MODEL: "llama3", DATABASE_URL: "mysql://u:p@127.0.0.1:3306/obd2" });
  });

  test("an invalid value in .env should be named like one in the environment", () => {
    expect(problems({}, cwdWith(`API_KEY=${KEY}\nMAX_SYNC_PAYLOAD_MB=lots\n`))).toBe(
      `${HEADER}  MAX_SYNC_PAYLOAD_MB: Invalid input: expected number, received NaN`,
    );
  });

  test("an empty value should mean unset, so the default applies", () => {
    const config = loadConfig({ PORT: "" }, cwdWith(`API_KEY=${KEY}\nDATABASE_URL=\nOLLAMA_MODEL=\n`));
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.PORT).toBe(8000);
    expect(config.OLLAMA_MODEL).toBe("gemma2:2b");
  });
});

describe("parseDotenv", () => {
  test("should read KEY=VALUE lines with comments, export, quotes and spaces", () => {
    const text = [
      "# a comment",
      "",
      "export API_KEY=abc",
      "  PORT = 8080   # trailing comment",
      'OLLAMA_MODEL="gemma2:2b # not a comment"',
      "BACKUP_DIR='./my backups'",
      "DATABASE_URL=mysql://u:p%23x@h/db",
      "not a line",
    ].join("\r\n");
    expect(parseDotenv(text)).toEqual({
      API_KEY: "abc",
      PORT: "8080",
      OLLAMA_MODEL: "gemma2:2b # not a comment",
      BACKUP_DIR: "./my backups",
      DATABASE_URL: "mysql://u:p%23x@h/db",
    });
  });
});

describe("loadDatabaseUrl", () => {
  test("should need only DATABASE_URL, for the migrate, device and studio tools", () => {
    expect(loadDatabaseUrl({ DATABASE_URL: "mysql://u:p@h:3306/db" }, cwdWith())).toBe("mysql://u:p@h:3306/db");
    expect(loadDatabaseUrl({}, cwdWith())).toBeUndefined();
  });

  test("an invalid DATABASE_URL should be named", () => {
    expect(() => loadDatabaseUrl({ DATABASE_URL: "sqlite:obd2.db" }, cwdWith())).toThrow(
      `${HEADER}  DATABASE_URL: must be a mysql:// URL, e.g. mysql://user:pass@127.0.0.1:3306/obd2`,
    );
  });
});

describe(".env.example", () => {
  const example = readFileSync(new URL("../.env.example", import.meta.url), "utf8");
  const everyVariable = Object.keys(loadConfig({ API_KEY: KEY, DATABASE_URL: "mysql://h/db", READONLY_DATABASE_URL: "mysql://r@h/db", NODE_ENV: "test" }, cwdWith())).sort();

  test("should name exactly the configuration's variables", () => {
    expect(Object.keys(parseDotenv(example)).sort()).toEqual(everyVariable);
  });

  test("should explain every variable in a comment line right above it", () => {
    const lines = example.split("\n");
    for (const name of everyVariable) {
      const at = lines.findIndex((l) => l.startsWith(`${name}=`));
      expect({ name, above: lines[at - 1]?.startsWith("# ") }).toEqual({ name, above: true });
    }
  });

  test("copied to .env with an API_KEY should change nothing but the key", () => {
    const copied = cwdWith(example.replace(/^API_KEY=.*$/m, `API_KEY=${KEY}`));
    expect(loadConfig({}, copied)).toEqual(loadConfig({ API_KEY: KEY }, cwdWith()));
  });
});

describe("the admin key and the Pi's key, said the same way everywhere", () => {
  const read = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), "utf8");
  const apiKeyComment = read(".env.example").split("\n").find((_, i, lines) => lines[i + 1]?.startsWith("API_KEY="))!;
  // What a new user reads first: the example's comment, the README's table row, and the .env that `npm start` writes.
  const places: [string, string][] = [
    [".env.example", apiKeyComment],
    ["README.md", read("README.md").split("\n").find((l) => l.startsWith("| `API_KEY`"))!],
    ["scripts/start.ts", read("scripts/start.ts")],
  ];
  for (const [name, text] of places) {
    test(`${name}: the admin key is not for a Pi, which gets a device key from npm run device -- add <id>`, () => {
      expect(text).toContain("npm run device -- add <id>");
      expect(text).toMatch(/not for a Pi|for you and your scripts/);
      expect(text).not.toMatch(/(give|send)s? (it|this key|the admin key) (to the Pi|as COMPANION_API_KEY)/i);
    });
  }
});
