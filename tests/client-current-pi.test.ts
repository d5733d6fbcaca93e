/**
 * The agent and today's Pi, end to end: a subprocess pushing simulated
 * current-schema databases to the real app on loopback (real MariaDB), then
 * MySQL compared with the SQLite file value for value in all twelve mirrored
 * tables, the columns and tables the server does not know, and what happens
 * when a different database pushes under a device id the server knows.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { openDb } from "../client/sqlite.ts";
import { PI_ONLY_TABLES, TABLES } from "../lib/tables.ts";
import { API_KEY } from "./helpers/app.ts";
import { marks, mirrorOf, piDatabase, runAgent, sqliteCount, sqliteExec, startServer, tempDir, type TempDir } from "./helpers/client-agent.ts";

let server: Awaited<ReturnType<typeof startServer>>;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.stop());

let tmp: TempDir;
let db: string;
let device: string;
let seq = 0;
beforeEach(() => {
  tmp = tempDir();
  db = tmp.path("obd.db");
  device = `cur-e2e-${++seq}`;
});
afterEach(() => tmp.remove());

const env = { COMPANION_API_KEY: API_KEY };
type Result = { ok: boolean; tables: { table: string; status: string; sent: number; inserted: number; updated: number; quarantined: number; unknownColumns: string[]; error?: string }[]; skipped: { table: string; reason: string }[] };
const push = (path = db, ...args: string[]) => runAgent(["push", "--db", path, "--server", server.url, "--device-id", device, ...args], { cwd: tmp.dir, env });
const pushJson = async (path = db, ...args: string[]) => {
  const run = await push(path, "--json", ...args);
  return { ...run, result: JSON.parse(run.stdout) as Result };
};
const sentBy = (r: Result) => Object.fromEntries(r.tables.filter((t) => t.sent > 0).map((t) => [t.table, t.sent]));

async function expectMirror(path = db) {
  const { pi, server: mysql } = await mirrorOf(server, path, device);
  expect(mysql).toEqual(pi);
  return pi;
}

/** Every table name the device's batches carried (each with rows), from sync_history. */
async function tablesSent(): Promise<string[]> {
  const rows: { tables_synced: unknown }[] = await server.db.query("SELECT tables_synced FROM sync_history WHERE device_id = ?", [device]);
  const names = rows.flatMap((r) => Object.keys(typeof r.tables_synced === "string" ? JSON.parse(r.tables_synced) : (r.tables_synced as object)));
  return [...new Set(names)].sort();
}

/** The server's rows for the device, every table it mirrors and unmapped_rows, as stored. */
async function snapshot() {
  const out: Record<string, unknown[]> = {};
  for (const t of [...TABLES.map((t) => t.name), "unmapped_rows"]) {
    out[t] = await server.db.pool.query({ sql: `SELECT * FROM \`${t}\` WHERE source_device = ? ORDER BY id`, dateStrings: true }, [device]);
  }
  return out;
}

test("a current-schema database drains: MySQL matches SQLite in all twelve tables, and a DTC updated in place is re-sent alone", async () => {
  const summary = piDatabase(db, { current: true, drives: 3, minutes: 2, dataSource: "real" });
  const run = await pushJson(db, "--batch-size", "700");
  expect(run.stderr).toBe("");
  expect(run.code).toBe(0);
  const pi = await expectMirror();
  for (const t of TABLES) expect({ table: t.name, rows: pi[t.name]!.length }).toEqual({ table: t.name, rows: summary.rows[t.name]! });
  for (const t of ["dtc_log", "dtc_freeze_frame", "drive_summary", "battery_health_log"]) expect({ t, rows: pi[t]!.length > 0 }).toEqual({ t, rows: true });
  // The Pi's own tables never leave it.
  expect((await tablesSent()).filter((t) => !TABLES.some((m) => m.name === t))).toEqual([]);
  for (const t of PI_ONLY_TABLES.filter((t) => t !== "sync_log")) expect({ t, onPi: sqliteCount(db, `SELECT count(*) FROM sqlite_master WHERE name = '${t}'`) }).toEqual({ t, onPi: 1 });

  // The code persists: the Pi updates its row in place; the next push sends that row and nothing else.
  sqliteExec(db, "UPDATE dtc_log SET last_seen_timestamp = '2026-04-19T15:00:00Z', status = 'stored' WHERE id = 3");
  const again = await pushJson();
  expect(again.code).toBe(0);
  expect(again.result.tables.filter((t) => t.sent > 0).map((t) => [t.table, t.sent, t.inserted, t.updated])).toEqual([["dtc_log", 1, 0, 1]]);
  const [row] = await server.db.pool.query({ sql: "SELECT status, last_seen_timestamp AS seen FROM dtc_log WHERE source_device = ? AND source_id = 3", dateStrings: true }, [device]);
  expect(row).toEqual({ status: "stored", seen: "2026-04-19 15:00:00.000000" });
  await expectMirror();
});

