/**
 * The real entry points as subprocesses: the Bun and Node servers on a test
 * database, fail-fast configuration errors, and the first-run path
 * (`bun scripts/start.ts` in an empty directory: .env, embedded MariaDB,
 * migrations, health, and a clean stop on SIGTERM).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as mariadb from "mariadb";
import { connectionOptions } from "../lib/db/pools.ts";
import { freePort } from "../lib/db/mariadb-server.ts";
import { readMigrations } from "../lib/db/migrate.ts";
import { emptyDatabase } from "./helpers/db.ts";
import { DRIVE, readings } from "./helpers/drive.ts";
import { startFakeOllama } from "./helpers/fake-ollama.ts";
import { BUN, ENTRIES, health, killStarted, ROOT, start, type Running } from "./helpers/server-process.ts";

const API_KEY = "entries-test-key-0123456789";

const cleanups: (() => unknown)[] = [];

afterAll(async () => {
  await killStarted();
  for (const clean of cleanups.reverse()) await clean();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "obd2-entry-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Ids of running mariadbd processes serving `dataDir`. */
function mariadbdFor(dataDir: string): number[] {
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .filter((pid) => {
      try {
        const args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
        return args[0]!.endsWith("mariadbd") && args.includes(`--datadir=${dataDir}`);
      } catch {
        return false; // it exited while we looked
      }
    })
    .map(Number);
}

async function stop({ proc, output, exited }: Running) {
  proc.kill("SIGTERM");
  const code = await exited;
  expect({ code, output: code === 0 ? "" : output() }).toEqual({ code: 0, output: "" });
}

async function migrationsIn(url: string): Promise<string[]> {
  const conn = await mariadb.createConnection(connectionOptions(url));
  try {
    const rows: { migration_name: string }[] = await conn.query("SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL ORDER BY migration_name");
    return rows.map((r) => r.migration_name);
  } finally {
    await conn.end();
  }
}

describe("server entries", () => {
  for (const [name, cmd] of Object.entries(ENTRIES)) {
    test(`${name} should migrate an empty database, serve health and stop on SIGTERM`, async () => {
      const db = await emptyDatabase();
      cleanups.push(db.drop);
      const port = await freePort();
      const ollama = `http://127.0.0.1:${await freePort()}`;
      const server = start(cmd, tempDir(), { DATABASE_URL: db.url, API_KEY, PORT: String(port), OLLAMA_BASE_URL: ollama });
      const { status, body } = await health(port, server);
      expect({ status, state: body.status, components: body.components }).toEqual({
        status: 200,
        state: "degraded",
        components: { api: "up", mysql: "up", ollama: "down", ollamaModel: "unknown" },
      });
      expect(await migrationsIn(db.url)).toEqual(readMigrations().map((m) => m.name));
      expect(server.output()).toContain(`OBD2-Server listening on http://localhost:${port}`);
      await stop(server);
    });
  }

  for (const [name, cmd] of Object.entries(ENTRIES)) {
    test(`${name} should analyse a synced drive in the background and on request`, async () => {
      const db = await emptyDatabase();
      cleanups.push(db.drop);
      const ollama = startFakeOllama({ reply: () => JSON.stringify([{ rank: 1, category: "cooling", recommendation: "Check the fan.", confidence: 0.7 }]) });
      cleanups.push(() => ollama.stop());
      const port = await freePort();
      const server = start(cmd, tempDir(), { DATABASE_URL: db.url, API_KEY, PORT: String(port), OLLAMA_BASE_URL: ollama.url, ANALYSIS_POLL_SECONDS: "0.1", DRIVE_SETTLE_SECONDS: "0" });
      await health(port, server);
      const post = (path: string, body: unknown) =>
        fetch(`http://127.0.0.1:${port}${path}`, { method: "POST", headers: { "x-api-key": API_KEY, "content-type": "application/json" }, body: JSON.stringify(body) });
      const tables = { realtime_data: { rows: readings() }, connection_log: { rows: [DRIVE.start, DRIVE.end] } };
      expect((await (await post("/api/v1/sync", { deviceId: "entry-pi", batchId: "e-1", tables })).json()).autoAnalysisTriggered).toBe(true);
      const conn = await mariadb.createConnection(connectionOptions(db.url));
      try {
        for (let until = Date.now() + 30_000; ; await Bun.sleep(100)) {
          // The worker queues the job once it has summarised the closed drive.
          const [job] = await conn.query("SELECT state, last_error FROM analysis_jobs");
          if (job?.state === "completed") break;
          if (Date.now() > until) throw new Error(`the queued analysis never completed: ${JSON.stringify(job)}\n${server.output()}`);
        }
      } finally {
        await conn.end();
      }
      const res = await post("/api/v1/analyze", { driveStartTime: "2026-04-19T08:00:00Z", driveEndTime: "2026-04-19T08:10:00Z" });
      expect(res.status).toBe(200);
      expect((await res.json()).recommendations).toEqual([{ rank: 1, category: "cooling", recommendation: "Check the fan.", confidence: 0.7 }]);
      await stop(server);
    });
  }

  for (const [name, cmd] of Object.entries(ENTRIES)) {
    test(`${name} on a port already in use should say so in one line naming the port and PORT, and exit 1`, async () => {
      const db = await emptyDatabase();
      cleanups.push(db.drop);
      const taken = createServer();
      await new Promise<void>((ready) => taken.listen(0, ready));
      cleanups.push(() => new Promise((done) => taken.close(done)));
      const port = (taken.address() as AddressInfo).port;
      const run = start(cmd, tempDir(), { DATABASE_URL: db.url, API_KEY, PORT: String(port), OLLAMA_BASE_URL: `http://127.0.0.1:${await freePort()}` });
      expect(await run.exited).toBe(1);
      const lines = run.output().trimEnd().split("\n");
      const last = JSON.parse(lines.at(-1)!);
      expect(last).toMatchObject({ level: 60, msg: `port ${port} is already in use (another OBD2-Server, or another program); stop that, or set PORT in .env to a free port` });
      expect(lines.filter((l) => l.includes("in use"))).toHaveLength(1);
      expect(run.output()).not.toMatch(/^\s+at /m); // no stack trace
      expect(run.output()).not.toContain("listening on");
    });
  }

  test("a missing API_KEY should stop the Bun entry, naming API_KEY", async () => {
    const run = start(ENTRIES["the Bun entry"], tempDir(), { DATABASE_URL: "mysql://u:p@127.0.0.1:1/obd2", PORT: String(await freePort()) });
    expect({ code: await run.exited, output: run.output() }).toEqual({
      code: 2,
      output: "Invalid configuration (environment or .env):\n  API_KEY: is required\n",
    });
  });

  test("PORT=abc should stop the Bun entry, naming PORT", async () => {
    const run = start(ENTRIES["the Bun entry"], tempDir(), { DATABASE_URL: "mysql://u:p@127.0.0.1:1/obd2", API_KEY, PORT: "abc" });
    expect({ code: await run.exited, output: run.output() }).toEqual({
      code: 2,
      output: "Invalid configuration (environment or .env):\n  PORT: Invalid input: expected number, received NaN\n",
    });
  });
});

