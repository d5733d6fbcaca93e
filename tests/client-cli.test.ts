/**
 * The agent's command line: configuration precedence, the API key's
 * sources, usage errors and exit codes, a device key, and the same agent
 * under Node and as the compiled x64 binary.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CliError } from "../client/cli.ts";
import { DEFAULTS, loadApiKey, loadConfig } from "../client/config.ts";
import { openDb } from "../client/sqlite.ts";
import { newDeviceKey } from "../lib/http/auth.ts";
import { TABLES } from "../lib/tables.ts";
import { version } from "../lib/version.ts";
import { ensureClientBinary } from "../scripts/build-client.ts";
import { API_KEY } from "./helpers/app.ts";
import { BUN, mirrorOf, piDatabase, ROOT, runAgent, startServer, tempDir, writeConfig, type TempDir } from "./helpers/client-agent.ts";

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
    ["a missing database", ["status", "--db", "missing.db"], "Error: database not found: <tmp>/missing.db\nTry: pass --db with the Pi's EclipseTuner database, or set pi.database.path in obd_config.json\n"],
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

describe("a --db that is not the Pi's database is named, refused with exit 2, and left untouched", () => {
  const hint = "Try: pass --db with the Pi's EclipseTuner database, or set pi.database.path in obd_config.json\n";
  /** Bytes and modification time, and the files beside it (a -journal, -wal or lock the agent would have made). */
  const fingerprint = (path: string) => ({ bytes: readFileSync(path).toString("hex"), mtimeMs: statSync(path).mtimeMs, beside: readdirSync(tmp.dir).sort() });

  const files: [string, (path: string) => void, (path: string) => string][] = [
    ["a text file", (path) => writeFileSync(path, "just some notes\n"), (path) => `Error: ${path} is not an SQLite database (file is not a database)\n${hint}`],
    [
      "an empty file",
      (path) => writeFileSync(path, ""),
      (path) => `Error: ${path} has none of the EclipseTuner tables (${TABLES.map((t) => t.name).join(", ")}), so it is not the Pi's database; it was left as it is\n${hint}`,
    ],
    [
      "an unrelated SQLite database",
      (path) => {
        const other = openDb(path, { create: true });
        other.exec("CREATE TABLE recipes (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO recipes (name) VALUES ('bread')");
        other.close();
      },
      (path) => `Error: ${path} has none of the EclipseTuner tables (${TABLES.map((t) => t.name).join(", ")}), so it is not the Pi's database; it was left as it is\n${hint}`,
    ],
  ];
  for (const [name, make, stderr] of files) {
    for (const command of ["status", "init", "push"]) {
      test(`${name}, for ${command}`, async () => {
        const path = tmp.path("wrong.db");
        make(path);
        const before = fingerprint(path);
        const run = await runAgent([command, "--db", path, "--server", "http://127.0.0.1:9", "--device-id", "pi"], { cwd: tmp.dir, env: { COMPANION_API_KEY: "k".repeat(20) } });
        expect({ code: run.code, stdout: run.stdout, stderr: run.stderr }).toEqual({ code: 2, stdout: "", stderr: stderr(path) });
        expect(fingerprint(path)).toEqual(before);
      });
    }
  }

  test("a directory", async () => {
    const run = await runAgent(["status", "--db", tmp.dir], { cwd: tmp.dir });
    expect(run).toEqual({ code: 2, stdout: "", stderr: `Error: ${tmp.dir} is a directory, not a database file\nTry: pass --db with the database file in it, e.g. --db ${tmp.path("obd.db")}\n` });
  });

  test("a path through a file", async () => {
    writeFileSync(tmp.path("notes.txt"), "x");
    const path = tmp.path("notes.txt/obd.db");
    const run = await runAgent(["status", "--db", path], { cwd: tmp.dir });
    expect(run).toEqual({ code: 2, stdout: "", stderr: `Error: database not found: ${path} (part of that path is a file, not a directory)\n${hint}` });
  });

  // A FIFO stands for the files SQLite cannot read (opening one would block): it is refused before any open.
  test("a FIFO", async () => {
    const path = tmp.path("obd.db");
    expect(Bun.spawnSync(["mkfifo", path]).exitCode).toBe(0);
    const run = await runAgent(["status", "--db", path], { cwd: tmp.dir });
    expect(run).toEqual({ code: 2, stdout: "", stderr: `Error: ${path} is a FIFO, not a database file\n${hint}` });
  });

  test("a file this user may not read (run as nobody when the tests run as root)", async () => {
    const path = tmp.path("obd.db");
    piDatabase(path);
    chmodSync(path, 0o000);
    chmodSync(tmp.dir, 0o755);
    const asRoot = process.getuid?.() === 0;
    const cmd = [...(asRoot ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : []), BUN, join(ROOT, "client/main.ts"), "status", "--db", path];
    // Bun keeps a transpiler cache under HOME, which nobody cannot write.
    const run = Bun.spawnSync(cmd, { cwd: tmp.dir, env: { PATH: process.env.PATH!, HOME: tmp.dir, BUN_RUNTIME_TRANSPILER_CACHE_PATH: "0" } });
    expect({ code: run.exitCode, stderr: run.stderr.toString() }).toEqual({
      code: 2,
      stderr: `Error: cannot read ${path}: permission denied\nTry: run obd2-sync as the user the logger runs as, or let that user's group read and write the database\n`,
    });
  });
});