test("columns and tables the server does not know are sent and kept; a replay duplicates neither", async () => {
  piDatabase(db, { current: true, drives: 2, minutes: 1 });
  sqliteExec(
    db,
    `ALTER TABLE dtc_log ADD COLUMN ecu_address TEXT;
     UPDATE dtc_log SET ecu_address = '7E8' WHERE id = 1;
     ALTER TABLE realtime_data ADD COLUMN quality INTEGER;
     UPDATE realtime_data SET quality = id % 3;
     CREATE TABLE gear_log (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT NOT NULL, gear INTEGER, ratio REAL);
     INSERT INTO gear_log (timestamp, gear, ratio) VALUES ('2026-04-19T08:01:00Z', 2, 1.947), ('2026-04-19T08:01:09Z', 3, 1.379), ('2026-04-19T08:01:30Z', 4, NULL);
     CREATE TABLE trip_tags (tag TEXT PRIMARY KEY, note TEXT) WITHOUT ROWID;
     INSERT INTO trip_tags VALUES ('commute', 'weekday'), ('track', 'Sunday');
     CREATE TABLE scratch (a TEXT, b TEXT);
     INSERT INTO scratch VALUES ('x', 'y');
     CREATE TABLE "Odd-Name" (id INTEGER PRIMARY KEY, v TEXT);`,
  );
  const run = await pushJson();
  expect(run.code).toBe(0);
  const byTable = Object.fromEntries(run.result.tables.map((t) => [t.table, t]));
  expect(byTable.dtc_log!.unknownColumns).toEqual(["ecu_address"]);
  expect(byTable.realtime_data!.unknownColumns).toEqual(["quality"]);
  expect([byTable.gear_log!.sent, byTable.trip_tags!.sent]).toEqual([3, 2]);
  expect(run.result.skipped).toEqual([
    { table: "Odd-Name", reason: "the server keeps only tables named like ^[a-z][a-z0-9_]{0,63}$" },
    { table: "scratch", reason: "it has no primary key to tell its rows apart" },
  ]);
  const pi = await expectMirror();
  expect(pi["unmapped:gear_log"]!.length).toBe(3);
  const [extra] = await server.db.query("SELECT extra FROM dtc_log WHERE source_device = ? AND source_id = 1", [device]);
  expect(typeof extra.extra === "string" ? JSON.parse(extra.extra) : extra.extra).toEqual({ ecu_address: "7E8" });

  const text = await push();
  expect(text.code).toBe(0);
  expect(text.stdout).toContain("Not sent: Odd-Name (the server keeps only tables named like ^[a-z][a-z0-9_]{0,63}$); scratch (it has no primary key to tell its rows apart)");
  const [{ n }] = await server.db.query("SELECT COUNT(*) AS n FROM unmapped_rows WHERE source_device = ?", [device]);
  expect(Number(n)).toBe(5);

  // New and changed rows of the unknown tables go as a mirrored table's would: appended by id, or by hash.
  sqliteExec(db, "INSERT INTO gear_log (timestamp, gear, ratio) VALUES ('2026-04-19T08:02:00Z', 5, 0.82); UPDATE trip_tags SET note = 'weekdays' WHERE tag = 'commute'");
  const more = await pushJson();
  expect(sentBy(more.result)).toEqual({ gear_log: 1, trip_tags: 1 });
  expect(more.result.tables.find((t) => t.table === "trip_tags")).toMatchObject({ inserted: 0, updated: 1 });
  await expectMirror();
});

