/**
 * GET /api/v1/health against a fake Ollama (a real HTTP server) in every
 * state, a MariaDB that is down, seeded sync history and a pinned clock; and
 * GET /api/v1/ping, which must not touch the database.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import pino from "pino";
import { createApp } from "../functions/index.ts";
import type { Deps } from "../lib/http/env.ts";
import { createDb, type Db } from "../lib/db/pools.ts";
import { freePort } from "../lib/db/mariadb-server.ts";
import { version } from "../lib/version.ts";
import { testApp, testConfig, type TestApp } from "./helpers/app.ts";
import { startFakeOllama, type FakeOllama } from "./helpers/fake-ollama.ts";

const START = new Date("2026-11-22T10:00:00.000Z");
let t: TestApp;
let ollama: FakeOllama;
/** A database nobody listens for. */
let downDb: Db;
let closedUrl: string;

beforeAll(async () => {
  t = await testApp();
  ollama = startFakeOllama({ models: ["gemma2:2b", "llama3:latest"] });
  closedUrl = `http://127.0.0.1:${await freePort()}`;
  downDb = createDb(`mysql://nobody:nothing@127.0.0.1:${await freePort()}/obd2`, { connectionLimit: 1 });
});

afterAll(async () => {
  ollama.stop();
  await downDb.close();
  await t.close();
});

/** GET /api/v1/health on an app with this Ollama URL and model, over this file's database unless `deps` says otherwise. */
async function health(ollamaUrl: string, deps: Partial<Deps> = {}, model = "gemma2:2b") {
  const config = testConfig({ DATABASE_URL: t.db.url, OLLAMA_BASE_URL: ollamaUrl, OLLAMA_MODEL: model });
  const app = createApp({ config, db: t.db, logger: pino({ level: "silent" }), clock: { now: () => START }, ...deps });
  const res = await app.request("/api/v1/health");
  return { status: res.status, body: await res.json() };
}

const components = (mysql: string, ollamaState: string, ollamaModel: string) => ({ api: "up", mysql, ollama: ollamaState, ollamaModel });

/** The HTTP status, the overall state and the components: what the state tests compare. */
async function summary(...args: Parameters<typeof health>) {
  const { status, body } = await health(...args);
  return { status, state: body.status, components: body.components };
}