describe("small things a new user notices", () => {
  test("--version prints the version, and status prints it too", async () => {
    expect(await runAgent(["--version"], { cwd: tmp.dir })).toEqual({ code: 0, stdout: `obd2-sync ${version}\n`, stderr: "" });
    piDatabase(tmp.path("obd.db"));
    const status = await runAgent(["status", "--db", "obd.db"], { cwd: tmp.dir });
    expect(status.stdout.split("\n")[0]).toBe(`obd2-sync ${version}  database ${tmp.path("obd.db")}`);
  });

  test("help <command> prints that command's usage, like <command> --help", async () => {
    for (const command of ["push", "status", "restore"]) {
      const help = await runAgent(["help", command], { cwd: tmp.dir });
      expect(help.code).toBe(0);
      expect(help.stdout).toStartWith(`Usage: obd2-sync ${command} `);
      expect(help.stdout).toBe((await runAgent([command, "--help"], { cwd: tmp.dir })).stdout);
    }
    expect(await runAgent(["help", "sync"], { cwd: tmp.dir })).toEqual({ code: 2, stdout: "", stderr: "Error: unknown command 'sync'\nTry: obd2-sync --help\n" });
  });

  test("--api-key is refused, pointing at COMPANION_API_KEY, and the key is not echoed", async () => {
    for (const flag of [["--api-key", "sekret-0123456789"], ["--api-key=sekret-0123456789"]]) {
      const run = await runAgent(["push", ...flag], { cwd: tmp.dir });
      expect(run).toEqual({
        code: 2,
        stdout: "",
        stderr:
          "Error: push: --api-key is not accepted: a key on the command line ends up in shell history and in `ps`\n" +
          "Try: set COMPANION_API_KEY in the environment or in a .env file (`npm run device -- add <id>` on the server prints the key)\n",
      });
    }
  });

  test("a mistyped flag gets the flag it probably meant; a flag like no other gets none", async () => {
    const typo = await runAgent(["push", "--sever", "http://x:8000"], { cwd: tmp.dir });
    expect(typo).toEqual({ code: 2, stdout: "", stderr: "Error: push: Unknown option '--sever'; did you mean --server?\nTry: obd2-sync push --help\n" });
    expect((await runAgent(["backup", "--log", "x"], { cwd: tmp.dir })).stderr).toStartWith("Error: backup: Unknown option '--log'; did you mean --logs?\n");
    expect((await runAgent(["push", "--resend"], { cwd: tmp.dir })).stderr).toStartWith("Error: push: Unknown option '--resend'; did you mean --resend-all?\n");
    expect((await runAgent(["push", "--force"], { cwd: tmp.dir })).stderr).toBe("Error: push: Unknown option '--force'\nTry: obd2-sync push --help\n");
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

  test("status shows every time the same way (how long ago) and every number with thousands separators", async () => {
    const path = tmp.path("obd.db");
    piDatabase(path, { drives: 2, minutes: 1 });
    expect((await runAgent(["push", "--db", path, "--server", server.url, "--device-id", "pi-times"], { cwd: tmp.dir, env: { COMPANION_API_KEY: API_KEY } })).code).toBe(0);
    const db = openDb(path);
    db.prepare("INSERT INTO realtime_data (timestamp, parameter_name, value, unit) VALUES ('2026-04-19 09:00:00', 'RPM', 900, 'rpm')").run();
    const mark = Number(db.prepare("SELECT MAX(id) - 1 AS n FROM realtime_data").get()!.n);
    db.close();
    const status = await runAgent(["status", "--db", path], { cwd: tmp.dir });
    const lines = status.stdout.split("\n");
    const header = lines.find((l) => l.startsWith("TABLE"))!.split(/\s{2,}/);
    const row = Object.fromEntries(lines.find((l) => l.startsWith("realtime_data"))!.split(/\s{2,}/).map((cell, i) => [header[i], cell]));
    expect(row).toMatchObject({ MARK: mark.toLocaleString("en-US"), BACKLOG: "1" });
    expect(mark).toBeGreaterThan(999);
    expect(row["OLDEST UNSYNCED"]).toMatch(/^(\d+d \d+h|\d+h \d+m|\d+m \d+s|\d+s) ago$/);
    expect(row["LAST SYNC"]).toMatch(/^(\d+m \d+s|\d+s) ago$/);
  });

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
    expect((await runAgent(["--version"], { cwd: tmp.dir, runtime: { binary } })).stdout).toBe(`obd2-sync ${version}\n`);
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
