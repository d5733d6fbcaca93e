/**
 * Hostile-input suite, /sync under load: a bad body holds no database
 * connection while it is validated, keeps only the problems it reports, one
 * device bursting cannot starve another, the server takes on no more bodies
 * than MAX_REQUEST_MEMORY_MB holds (429 with Retry-After beyond), and load is
 * never a 500. Outcomes are asserted (statuses, counts, which answer came
 * first), never timings.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as mariadb from "mariadb";
import { createApp } from "../../functions/index.ts";
import { connectionOptions, createDb } from "../../lib/db/pools.ts";
import { createLogger } from "../../lib/http/logger.ts";
import { API_KEY, testApp, testConfig, type TestApp } from "../helpers/app.ts";

let t: TestApp;
let other: mariadb.Connection;
beforeAll(async () => {
  t = await testApp();
  other = await mariadb.createConnection(connectionOptions(t.db.url));
});
afterAll(async () => {
  await other.end();
  await t.close();
});

const rt = (id: number) => ({ id, timestamp: "2026-04-19 08:00:00", parameter_name: "RPM", value: 900 });
const empty = (n: number) => Array.from({ length: n }, () => ({}));
let batches = 0;
const sync = (deviceId: string, rows: unknown[], app: Pick<TestApp, "call"> = t) =>
  app.call("/api/v1/sync", { json: { deviceId, batchId: `${deviceId}-${++batches}`, tables: { realtime_data: { rows } } } });
const stored = async (device: string) => Number((await t.db.query("SELECT COUNT(*) AS n FROM realtime_data WHERE source_device = ?", [device]))[0].n);
const history = async (device: string) => Number((await t.db.query("SELECT COUNT(*) AS n FROM sync_history WHERE device_id = ?", [device]))[0].n);
/**
 * Syncs of `app`'s database inside their transaction, waiting for a device's row lock (their first
 * statement). PROCESSLIST is live; INNODB_TRX is a cache that frequent polling keeps from refreshing.
 */
const waitingForDeviceLock = async (app: TestApp = t) =>
  Number(
    (await app.db.query("SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND COMMAND = 'Query' AND INFO LIKE 'INSERT INTO devices %'"))[0].n,
  );

async function until(check: () => boolean | Promise<boolean>) {
  for (let i = 0; i < 2000 && !(await check()); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  expect(await check()).toBe(true);
}

/** Borrows `n` of the bulk pool's 4 connections until the returned function gives them back. */
async function borrowBulk(n: number) {
  const held = await Promise.all(Array.from({ length: n }, () => t.db.bulkPool.getConnection()));
  return () => Promise.all(held.map((c) => c.release()));
}

/** Holds `device`'s row lock in `devices` (as a sync of it in another process would) until the returned function lets go. */
async function lockDevice(device: string) {
  await other.query("INSERT IGNORE INTO devices (device_id) VALUES (?)", [device]);
  await other.beginTransaction();
  await other.query("SELECT device_id FROM devices WHERE device_id = ? FOR UPDATE", [device]);
  return () => other.commit();
}

describe("a bad body", () => {
  test("bad from its first row is refused with no database connection: 20 problems listed, the rest counted", async () => {
    // Every bulk connection is taken: a sync that needed one could not get it.
    const giveBack = await borrowBulk(4);
    try {
      const res = await sync("pi-bad", empty(5000));
      expect(res.status).toBe(422);
      const body = await res.json();
      expect(body.errors).toHaveLength(20);
      // Four NOT NULL columns missing in each of 5,000 rows.
      expect(body.detail).toEndWith("(and 19980 more)");
    } finally {
      await giveBack();
    }
    expect(await stored("pi-bad")).toBe(0);
    expect(await history("pi-bad")).toBe(0);
  });

  test("that turns bad after good slices lets its connection go at the first bad row, before it has counted the rest", async () => {
    // Three of the four bulk connections are taken; the bad body takes the fourth for its good slices.
    const giveBack = await borrowBulk(3);
    try {
      const bad = sync("pi-late", [...Array.from({ length: 3000 }, (_, i) => rt(i + 1)), ...empty(150_000)]).then((r) => ({ who: "bad", res: r }));
      await until(() => t.db.bulkPool.activeConnections() === 4);
      // This one needs that fourth connection: it gets it only once the bad body has let go.
      const good = sync("pi-next", [rt(1)]).then((r) => ({ who: "good", res: r }));
      const first = await Promise.race([bad, good]);
      expect(first.who).toBe("good");
      expect(first.res.status).toBe(200);
      const { res } = await bad;
      expect(res.status).toBe(422);
      expect((await res.json()).detail).toEndWith(`(and ${150_000 * 4 - 20} more)`);
    } finally {
      await giveBack();
    }
    expect(await stored("pi-late")).toBe(0);
    expect(await stored("pi-next")).toBe(1);
  });

  test("with rows that nest objects deeper than one level or have hundreds of keys is refused before those rows are parsed, naming them", async () => {
    const nested = { ...rt(2), value: [[[[1]]]] };
    const wide = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`c${i}`, i]));
    const res = await sync("pi-shape", [rt(1), nested, wide, [1, 2]]);
    expect(res.status).toBe(422);
    expect((await res.json()).errors.map((e: { row: number; message: string }) => [e.row, e.message])).toEqual([
      [1, "table realtime_data row 1: a row's values must be numbers, strings, null, or one object or array of those, not nested deeper"],
      [2, "table realtime_data row 2: more than 64 values"],
      [3, "table realtime_data row 3: expected a row object, got array"],
    ]);
    expect(await stored("pi-shape")).toBe(0);
  });
});