describe("a different database under a device id the server knows", () => {
  test("gets 409: the agent stops those tables, changes nothing locally, says what to do; the server keeps every row; the original still syncs", async () => {
    piDatabase(db, { current: true, drives: 2, minutes: 1 });
    sqliteExec(db, "CREATE TABLE gear_log (id INTEGER PRIMARY KEY, gear INTEGER); INSERT INTO gear_log VALUES (1, 2)");
    expect((await push()).code).toBe(0);
    const before = await snapshot();

    // A new SD card: a fresh database whose ids start at 1 again, pushed under the same device id.
    const fresh = tmp.path("fresh.db");
    piDatabase(fresh, { current: true, drives: 1, minutes: 1, seed: 9, start: "2026-05-02 07:30:00" });
    sqliteExec(fresh, "CREATE TABLE gear_log (id INTEGER PRIMARY KEY, gear INTEGER); INSERT INTO gear_log VALUES (1, 5)");
    const refused = await push(fresh);
    expect(refused.code).toBe(1);
    const [error, hint] = refused.stderr.trim().split("\n");
    expect(error).toStartWith(`Error: the server already holds other rows for device ${device} in table realtime_data, connection_log, dtc_log, `);
    expect(error).toContain("this looks like a different Pi database (for example a new SD card); those tables were not sent and nothing changed here");
    expect(error).toContain('realtime_data 1: the server has timestamp "2026-04-19 08:00:01.');
    expect(hint).toBe(`Try: give this database its own --device-id (for example ${device}-2); if it is a restored backup, use obd2-sync restore`);
    expect(refused.stdout).toContain("gear_log");

    // Nothing changed on the server, and nothing local but the recorded conflict.
    expect(await snapshot()).toEqual(before);
    expect(Object.values(marks(fresh)).filter((m) => m > 0)).toEqual([]);
    expect(sqliteCount(fresh, "SELECT count(*) FROM sync_quarantine")).toBe(0);
    expect(sqliteCount(fresh, "SELECT count(*) FROM sync_row_hash WHERE table_name IN ('dtc_log', 'calibration_sessions', 'battery_health_log')")).toBe(0);

    const json = await pushJson(fresh);
    expect(json.code).toBe(1);
    const statusOf = Object.fromEntries(json.result.tables.map((t) => [t.table, t.status]));
    expect(statusOf).toMatchObject({ realtime_data: "conflict", connection_log: "conflict", dtc_log: "conflict", drive_summary: "conflict", gear_log: "skipped" });
    expect(await snapshot()).toEqual(before);

    const status = await runAgent(["status", "--db", fresh], { cwd: tmp.dir });
    expect(status.code).toBe(1);
    expect(status.stdout).toContain(`The server refused these tables: it holds other rows under device ${device}, from a different Pi database (for example a new SD card):`);
    expect(status.stdout).toContain(`Try: give this database its own --device-id (for example ${device}-2); if it is a restored backup, use obd2-sync restore`);
    const state = JSON.parse((await runAgent(["status", "--db", fresh, "--json"], { cwd: tmp.dir })).stdout);
    expect(state.tables.find((t: { table: string }) => t.table === "realtime_data").conflict).toMatchObject({ deviceId: device, detail: expect.stringContaining("different Pi database"), conflicts: expect.any(Array) });

    // The original database goes on syncing its new rows.
    sqliteExec(db, "INSERT INTO realtime_data (timestamp, parameter_name, value, unit, profile_id, data_source, drive_id) VALUES ('2026-04-19T18:00:00Z', 'RPM', 850, 'rpm', 'daily', 'real', 9)");
    const original = await pushJson();
    expect(original.code).toBe(0);
    expect(sentBy(original.result)).toEqual({ realtime_data: 1 });
    await expectMirror();

    // Under its own device id the new database syncs in full.
    device = `${device}-2`;
    expect((await push(fresh)).code).toBe(0);
    await expectMirror(fresh);
    const cleared = await runAgent(["status", "--db", fresh, "--json"], { cwd: tmp.dir });
    expect(JSON.parse(cleared.stdout).tables.every((t: { conflict: unknown }) => t.conflict === null)).toBe(true);
  });
});