describe("GET /api/v1/health", () => {
  test("MySQL up and Ollama listing the model should be healthy", async () => {
    expect(await health(ollama.url)).toEqual({
      status: 200,
      body: { status: "healthy", version, components: components("up", "up", "gemma2:2b"), lastSync: null, analysisQueue: 0, lastAnalysis: null, driveCount: 0, uptime: "0d 0h 0m" },
    });
  });

  test("a model Ollama lists as <name>:latest should count as loaded", async () => {
    expect(await summary(ollama.url, {}, "llama3")).toEqual({
      status: 200,
      state: "healthy",
      components: components("up", "up", "llama3"),
    });
  });

  test("Ollama up without the model should be degraded with not_loaded", async () => {
    expect(await summary(ollama.url, {}, "mistral:7b")).toEqual({
      status: 200,
      state: "degraded",
      components: components("up", "up", "not_loaded"),
    });
  });

  test("Ollama unreachable should be degraded with the model unknown", async () => {
    expect(await summary(closedUrl)).toEqual({
      status: 200,
      state: "degraded",
      components: components("up", "down", "unknown"),
    });
  });

  test("a hung Ollama should be degraded once its check times out", async () => {
    const hung = startFakeOllama({ hang: true });
    try {
      expect(await summary(hung.url, { healthTimeoutsMs: { mysql: 3000, ollama: 200 } })).toEqual({
        status: 200,
        state: "degraded",
        components: components("up", "down", "unknown"),
      });
    } finally {
      hung.stop();
    }
  });

  test("MySQL down should be unhealthy with 503", async () => {
    expect(await health(ollama.url, { db: downDb, healthTimeoutsMs: { mysql: 300, ollama: 3000 } })).toEqual({
      status: 503,
      body: { status: "unhealthy", version, components: components("down", "up", "gemma2:2b"), lastSync: null, analysisQueue: null, lastAnalysis: null, driveCount: null, uptime: "0d 0h 0m" },
    });
  });

  test("MySQL and Ollama both down should still answer, unhealthy", async () => {
    expect(await summary(closedUrl, { db: downDb, healthTimeoutsMs: { mysql: 300, ollama: 300 } })).toEqual({
      status: 503,
      state: "unhealthy",
      components: components("down", "down", "unknown"),
    });
  });

  test("analysisQueue should count the drives waiting for analysis or being analysed", async () => {
    const job = (n: number, state: string) =>
      t.db.query("INSERT INTO analysis_jobs (device_id, drive_start, drive_end, batch_id, state, run_after) VALUES ('pi-health-queue', ?, ?, 'b', ?, '2026-11-22 09:00:00')", [
        `2026-11-1${n} 08:00:00`,
        `2026-11-1${n} 09:00:00`,
        state,
      ]);
    for (const [n, state] of [[1, "pending"], [2, "pending"], [3, "running"], [4, "completed"], [5, "failed"]] as const) await job(n, state);
    try {
      expect((await health(ollama.url)).body.analysisQueue).toBe(3);
    } finally {
      await t.db.query("DELETE FROM analysis_jobs WHERE device_id = 'pi-health-queue'");
    }
  });

  test("lastSync should be the latest successful sync, ignoring failed and partial ones", async () => {
    const insert = "INSERT INTO sync_history (batch_id, device_id, started_at, completed_at, tables_synced, rows_inserted, rows_updated, status) VALUES (?, ?, ?, ?, '{}', ?, ?, ?)";
    await t.db.query(insert, ["b-old", "pi-1", "2026-11-20 09:00:00.000", "2026-11-20 09:00:01.000", 5, 0, "success"]);
    await t.db.query(insert, ["b-latest", "pi-2", "2026-11-21 09:00:00.000", "2026-11-21 09:00:02.250", 120, 3, "success"]);
    await t.db.query(insert, ["b-failed", "pi-1", "2026-11-21 10:00:00.000", "2026-11-21 10:00:01.000", 0, 0, "failed"]);
    await t.db.query(insert, ["b-partial", "pi-1", "2026-11-21 11:00:00.000", "2026-11-21 11:00:01.000", 7, 0, "partial"]);
    try {
      const { body } = await health(ollama.url);
      expect(body.lastSync).toEqual({ batchId: "b-latest", deviceId: "pi-2", completedAt: "2026-11-21T09:00:02.250Z", rowsInserted: 120, rowsUpdated: 3 });
    } finally {
      await t.db.query("DELETE FROM sync_history");
    }
  });

  test("uptime should count whole days, hours and minutes since the app started", async () => {
    let now = START;
    const config = testConfig({ DATABASE_URL: t.db.url, OLLAMA_BASE_URL: ollama.url });
    const app = createApp({ config, db: t.db, logger: pino({ level: "silent" }), clock: { now: () => now } });
    const uptime = async (ms: number) => {
      now = new Date(START.getTime() + ms);
      return (await (await app.request("/api/v1/health")).json()).uptime;
    };
    expect(await uptime(59_999)).toBe("0d 0h 0m");
    expect(await uptime(((2 * 24 + 4) * 60 + 30) * 60_000 + 59_000)).toBe("2d 4h 30m");
    expect(await uptime(400 * 24 * 3_600_000)).toBe("400d 0h 0m");
  });
});

describe("GET /api/v1/ping", () => {
  test("should answer 200 {status: ok} without a key even when the database is unreachable", async () => {
    const config = testConfig({ DATABASE_URL: "mysql://nobody:nothing@127.0.0.1:1/obd2" });
    const app = createApp({ config, db: downDb, logger: pino({ level: "silent" }) });
    const res = await app.request("/api/v1/ping");
    expect({ status: res.status, body: await res.json() }).toEqual({ status: 200, body: { status: "ok" } });
  });
});