describe("one device bursting", () => {
  test("cannot starve another: the other's sync gets its 200 while the first device's syncs wait, holding one connection", async () => {
    expect((await sync("pi-burst", [rt(1)])).status).toBe(200);
    const unlock = await lockDevice("pi-burst");
    let burst: Promise<Response>[] = [];
    try {
      burst = Array.from({ length: 6 }, (_, i) => sync("pi-burst", [rt(100 + i)]));
      // The burst's first sync waits for the device row lock inside its transaction.
      await until(async () => (await waitingForDeviceLock()) === 1);
      const otherDevice = await sync("pi-calm", [rt(1)]);
      expect(otherDevice.status).toBe(200);
      // Only the sync in its transaction holds a connection; the next one waits its turn without one.
      expect(t.db.bulkPool.activeConnections()).toBe(1);
    } finally {
      await unlock();
    }
    const answers = await Promise.all(burst);
    const statuses = answers.map((r) => r.status).sort();
    // Two in progress per device (one written, one waiting); the rest are told when to come back.
    expect(statuses).toEqual([200, 200, 429, 429, 429, 429]);
    for (const r of answers.filter((a) => a.status === 429)) {
      expect(r.headers.get("retry-after")).toBe("5");
      expect((await r.json()).detail).toBe("Server busy: device pi-burst already has 2 sync bodies in progress, as many as one device may; retry after 5 s");
    }
    expect(await stored("pi-burst")).toBe(3);
  });
});

describe("the server's request memory", () => {
  test("holds no more sync bodies than MAX_REQUEST_MEMORY_MB: beyond it 429 with Retry-After, and nothing of those is read or stored", async () => {
    // 5 MB bodies reserve 20 MB each; 50 MB hold two of them and no third.
    const small = await testApp({ MAX_SYNC_PAYLOAD_MB: "5", MAX_REQUEST_MEMORY_MB: "50", ANALYSIS_MAX_READINGS: "10000" });
    const holder = await mariadb.createConnection(connectionOptions(small.db.url));
    try {
      for (const d of ["pi-x", "pi-y"]) await holder.query("INSERT INTO devices (device_id) VALUES (?)", [d]);
      await holder.beginTransaction();
      await holder.query("SELECT device_id FROM devices WHERE device_id IN ('pi-x', 'pi-y') FOR UPDATE");
      const held = ["pi-x", "pi-y"].map((d) => sync(d, [rt(1)], small));
      await until(async () => (await waitingForDeviceLock(small)) === 2);
      const refused = await sync("pi-z", [rt(1)], small);
      expect(refused.status).toBe(429);
      expect(refused.headers.get("retry-after")).toBe("5");
      expect((await refused.json()).detail).toStartWith("Server busy: the sync bodies and other requests in progress fill MAX_REQUEST_MEMORY_MB");
      await holder.commit();
      expect((await Promise.all(held)).map((r) => r.status)).toEqual([200, 200]);
      expect(Number((await small.db.query("SELECT COUNT(*) AS n FROM realtime_data WHERE source_device = 'pi-z'"))[0].n)).toBe(0);
      // Released: the next one is taken.
      expect((await sync("pi-z", [rt(1)], small)).status).toBe(200);
    } finally {
      await holder.end();
      await small.close();
    }
  });

  test("a database pool that runs dry is 503 with Retry-After, not 500, and records nothing", async () => {
    const db = createDb(t.db.url, { connectionLimit: 2, acquireTimeout: 300 });
    const config = testConfig({ DATABASE_URL: t.db.url });
    const app = createApp({ config, db, logger: createLogger(config) });
    const held = await Promise.all([1, 2, 3, 4].map(() => db.bulkPool.getConnection()));
    try {
      const res = await app.request("/api/v1/sync", {
        method: "POST",
        headers: { "x-api-key": API_KEY, "content-type": "application/json" },
        body: JSON.stringify({ deviceId: "pi-dry", batchId: "dry-1", tables: { realtime_data: { rows: [rt(1)] } } }),
      });
      expect({ status: res.status, retryAfter: res.headers.get("retry-after"), body: await res.json() }).toEqual({
        status: 503,
        retryAfter: "5",
        body: { detail: "Server busy: no database connection free; retry after 5 s" },
      });
    } finally {
      await Promise.all(held.map((c) => c.release()));
      await db.close();
    }
    expect(await stored("pi-dry")).toBe(0);
    expect(await history("pi-dry")).toBe(0);
  });
});