test("a restored backup, restored with obd2-sync restore, goes on syncing: its drive counter moves past the server's drives", async () => {
  piDatabase(db, { current: true, drives: 1, minutes: 1 });
  expect((await push()).code).toBe(0);
  const backup = tmp.path("obd.db.gz");
  writeFileSync(backup, gzipSync(readFileSync(db)));
  // After the backup the Pi drove twice more and pushed.
  piDatabase(db, { current: true, drives: 2, minutes: 1, append: true });
  expect((await push()).code).toBe(0);
  expect(sqliteCount(db, "SELECT last_drive_id FROM drive_counter")).toBe(3);

  const restored = tmp.path("restored.db");
  const run = await runAgent(["restore", "--from", backup, "--to", restored, "--server", server.url, "--device-id", device, "--json"], { cwd: tmp.dir, env });
  expect(run.code).toBe(0);
  expect(JSON.parse(run.stdout)).toMatchObject({ driveCounter: { before: 1, after: 3 }, warnings: [] });
  // The restored Pi's next drive is drive 4, and everything it logs syncs beside what the server has.
  piDatabase(restored, { current: true, drives: 1, minutes: 1, append: true });
  expect(sqliteCount(restored, "SELECT max(drive_id) FROM drive_summary")).toBe(4);
  const pushed = await pushJson(restored);
  expect(pushed.stderr).toBe("");
  expect(pushed.code).toBe(0);
  expect(pushed.result.tables.filter((t) => t.status !== "ok")).toEqual([]);
  const [{ n }] = await server.db.query("SELECT COUNT(*) AS n FROM drive_summary WHERE source_device = ?", [device]);
  expect(Number(n)).toBe(4);
});

test("the Pi-only tables are never sent, even when they hold rows", async () => {
  piDatabase(db, { current: true, drives: 1, minutes: 1 });
  sqliteExec(db, "CREATE TABLE sync_log (table_name TEXT PRIMARY KEY, last_synced_id INTEGER NOT NULL DEFAULT 0, last_synced_at TEXT, last_batch_id TEXT, status TEXT NOT NULL DEFAULT 'pending')");
  for (const t of PI_ONLY_TABLES) expect({ t, exists: sqliteCount(db, `SELECT count(*) FROM sqlite_master WHERE name = '${t}'`) }).toEqual({ t, exists: 1 });
  for (const t of PI_ONLY_TABLES.filter((t) => t !== "sync_log")) expect({ t, rows: sqliteCount(db, `SELECT count(*) FROM ${t}`) > 0 }).toEqual({ t, rows: true });
  const run = await pushJson();
  expect(run.code).toBe(0);
  expect(run.result.tables.map((t) => t.table).filter((t) => PI_ONLY_TABLES.includes(t) || t.startsWith("sync_"))).toEqual([]);
  expect((await tablesSent()).filter((t) => !TABLES.some((m) => m.name === t))).toEqual([]);
  const d = openDb(db);
  try {
    expect(d.prepare("SELECT count(*) AS n FROM sync_log WHERE table_name IN (SELECT value FROM json_each(?))").get(JSON.stringify(PI_ONLY_TABLES))!.n).toBe(0);
  } finally {
    d.close();
  }
});
