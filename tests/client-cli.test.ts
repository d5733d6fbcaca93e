/**
 * The agent's command line: configuration precedence, the API key's
 * sources, usage errors and exit codes, a device key, and the same agent
 * under Node and as the compiled x64 binary.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { CliError } from "../client/cli.ts";
import { DEFAULTS, loadApiKey, loadConfig } from "../client/config.ts";
import { openDb } from "../client/sqlite.ts";
import { newDeviceKey } from "../lib/http/auth.ts";
import { ensureClientBinary } from "../scripts/build-client.ts";
import { API_KEY } from "./helpers/app.ts";
import { mirrorOf, piDatabase, runAgent, startServer, tempDir, writeConfig, type TempDir } from "./helpers/client-agent.ts";

let tmp: TempDir;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => tmp.remove());

const thrown = (fn: () => unknown): CliError => {
  try {
    fn();
  } catch (err) {
    if (err instanceof CliError) return err;
    throw err;
  }
  throw new Error("expected a CliError");
};

describe("configuration", () => {
  test("flags override the config file, which overrides the defaults", () => {
    writeConfig(tmp.dir, { baseUrl: "http://file:8000/", deviceId: "from-file", batchSize: 250, timeouts: { pingSeconds: 1.5, requestSeconds: 20 }, retries: 3 });
    const fromFile = loadConfig({}, tmp.dir);
    expect(fromFile).toMatchObject({
      serverUrl: "http://file:8000",
      deviceId: "from-file",
      batchSize: 250,
      pingTimeoutMs: 1500,
      requestTimeoutMs: 20_000,
      retries: 3,
      intervalSeconds: DEFAULTS.intervalSeconds,
      dbPath: tmp.path("data/obd.db"),
      configFile: tmp.path("obd_config.json"),
    });
    const flagged = loadConfig({ server: "http://flag:9000", "device-id": "from-flag", "batch-size": "40", db: "pi.db" }, tmp.dir);
    expect(flagged).toMatchObject({ serverUrl: "http://flag:9000", deviceId: "from-flag", batchSize: 40, dbPath: tmp.path("pi.db"), retries: 3 });
    expect(loadConfig({}, tmp.path("nowhere"))).toMatchObject({ serverUrl: undefined, deviceId: undefined, batchSize: 5000, requestTimeoutMs: 60_000, configFile: undefined });
  });

  test("the Pi app's own layout is understood: pi.companionService, a top-level deviceId, pi.database.path; other keys are ignored", () => {
    writeFileSync(
      tmp.path("obd_config.json"),
      JSON.stringify({
        deviceId: "chi-eclipse-01",
        display: { brightness: 80 },
        pi: { database: { path: "db/eclipse.db" }, companionService: { enabled: true, baseUrl: "http://10.27.27.10:8000", apiKeyEnv: "COMPANION_API_KEY", syncTimeoutSeconds: 30 } },
      }),
    );
    expect(loadConfig({}, tmp.dir)).toMatchObject({
      serverUrl: "http://10.27.27.10:8000",
      deviceId: "chi-eclipse-01",
      requestTimeoutMs: 30_000,
      dbPath: tmp.path("db/eclipse.db"),
    });
  });

  test("an invalid setting names the file and the key", () => {
    writeConfig(tmp.dir, { batchSize: "lots" });
    expect(thrown(() => loadConfig({}, tmp.dir))).toMatchObject({
      message: 'config file ./obd_config.json: companionService.batchSize must be a whole number from 1 to 50000 (got "lots")',
      hint: "fix config file ./obd_config.json: companionService.batchSize",
      exitCode: 2,
    });
    expect(thrown(() => loadConfig({ "device-id": "no spaces" }, tmp.dir)).message).toBe(
      `--device-id must be 1-64 characters of A-Z, a-z, 0-9, _ . - (got "no spaces")`,
    );
  });

  test("the API key comes from the environment, then .env here, then .env next to the config file", () => {
    const configDir = tempDir();
    try {
      writeConfig(configDir.dir, {});
      const config = loadConfig({ config: configDir.path("obd_config.json") }, tmp.dir);
      expect(thrown(() => loadApiKey(config, {}, tmp.dir)).message).toBe("no API key: COMPANION_API_KEY is not set");
      writeFileSync(configDir.path(".env"), "# the Pi's secrets\nCOMPANION_API_KEY='next-to-config'\n");
      expect(loadApiKey(config, {}, tmp.dir)).toBe("next-to-config");
      writeFileSync(tmp.path(".env"), "OTHER=1\nexport COMPANION_API_KEY=from-cwd # comment\n");
      expect(loadApiKey(config, {}, tmp.dir)).toBe("from-cwd");
      expect(loadApiKey(config, { COMPANION_API_KEY: "from-env" }, tmp.dir)).toBe("from-env");
    } finally {
      configDir.remove();
    }
  });
});

describe("usage errors exit 2 with Error and Try", () => {
  const cases: [string, string[], string][] = [
    ["no command", [], ""],
    ["an unknown command", ["sync"], "Error: unknown command 'sync'\nTry: obd2-sync --help\n"],
    ["an unknown flag", ["push", "--force"], "Error: push: Unknown option '--force'\nTry: obd2-sync push --help\n"],
    ["a bad batch size", ["push", "--batch-size", "0"], 'Error: --batch-size must be a whole number from 1 to 50000 (got "0")\nTry: fix --batch-size\n'],
    ["no server", ["push", "--device-id", "pi"], "Error: no server URL configured\nTry: pass --server http://<server>:8000, or set companionService.baseUrl in obd_config.json\n"],
    [
      "no API key",
      ["push", "--server", "http://127.0.0.1:9", "--device-id", "pi"],
      "Error: no API key: COMPANION_API_KEY is not set\nTry: set COMPANION_API_KEY in the environment or in a .env file (the key comes from `npm run device -- add <id>` on the server; it is never a flag)\n",
    ],
    ["a missing database", ["status", "--db", "missing.db"], "Error: database not found: <tmp>/missing.db\nTry: pass --db /path/to/the/pi/database.db, or set pi.database.path in obd_config.json\n"],
    ["a missing config file", ["status", "--config", "nope.json"], "Error: config file not found: <tmp>/nope.json\nTry: pass an existing file with --config, or leave --config out to use flags and defaults\n"],
  ];
  for (const [name, args, stderr] of cases) {
    test(name, async () => {
      const run = await runAgent(args, { cwd: tmp.dir });
      expect(run.code).toBe(2);
      if (name === "no command") expect(run.stdout).toStartWith("Usage: obd2-sync <command> [options]");
      else expect(run.stderr).toBe(stderr.replaceAll("<tmp>", tmp.dir));
    });
  }

  test("invalid JSON in the config file", async () => {
    writeFileSync(tmp.path("obd_config.json"), "{ companionService: ");
    const run = await runAgent(["status"], { cwd: tmp.dir });
    expect(run.stderr).toMatch(/^Error: config file .*obd_config\.json is not valid JSON \(.+\)\nTry: fix .*obd_config\.json\n$/);
    expect(run.code).toBe(2);
  });

  test("--help prints a command's usage and exits 0", async () => {
    const run = await runAgent(["push", "--help"], { cwd: tmp.dir });
    expect(run.code).toBe(0);
    expect(run.stdout).toStartWith("Usage: obd2-sync push [--db PATH]");
  });
});

describe("init", () => {
  test("creates every agent table it names, and says so in text and JSON", async () => {
    const db = tmp.path("obd.db");
    piDatabase(db);
    const text = await runAgent(["init", "--db", db], { cwd: tmp.dir });
    expect(text).toEqual({
      code: 0,
      stdout:
        `Created sync_log in ${db}.\n` +
        "Agent tables ready: sync_log, sync_quarantine, sync_row_hash, sync_error, sync_conflict, sync_backup.\n" +
        "Tables to sync: calibration_sessions, realtime_data, statistics, ai_recommendations, connection_log, alert_log, profiles, vehicle_info.\n" +
        "Not in this database (skipped): dtc_log, dtc_freeze_frame, drive_summary, battery_health_log.\n",
      stderr: "",
    });
    const json = await runAgent(["init", "--db", db, "--json"], { cwd: tmp.dir });
    expect(JSON.parse(json.stdout)).toMatchObject({
      db, syncLog: "adopted", agentTables: ["sync_log", "sync_quarantine", "sync_row_hash", "sync_error", "sync_conflict", "sync_backup"],
      missing: ["dtc_log", "dtc_freeze_frame", "drive_summary", "battery_health_log"], skipped: [],
    });
    const pi = openDb(db);
    try {
      const agentTables = pi.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'sync_%' ORDER BY name").all().map((r) => r.name);
      expect(agentTables).toEqual(["sync_backup", "sync_conflict", "sync_error", "sync_log", "sync_quarantine", "sync_row_hash"]);
    } finally {
      pi.close();
    }
  });
});

describe("against the real server", () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server.stop());

  async function deviceKey(deviceId: string) {
    const { key, hash } = newDeviceKey(deviceId);
    await server.db.query("INSERT INTO devices (device_id, api_key_hash) VALUES (?, ?)", [deviceId, hash]);
    return key;
  }

  test("a device key in .env authenticates the push and never appears in any output", async () => {
    const key = await deviceKey("pi-dotenv");
    piDatabase(tmp.path("obd.db"));
    writeFileSync(tmp.path(".env"), `COMPANION_API_KEY=${key}\n`);
    writeConfig(tmp.dir, { baseUrl: server.url, deviceId: "pi-dotenv" }, { pi: { database: { path: "obd.db" } } });
    const push = await runAgent(["push"], { cwd: tmp.dir });
    expect(push.code).toBe(0);
    const status = await runAgent(["status", "--json"], { cwd: tmp.dir });
    expect(status.code).toBe(0);
    for (const out of [push.stdout, push.stderr, status.stdout, status.stderr]) expect(out).not.toContain(key.split(".")[1]!);
    const { pi, server: mysql } = await mirrorOf(server, tmp.path("obd.db"), "pi-dotenv");
    expect(mysql).toEqual(pi);
  });

  const refusals: [string, (key: string) => string, string][] = [
    ["a wrong key", () => "not-the-key-0123456789", "401 Invalid API key"],
    ["a device key used for another device", (key) => key, "403 API key not valid for device pi-other"],
  ];
  for (const [name, keyFor, answer] of refusals) {
    test(`${name} stops the push with exit 2 and moves no mark`, async () => {
      const key = keyFor(await deviceKey(`pi-owner-${name.length}`));
      piDatabase(tmp.path("obd.db"));
      const run = await runAgent(["push", "--db", "obd.db", "--server", server.url, "--device-id", "pi-other"], { cwd: tmp.dir, env: { COMPANION_API_KEY: key } });
      expect(run.stderr).toBe(
        `Error: the server refused the API key (${answer})\nTry: set COMPANION_API_KEY to a key the server accepts for this device (\`npm run device -- add <id>\` on the server)\n`,
      );
      expect(run.code).toBe(2);
      const db = openDb(tmp.path("obd.db"));
      try {
        expect(db.prepare("SELECT COUNT(*) AS n FROM sync_log WHERE last_synced_id > 0").get()).toEqual({ n: 0 });
        expect(db.prepare("SELECT COUNT(*) AS n FROM sync_row_hash").get()).toEqual({ n: 0 });
      } finally {
        db.close();
      }
    });
  }

  test("under Node, status and a small push work, and doubles arrive exactly", async () => {
    const path = tmp.path("obd.db");
    piDatabase(path);
    const tricky = [0.1 + 0.2, 1 / 3, 5e-324, 1.7976931348623157e308, 123456789.12345679, -1.5e-7, 2 ** 53 + 2, 1113.18675303187];
    const db = openDb(path);
    const insert = db.prepare("INSERT INTO realtime_data (timestamp, parameter_name, value, unit) VALUES ('2026-04-19 09:00:00.5', 'MAF', ?, 'g/s')");
    for (const v of tricky) insert.run(v);
    db.close();
    const args = ["--db", path, "--server", server.url, "--device-id", "pi-node"];
    const env = { COMPANION_API_KEY: API_KEY };
    const status = await runAgent(["status", ...args.slice(0, 2)], { cwd: tmp.dir, runtime: "node" });
    expect(status.stdout).toContain("realtime_data");
    expect(status.code).toBe(1); // rows are waiting
    const push = await runAgent(["push", "--batch-size", "100", ...args], { cwd: tmp.dir, env, runtime: "node" });
    expect(push.stderr).toBe("");
    expect(push.code).toBe(0);
    const { pi, server: mysql } = await mirrorOf(server, path, "pi-node");
    expect(mysql).toEqual(pi);
    const values = await server.db.query("SELECT value FROM realtime_data WHERE source_device = 'pi-node' AND parameter_name = 'MAF' AND unit = 'g/s' AND timestamp = '2026-04-19 09:00:00.5' ORDER BY source_id");
    expect(values.map((r: { value: number }) => r.value)).toEqual(tricky);
  });

  test("the compiled x64 binary runs status and push", async () => {
    const binary = ensureClientBinary("x64");
    const path = tmp.path("obd.db");
    piDatabase(path);
    const before = await runAgent(["status", "--db", path, "--json"], { cwd: tmp.dir, runtime: { binary } });
    expect(before.code).toBe(1);
    expect(JSON.parse(before.stdout).tables.find((t: any) => t.table === "realtime_data").backlog).toBe(780);
    const push = await runAgent(["push", "--db", path, "--server", server.url, "--device-id", "pi-binary"], { cwd: tmp.dir, env: { COMPANION_API_KEY: API_KEY }, runtime: { binary } });
    expect(push.stdout).toContain("Everything is on the server.");
    expect(push.code).toBe(0);
    const after = await runAgent(["status", "--db", path], { cwd: tmp.dir, runtime: { binary } });
    expect(after.stdout).toContain("Everything is on the server.");
    expect(after.code).toBe(0);
    const { pi, server: mysql } = await mirrorOf(server, path, "pi-binary");
    expect(mysql).toEqual(pi);
  });
});