describe("npm start in an empty directory (the embedded default)", () => {
  test(
    "should write .env with an API_KEY, start and migrate its own MariaDB, serve health, and stop it all on SIGTERM",
    async () => {
      const cwd = tempDir();
      const dataDir = join(cwd, "data", "mariadb");
      // Even if the test fails midway, the MariaDB it started must not outlive it.
      cleanups.push(() => mariadbdFor(dataDir).forEach((pid) => process.kill(pid, "SIGKILL")));
      const port = await freePort();
      const server = start([BUN, join(ROOT, "scripts/start.ts")], cwd, { PORT: String(port), OLLAMA_BASE_URL: `http://127.0.0.1:${await freePort()}` });
      const { status, body } = await health(port, server, 150_000);
      expect({ status, mysql: body.components.mysql }).toEqual({ status: 200, mysql: "up" });

      const env = readFileSync(join(cwd, ".env"), "utf8");
      expect(env).toMatch(/^API_KEY=[A-Za-z0-9_-]{32}$/m);
      expect(env).toContain("# API_KEY is the admin key, for you and your scripts; a Pi gets its own key: npm run device -- add <id>");
      // After the URLs: where the admin key is, and the one command that makes the Pi's key.
      const messages = server.output().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l).msg as string);
      const listening = messages.findIndex((m) => m.startsWith("OBD2-Server listening on"));
      expect(listening).toBeGreaterThanOrEqual(0);
      expect(messages.slice(listening + 1, listening + 3)).toEqual([
        `Admin key: API_KEY in ${join(cwd, ".env")}, for you and your scripts`,
        "For the Pi: a Pi gets its own key: npm run device -- add <id> (it prints the Pi's COMPANION_API_KEY once)",
      ]);
      expect(statSync(join(cwd, ".env")).mode & 0o777).toBe(0o600);
      expect(existsSync(join(dataDir, "mysql"))).toBe(true);
      expect(mariadbdFor(dataDir)).toHaveLength(1);
      const { port: dbPort, password } = JSON.parse(readFileSync(join(cwd, "data", "mariadb.json"), "utf8"));
      expect(await migrationsIn(`mysql://obd2:${encodeURIComponent(password)}@127.0.0.1:${dbPort}/obd2`)).toEqual(readMigrations().map((m) => m.name));

      // npm run db on the embedded database: as obd2, and --read-only as a user it makes that may only SELECT.
      const db = (...args: string[]) => Bun.spawnSync([BUN, join(ROOT, "scripts/db.ts"), "-N", ...args], { cwd, env: { PATH: process.env.PATH!, HOME: cwd } });
      const shell = db("-e", "SELECT CURRENT_USER(), DATABASE()");
      expect({ code: shell.exitCode, out: shell.stdout.toString().trim() }).toEqual({ code: 0, out: "obd2@127.0.0.1\tobd2" });
      const readOnly = db("--read-only", "-e", "SELECT CURRENT_USER(); DELETE FROM devices");
      expect(readOnly.stdout.toString().trim()).toBe("obd2_readonly@127.0.0.1");
      expect(readOnly.stderr.toString()).toContain("DELETE command denied");
      expect(Object.keys(JSON.parse(readFileSync(join(cwd, "data", "mariadb.json"), "utf8"))).sort()).toEqual(["password", "port", "readOnlyPassword"]);
      expect(mariadbdFor(dataDir)).toHaveLength(1); // the tools leave the server's MariaDB running

      await stop(server);
      expect(mariadbdFor(dataDir)).toEqual([]);
    },
    240_000,
  );
});
