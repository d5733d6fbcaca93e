/**
 * The agent's local state and delta reads, on real SQLite files: sync_log
 * creation and adoption, marks that never rewind, atomic quarantine, the
 * delta for append-only and mutable tables, batch ids, and the lock.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { backlog, discoverTables, jsonText, readAppendChunk, readChangedChunk, type SourceTable } from "../client/delta.ts";
import { acquireLock } from "../client/lock.ts";
import { openDb, type SqliteDb } from "../client/sqlite.ts";
import { commitAppendChunk, commitMutableChunk, initStore, readMarks, storedHash } from "../client/store.ts";
import { batchId } from "../client/sync.ts";
import { createEclipseSchema } from "../scripts/simulate/index.ts";
import { BUN, firstLine, piDatabase, tempDir, type TempDir } from "./helpers/client-agent.ts";

let tmp: TempDir;
let db: SqliteDb;
beforeEach(() => {
  tmp = tempDir();
  db = openDb(tmp.path("obd.db"), { create: true });
});
afterEach(() => {
  db.close();
  tmp.remove();
});

const PYTHON_SYNC_LOG = `CREATE TABLE sync_log (
    table_name      TEXT    PRIMARY KEY,
    last_synced_id  INTEGER NOT NULL DEFAULT 0,
    last_synced_at  TEXT,
    last_batch_id   TEXT,
    status          TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('ok','pending','failed')),
    last_synced_modified_at TEXT
)`;

const source = (name: string): SourceTable => discoverTables(db).present.find((s) => s.name === name)!;

function addReadings(n: number, from = 1) {
  const insert = db.prepare("INSERT INTO realtime_data (id, timestamp, parameter_name, value, unit, profile_id) VALUES (?, ?, 'RPM', ?, 'rpm', 'daily')");
  db.transaction(() => {
    for (let id = from; id < from + n; id++) insert.run(id, `2026-04-19 08:00:${String(id % 60).padStart(2, "0")}.000001`, 800 + id);
  });
}

describe("sync_log", () => {
  test("init creates sync_log and the agent's tables, and a second init changes nothing", () => {
    createEclipseSchema(db);
    expect(initStore(db, ["realtime_data", "profiles"])).toEqual({ adopted: false });
    commitAppendChunk(db, "realtime_data", { first: 1, mark: 42, batchId: "b-1", rejected: [] });
    expect(initStore(db, ["realtime_data", "profiles"])).toEqual({ adopted: true });
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'sync_%' ORDER BY name").all().map((r) => r.name);
    expect(tables).toEqual(["sync_backup", "sync_conflict", "sync_error", "sync_log", "sync_quarantine", "sync_row_hash"]);
    expect([...readMarks(db)].map(([t, m]) => [t, m.lastSyncedId, m.status])).toEqual([
      ["profiles", 0, "pending"],
      ["realtime_data", 42, "ok"],
    ]);
  });

  test("a Python-client sync_log with last_synced_modified_at is adopted with its marks and extra column", () => {
    db.exec(PYTHON_SYNC_LOG);
    db.exec("INSERT INTO sync_log (table_name, last_synced_id, status, last_synced_modified_at) VALUES ('realtime_data', 300, 'ok', '2026-04-01 10:00:00')");
    expect(initStore(db, ["realtime_data", "statistics"])).toEqual({ adopted: true });
    commitAppendChunk(db, "realtime_data", { first: 301, mark: 350, batchId: "b-2", rejected: [] });
    commitAppendChunk(db, "statistics", { first: 1, mark: 7, batchId: "b-3", rejected: [] });
    const rows = db.prepare("SELECT table_name, last_synced_id, last_batch_id, status, last_synced_modified_at FROM sync_log ORDER BY table_name").all();
    expect(rows).toEqual([
      { table_name: "realtime_data", last_synced_id: 350, last_batch_id: "b-2", status: "ok", last_synced_modified_at: "2026-04-01 10:00:00" },
      { table_name: "statistics", last_synced_id: 7, last_batch_id: "b-3", status: "ok", last_synced_modified_at: null },
    ]);
  });

  test("a mark never moves backwards", () => {
    initStore(db, ["realtime_data"]);
    commitAppendChunk(db, "realtime_data", { first: 1, mark: 500, batchId: "b-500", rejected: [] });
    commitAppendChunk(db, "realtime_data", { first: 1, mark: 100, batchId: "b-100", rejected: [] });
    expect(readMarks(db).get("realtime_data")!.lastSyncedId).toBe(500);
  });

  test("quarantining rows and advancing the mark happen together or not at all", () => {
    initStore(db, ["realtime_data"]);
    db.exec("CREATE TRIGGER refuse_marks BEFORE UPDATE ON sync_log BEGIN SELECT RAISE(ABORT, 'disk full'); END");
    const rejected = [{ key: "7", json: '{"id":7,"value":"NaN"}', error: "column value: expected a number" }];
    expect(() => commitAppendChunk(db, "realtime_data", { first: 1, mark: 10, batchId: "b", rejected })).toThrow("disk full");
    expect(db.prepare("SELECT COUNT(*) AS n FROM sync_quarantine").get()).toEqual({ n: 0 });
    db.exec("DROP TRIGGER refuse_marks");
    commitAppendChunk(db, "realtime_data", { first: 1, mark: 10, batchId: "b", rejected });
    expect(db.prepare("SELECT row_key, row_json, error FROM sync_quarantine").all()).toEqual([{ row_key: "7", row_json: '{"id":7,"value":"NaN"}', error: "column value: expected a number" }]);
    expect(readMarks(db).get("realtime_data")!.lastSyncedId).toBe(10);
  });
});

describe("delta", () => {
  test("append-only rows come after the mark, in id order, without the ids the Pi deleted", () => {
    createEclipseSchema(db);
    addReadings(20);
    db.exec("DELETE FROM realtime_data WHERE id IN (12, 13)");
    const items = readAppendChunk(db, source("realtime_data"), 10, { maxRows: 5, maxBytes: 1 << 20 });
    expect(items.map((i) => i.key)).toEqual([11, 14, 15, 16, 17]);
    expect(JSON.parse(jsonText(items[0]!))).toEqual({
      id: 11,
      timestamp: "2026-04-19 08:00:11.000001",
      parameter_name: "RPM",
      value: 811,
      unit: "rpm",
      profile_id: "daily",
      data_source: "real",
      drive_id: null,
    });
  });

  test("the JSON SQLite writes keeps every double exact, text as text, and a blob's bytes", () => {
    createEclipseSchema(db);
    const tricky = [0.1 + 0.2, 1 / 3, 5e-324, 1.7976931348623157e308, 123456789.12345679, -1.5e-7, 2 ** 53 + 2, 1113.18675303187, 800];
    const insert = db.prepare("INSERT INTO realtime_data (timestamp, parameter_name, value) VALUES ('2026-04-19 08:00:00', 'MAF', ?)");
    for (const v of tricky) insert.run(v);
    db.exec("INSERT INTO realtime_data (timestamp, parameter_name, value) VALUES ('2026-04-19 08:00:00', 'MAF', 'NaN'), ('2026-04-19 08:00:00', x'00ff', 1e999)");
    const rows = readAppendChunk(db, source("realtime_data"), 0, { maxRows: 100, maxBytes: 1 << 20 }).map((i) => JSON.parse(jsonText(i)));
    expect(rows.slice(0, tricky.length).map((r) => r.value)).toEqual(tricky);
    expect(rows.at(-2)!.value).toBe("NaN");
    expect(rows.at(-1)).toMatchObject({ parameter_name: { blobHex: "00FF" }, value: Infinity });
  });

  test("a chunk stops at the byte cap, but always holds at least one row", () => {
    createEclipseSchema(db);
    addReadings(1200);
    const all = readAppendChunk(db, source("realtime_data"), 0, { maxRows: 5000, maxBytes: 1 << 30 });
    expect(all.map((i) => i.key)).toEqual(Array.from({ length: 1200 }, (_, i) => i + 1));
    // Ten rows and the nine commas between them fit exactly; one byte less does not.
    const tenRows = all.slice(0, 10).reduce((n, i) => n + i.json.length, 0) + 9;
    expect(readAppendChunk(db, source("realtime_data"), 0, { maxRows: 5000, maxBytes: tenRows }).length).toBe(10);
    expect(readAppendChunk(db, source("realtime_data"), 0, { maxRows: 5000, maxBytes: tenRows - 1 }).length).toBe(9);
    expect(readAppendChunk(db, source("realtime_data"), 0, { maxRows: 5000, maxBytes: 1 }).length).toBe(1);
  });

  test("an older Pi's missing tables are skipped and its missing columns not selected", () => {
    createEclipseSchema(db, { legacy: true });
    const { present, missing } = discoverTables(db);
    expect(missing).toEqual(["profiles", "dtc_log", "dtc_freeze_frame", "drive_summary", "battery_health_log"]);
    expect(present.find((s) => s.name === "realtime_data")!.columns).toEqual(["id", "timestamp", "parameter_name", "value", "unit", "profile_id"]);
    expect(present.find((s) => s.name === "connection_log")!.columns).toEqual(["id", "timestamp", "event_type", "mac_address", "success", "error_message", "retry_count"]);
  });

  test("a mutable table's rows are all new at first, none once accepted, and only the edited one after an update", () => {
    createEclipseSchema(db);
    initStore(db, ["profiles"]);
    db.exec(`INSERT INTO profiles (id, name, created_at, updated_at) VALUES ('daily', 'Daily', '2026-04-19 08:00:00', '2026-04-19 08:00:00'),
             ('track', 'Track', '2026-04-19 08:00:00', '2026-04-19 08:00:00'), ('eco', 'Eco', '2026-04-19 08:00:00', '2026-04-19 08:00:00')`);
    const src = source("profiles");
    const limits = { maxRows: 100, maxBytes: 1 << 20 };
    const first = readChangedChunk(db, src, undefined, limits, storedHash(db));
    expect(first.items.map((i) => i.key)).toEqual(["daily", "eco", "track"]);
    expect(first.next).toBeUndefined();
    commitMutableChunk(db, "profiles", { batchId: "b", accepted: first.items.map((i) => ({ key: String(i.key), hash: i.hash })), rejected: [] });
    expect(readChangedChunk(db, src, undefined, limits, storedHash(db)).items).toEqual([]);
    expect(backlog(db, src, 0, storedHash(db))).toEqual({ rows: 0, oldest: undefined });

    db.exec("UPDATE profiles SET description = 'pulls to redline', updated_at = '2026-05-01 09:30:00' WHERE id = 'track'");
    const changed = readChangedChunk(db, src, undefined, limits, storedHash(db));
    expect(changed.items.map((i) => JSON.parse(jsonText(i)))).toEqual([
      { id: "track", name: "Track", description: "pulls to redline", polling_interval_ms: 1000, created_at: "2026-04-19 08:00:00", updated_at: "2026-05-01 09:30:00", data_source: "real" },
    ]);
    expect(backlog(db, src, 0, storedHash(db))).toEqual({ rows: 1, oldest: Date.parse("2026-05-01T09:30:00Z") });
  });

  test("a mutable scan continues after the last row of a full chunk", () => {
    createEclipseSchema(db);
    initStore(db, ["calibration_sessions"]);
    const add = db.prepare("INSERT INTO calibration_sessions (session_id, start_time, created_at) VALUES (?, '2026-04-19 08:00:00', '2026-04-19 08:00:00')");
    for (let id = 1; id <= 7; id++) add.run(id);
    const src = source("calibration_sessions");
    const limits = { maxRows: 3, maxBytes: 1 << 20 };
    const a = readChangedChunk(db, src, undefined, limits, storedHash(db));
    const b = readChangedChunk(db, src, a.next, limits, storedHash(db));
    const c = readChangedChunk(db, src, b.next, limits, storedHash(db));
    expect([a, b, c].map((chunk) => chunk.items.map((i) => i.key))).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
    expect(c.next).toBeUndefined();
  });

  test("backlog counts rows above the mark and dates the oldest of them", () => {
    createEclipseSchema(db);
    addReadings(30);
    expect(backlog(db, source("realtime_data"), 25, storedHash(db))).toEqual({ rows: 5, oldest: Date.parse("2026-04-19T08:00:26.000Z") });
    expect(backlog(db, source("realtime_data"), 30, storedHash(db))).toEqual({ rows: 0 });
  });
});

describe("batch ids", () => {
  test("are deterministic per device, table and id range, and at most 64 characters", () => {
    expect(batchId("eclipse-pi", "realtime_data", "1-5000")).toBe("eclipse-pi.realtime_data.1-5000");
    expect(batchId("eclipse-pi", "realtime_data", "1-5000")).toBe(batchId("eclipse-pi", "realtime_data", "1-5000"));
    const long = "d".repeat(64);
    const id = batchId(long, "calibration_sessions", "1000000000-1000004999");
    expect(id).toMatch(/^~[0-9a-f]{12}\.calibration_sessions\.1000000000-1000004999$/);
    expect(batchId("e".repeat(64), "calibration_sessions", "1000000000-1000004999")).not.toBe(id);
    expect(batchId(long, "calibration_sessions", `${"9".repeat(19)}-${"9".repeat(19)}`).length).toBeLessThanOrEqual(64);
  });
});

describe("the push lock", () => {
  test("a second holder is refused until the first releases it", async () => {
    const path = tmp.path("obd.db");
    const first = await acquireLock(path);
    expect(first).toBeDefined();
    expect(await acquireLock(path)).toBeUndefined();
    first!.release();
    const second = await acquireLock(path);
    expect(second).toBeDefined();
    second!.release();
  });

  test("a lock holds while its process lives, even after a full garbage collection, and is free at once after SIGKILL", async () => {
    const path = tmp.path("obd.db");
    // The holder keeps no reference to its lock: the agent must not lose it to the collector.
    const script = `const { acquireLock } = await import(${JSON.stringify(new URL("../client/lock.ts", import.meta.url).pathname)});
      await acquireLock(${JSON.stringify(path)});
      let collections = 0;
      setInterval(() => { Bun.gc(true); if (++collections === 2) console.log("locked"); }, 20);`;
    const holder = Bun.spawn([BUN, "-e", script], { stdout: "pipe" });
    try {
      expect(await firstLine(holder.stdout)).toBe("locked");
      expect(await acquireLock(path)).toBeUndefined();
      holder.kill("SIGKILL");
      await holder.exited;
      const lock = await acquireLock(path);
      expect(lock).toBeDefined();
      lock!.release();
    } finally {
      holder.kill("SIGKILL");
    }
  });

  test("waiting for the lock resumes when the holder releases it", async () => {
    const path = tmp.path("obd.db");
    const first = (await acquireLock(path))!;
    const waiting = acquireLock(path, { wait: true });
    setTimeout(() => first.release(), 50);
    const second = await waiting;
    expect(second).toBeDefined();
    second!.release();
  });
});

test("a simulated Pi database's mirrored tables are all discovered, parents first", () => {
  db.close();
  piDatabase(tmp.path("sim.db"));
  db = openDb(tmp.path("sim.db"));
  // The simulator's default is the modern schema, from before the current Pi's four tables.
  expect(discoverTables(db)).toEqual({
    present: expect.any(Array),
    missing: ["dtc_log", "dtc_freeze_frame", "drive_summary", "battery_health_log"],
    skipped: [],
  });
  // The tables the server guards against another database's rows go first; profiles and vehicle_info after them.
  expect(discoverTables(db).present.map((s) => s.name)).toEqual(["calibration_sessions", "realtime_data", "statistics", "ai_recommendations", "connection_log", "alert_log", "profiles", "vehicle_info"]);
});
