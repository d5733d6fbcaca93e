/**
 * The drive simulator (scripts/simulate/) writes real SQLite files in a temp
 * dir; these tests read them back and hold them to the Pi's shapes and to
 * lib/tables.ts, which is what the server will accept.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDb, type Row } from "../client/sqlite.ts";
import { TABLES, TEXT_KEY_LENGTH, type MirroredTable } from "../lib/tables.ts";
import { toSqlDatetime } from "../lib/time.ts";
import { simulate, UsageError, type SimulateSummary } from "../scripts/simulate/index.ts";

const repo = join(import.meta.dir, "..");
const bun = join(repo, "node_modules/.bin/bun");
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "obd2-simulate-"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function query(path: string, sql: string, ...params: (string | number)[]): Row[] {
  const db = openDb(path, { readonly: true });
  try {
    return db.prepare(sql).all(...params);
  } finally {
    db.close();
  }
}

const tablesIn = (path: string) => query(path, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").map((r) => String(r.name));
const columnsOf = (path: string, table: string) => query(path, "SELECT name FROM pragma_table_info(?)", table).map((r) => String(r.name));
const count = (path: string, table: string) => Number(query(path, `SELECT count(*) AS n FROM ${table}`)[0]!.n);

/** A digest of the schema and every row of every table, in rowid order. */
function contentHash(path: string): string {
  const hash = createHash("sha256");
  for (const r of query(path, "SELECT name, sql FROM sqlite_master ORDER BY name")) hash.update(`${r.name}\n${r.sql}\n`);
  for (const table of [...tablesIn(path), "sqlite_sequence"]) {
    for (const row of query(path, `SELECT * FROM ${table} ORDER BY rowid`)) hash.update(`${table} ${JSON.stringify(row)}\n`);
  }
  return hash.digest("hex");
}

/** True when a value does not fit the server's column type. */
function misfit(type: MirroredTable["columns"][number]["type"], v: unknown): boolean {
  switch (type.kind) {
    case "datetime":
      return typeof v !== "string" || toSqlDatetime(v) === undefined;
    case "double":
      return typeof v !== "number" || !Number.isFinite(v);
    case "int":
      return !Number.isInteger(v) || (v as number) < -2147483648 || (v as number) > 2147483647;
    case "bigint":
      return !Number.isSafeInteger(v);
    case "varchar":
      return typeof v !== "string" || [...v].length > type.length;
    case "json":
      try {
        return typeof v !== "string" || Buffer.byteLength(v) > type.bytes || (JSON.parse(v), false);
      } catch {
        return true;
      }
    default:
      return typeof v !== "string" || Buffer.byteLength(v) > type.bytes;
  }
}

async function run(cmd: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn(cmd, { cwd: repo, stdout: "pipe", stderr: "pipe" });
  const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  return { code, stdout, stderr };
}

/** The tables only today's Pi has (the simulator's --current). */
const CURRENT_ONLY = ["dtc_log", "dtc_freeze_frame", "drive_summary", "battery_health_log"];
const MODERN_TABLES = TABLES.filter((t) => !CURRENT_ONLY.includes(t.name));

/** Every mirrored table of `tables` has all its columns in the file and rows that fit the server's columns. */
function expectServerAccepts(path: string, tables: readonly MirroredTable[]) {
  for (const table of tables) {
    expect({ table: table.name, missing: [table.key, ...table.columns.map((c) => c.name)].filter((c) => !columnsOf(path, table.name).includes(c)) }).toEqual({ table: table.name, missing: [] });
    const rows = query(path, `SELECT * FROM ${table.name}`);
    expect({ table: table.name, empty: rows.length === 0 }).toEqual({ table: table.name, empty: false });
    const bad: string[] = [];
    for (const row of rows) {
      const key = row[table.key];
      if (table.keyType === "int" ? !Number.isSafeInteger(key) : typeof key !== "string" || [...key].length > TEXT_KEY_LENGTH) bad.push(`${table.key}=${key}`);
      for (const col of table.columns) {
        const v = row[col.name];
        if (v === null ? !col.nullable : misfit(col.type, v)) bad.push(`${table.name}.${col.name}=${JSON.stringify(v)} (key ${key})`);
      }
    }
    expect(bad).toEqual([]);
  }
}

const PI_FORMATS = { micro: /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$/, plain: /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/, iso: /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/ };

describe("a default simulated day", () => {
  let day: string;
  let summary: SimulateSummary;
  beforeAll(() => {
    day = join(dir, "day.db");
    summary = simulate({ out: day });
  });

  test("the summary counts equal the rows in the file", () => {
    expect(summary.drives).toBe(3);
    const tables = tablesIn(day);
    expect(Object.keys(summary.rows).sort()).toEqual(tables);
    for (const t of tables) expect({ table: t, rows: count(day, t) }).toEqual({ table: t, rows: summary.rows[t]! });
    expect(summary.rows.realtime_data).toBe(3 * 20 * 60 * 13);
  });

  test("at least 11 PIDs are polled, each about once a second of driving", () => {
    const pids = query(day, "SELECT parameter_name, unit, count(*) AS n FROM realtime_data WHERE drive_id = 1 GROUP BY 1, 2");
    expect(pids.length).toBeGreaterThanOrEqual(11);
    for (const p of pids) expect(p.n).toBe(20 * 60);
    expect(pids.find((p) => p.parameter_name === "COOLANT_TEMP")?.unit).toBe("°C");
  });

  test("each drive has one drive_start and one drive_end, in order", () => {
    const events = query(day, "SELECT drive_id, event_type FROM connection_log WHERE event_type IN ('drive_start', 'drive_end') ORDER BY id");
    expect(events).toEqual([1, 2, 3].flatMap((d) => [{ drive_id: d, event_type: "drive_start" }, { drive_id: d, event_type: "drive_end" }]));
  });

  test("timestamps use all three Pi formats and toSqlDatetime accepts every one", () => {
    const seen = { micro: 0, plain: 0, iso: 0 };
    for (const table of MODERN_TABLES) {
      for (const col of table.columns.filter((c) => c.type.kind === "datetime")) {
        for (const { t } of query(day, `SELECT ${col.name} AS t FROM ${table.name} WHERE ${col.name} IS NOT NULL`)) {
          const format = (Object.keys(PI_FORMATS) as (keyof typeof PI_FORMATS)[]).find((f) => PI_FORMATS[f].test(String(t)));
          expect({ table: table.name, column: col.name, t, format }).toEqual({ table: table.name, column: col.name, t, format: expect.any(String) });
          expect(toSqlDatetime(String(t))).toBeString();
          seen[format!]++;
        }
      }
    }
    expect(seen.micro).toBeGreaterThan(seen.plain + seen.iso);
    expect(seen.plain).toBeGreaterThan(0);
    expect(seen.iso).toBeGreaterThan(0);
  });

  test("every row of a drive lies between its drive_start and drive_end", () => {
    const when = (t: unknown) => toSqlDatetime(String(t))!;
    for (const d of [1, 2, 3]) {
      const [start, end] = query(day, "SELECT timestamp FROM connection_log WHERE drive_id = ? AND event_type IN ('drive_start', 'drive_end') ORDER BY id", d).map((r) => when(r.timestamp));
      const times = [
        ...query(day, "SELECT timestamp AS t FROM realtime_data WHERE drive_id = ?", d),
        ...query(day, "SELECT timestamp AS t FROM alert_log WHERE drive_id = ?", d),
        ...query(day, "SELECT timestamp AS t FROM connection_log WHERE drive_id = ?", d),
        ...query(day, "SELECT analysis_date AS t FROM statistics WHERE drive_id = ?", d),
      ].map((r) => when(r.t));
      const outside = times.filter((t) => t < start! || t > end!);
      expect({ drive: d, outside }).toEqual({ drive: d, outside: [] });
    }
  });

  test("every mirrored row satisfies lib/tables.ts, so the server will accept it", () => {
    expect(tablesIn(day).filter((t) => CURRENT_ONLY.includes(t))).toEqual([]);
    expectServerAccepts(day, MODERN_TABLES);
  });

  test("foreign keys hold: profiles exist and the duplicate recommendation points at an earlier one", () => {
    expect(query(day, "PRAGMA foreign_key_check")).toEqual([]);
    expect(query(day, "SELECT id FROM profiles ORDER BY id").map((r) => r.id)).toEqual(["daily", "performance"]);
    const dupes = query(day, "SELECT id, is_duplicate_of FROM ai_recommendations WHERE is_duplicate_of IS NOT NULL");
    expect(dupes.length).toBe(1);
    expect(dupes[0]!.is_duplicate_of as number).toBeLessThan(dupes[0]!.id as number);
    expect(query(day, "SELECT count(*) AS n FROM ai_recommendations WHERE priority_rank NOT BETWEEN 1 AND 5")[0]!.n).toBe(0);
    expect(query(day, "SELECT end_time IS NULL AS open FROM calibration_sessions ORDER BY session_id")).toEqual([{ open: 0 }, { open: 1 }]);
    expect(query(day, "SELECT vin, year, engine FROM vehicle_info")).toEqual([{ vin: "4A3AK54F8WE122916", year: 1998, engine: "4G63" }]);
  });

  test("statistics are computed from the drive's own readings", () => {
    const actual = query(
      day,
      "SELECT drive_id, parameter_name, max(value) AS max, min(value) AS min, avg(value) AS avg, count(*) AS n FROM realtime_data GROUP BY 1, 2 ORDER BY 1, 2",
    );
    const stats = query(day, "SELECT * FROM statistics ORDER BY drive_id, parameter_name");
    expect(stats.length).toBe(actual.length);
    stats.forEach((s, i) => {
      const a = actual[i]!;
      expect([s.drive_id, s.parameter_name, s.max_value, s.min_value, s.sample_count]).toEqual([a.drive_id, a.parameter_name, a.max, a.min, a.n]);
      expect(s.avg_value as number).toBeCloseTo(a.avg as number, 6);
      expect(s.std_2).toBe(2 * (s.std_1 as number));
      expect(s.outlier_max as number).toBeCloseTo((s.avg_value as number) + 2 * (s.std_1 as number), 9);
      const driveEnd = query(day, "SELECT timestamp FROM connection_log WHERE drive_id = ? AND event_type = 'drive_end'", s.drive_id as number)[0]!.timestamp;
      expect(toSqlDatetime(String(s.analysis_date))!.slice(0, 19)).toBe(toSqlDatetime(String(driveEnd))!.slice(0, 19));
    });
  });

  test("alerts are readings over their threshold", () => {
    const alerts = query(day, "SELECT a.*, r.id AS reading FROM alert_log a LEFT JOIN realtime_data r ON r.timestamp = a.timestamp AND r.parameter_name = a.parameter_name AND r.value = a.value AND r.drive_id = a.drive_id");
    expect(alerts.length).toBeGreaterThan(0);
    for (const a of alerts) {
      expect(a.value as number).toBeGreaterThan(a.threshold as number);
      expect(a.reading).toBeNumber();
    }
  });

  test("the physics is plausible: warm idle near 800 rpm, pulls under the limiter, coolant warming to ~90 °C, rpm matching speed", () => {
    const ticks = query(
      day,
      `SELECT max(CASE WHEN parameter_name = 'RPM' THEN value END) AS rpm, max(CASE WHEN parameter_name = 'SPEED' THEN value END) AS speed,
              max(CASE WHEN parameter_name = 'COOLANT_TEMP' THEN value END) AS coolant
       FROM realtime_data GROUP BY (id - 1) / 13`,
    ) as { rpm: number; speed: number; coolant: number }[];
    const warmIdle = ticks.filter((t) => t.speed === 0 && t.coolant >= 80).map((t) => t.rpm);
    expect(warmIdle.length).toBeGreaterThan(30);
    for (const rpm of warmIdle) expect(rpm).toBeWithin(700, 950);
    const maxRpm = Math.max(...ticks.map((t) => t.rpm));
    expect(maxRpm).toBeGreaterThan(6000);
    expect(maxRpm).toBeLessThanOrEqual(7000);
    expect(ticks[0]!.coolant).toBeLessThan(40);
    expect(Math.max(...ticks.map((t) => t.coolant))).toBeWithin(85, 106);
    // Between 5th gear (~28 rpm per km/h) and 1st (~125).
    for (const t of ticks.filter((t) => t.speed >= 20)) expect(t.rpm / t.speed).toBeWithin(25, 130);
  });
});

describe("a current-schema day (today's Pi)", () => {
  let day: string;
  let summary: SimulateSummary;
  beforeAll(() => {
    day = join(dir, "current.db");
    summary = simulate({ out: day, current: true, drives: 4, minutes: 3 });
  });

  /** A table's columns as current_schema.db's pragma_table_info has them (tests/fixtures/current-schema.json). */
  const shape = (path: string, table: string) =>
    query(path, 'SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?)', table).map(
      (c) => `${c.name} ${c.type}${c.notnull ? " NOT NULL" : ""}${c.dflt_value !== null ? ` DEFAULT ${c.dflt_value}` : ""}${c.pk ? " PK" : ""}`,
    );

  test("has current_schema.db's tables, columns, types, defaults, keys and indexes (and the modern Pi's battery_log)", async () => {
    const { indexes, ...expected } = (await import("./fixtures/current-schema.json")).default as Record<string, string[]>;
    expect(tablesIn(day)).toEqual([...Object.keys(expected), "battery_log"].sort());
    for (const table of Object.keys(expected)) expect({ table, columns: shape(day, table) }).toEqual({ table, columns: expected[table]! });
    const have = query(day, "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name").map((r) => String(r.name));
    expect(have.filter((i) => !i.startsWith("IX_battery_log_"))).toEqual(indexes!);
  });

  test("every row of all twelve mirrored tables satisfies lib/tables.ts, so the server will accept it", () => {
    expectServerAccepts(day, TABLES);
    expect(Object.keys(summary.rows).sort()).toEqual(tablesIn(day));
    for (const t of tablesIn(day)) expect({ table: t, rows: count(day, t) }).toEqual({ table: t, rows: summary.rows[t]! });
  });

  test("every drive has its drive_id on its rows and a drive_summary; the counter holds the last; the last drive never logged its end", () => {
    for (const table of ["realtime_data", "connection_log", "alert_log"]) expect({ table, unscoped: query(day, `SELECT count(*) AS n FROM ${table} WHERE drive_id IS NULL AND ${table === "connection_log" ? "event_type LIKE 'drive_%'" : "1"}`)[0]!.n }).toEqual({ table, unscoped: 0 });
    expect(query(day, "SELECT DISTINCT drive_id FROM realtime_data ORDER BY 1").map((r) => r.drive_id)).toEqual([1, 2, 3, 4]);
    expect(query(day, "SELECT DISTINCT drive_id FROM statistics ORDER BY 1").map((r) => r.drive_id)).toEqual([1, 2, 3]);
    const summaries = query(day, "SELECT * FROM drive_summary ORDER BY drive_id");
    expect(summaries.map((r) => r.drive_id)).toEqual([1, 2, 3, 4]);
    for (const r of summaries) {
      const start = query(day, "SELECT timestamp FROM connection_log WHERE drive_id = ? AND event_type = 'drive_start'", r.drive_id as number)[0]!.timestamp;
      expect(toSqlDatetime(String(r.drive_start_timestamp))!.slice(0, 19)).toBe(toSqlDatetime(String(start))!.slice(0, 19));
      expect(r.drive_start_timestamp).toMatch(PI_FORMATS.iso);
      expect(r.starting_battery_v as number).toBeWithin(12.3, 12.8);
      expect(r.barometric_kpa_at_start as number).toBeWithin(98, 102);
    }
    // The first drive is a cold start; later ones start warm unless the car cooled down, when ambient is unknown.
    expect(summaries[0]!.ambient_temp_at_start_c).toBeNumber();
    expect(query(day, "SELECT drive_id, event_type FROM connection_log WHERE event_type IN ('drive_start', 'drive_end') ORDER BY id").map((e) => `${e.drive_id} ${e.event_type}`)).toEqual([
      "1 drive_start", "1 drive_end", "2 drive_start", "2 drive_end", "3 drive_start", "3 drive_end", "4 drive_start",
    ]);
    expect(query(day, "SELECT * FROM drive_counter")).toEqual([{ id: 1, last_drive_id: 4 }]);
    expect(query(day, "SELECT * FROM pi_state")).toEqual([{ id: 1, no_new_drives: 0 }]);
    expect(count(day, "startup_log")).toBe(4);
  });

  test("DTCs: one persists and is updated in place, one is cleared and comes back as a new row; freeze frames hold the PIDs", () => {
    const dtcs = query(day, "SELECT id, dtc_code, status, first_seen_timestamp AS first, last_seen_timestamp AS last, drive_id FROM dtc_log ORDER BY id");
    expect(dtcs.map((d) => [d.dtc_code, d.status, d.drive_id])).toEqual([["P0171", "stored", 1], ["P0300", "cleared", 1], ["P0300", "pending", 3]]);
    expect(dtcs[0]!.last! > dtcs[0]!.first!).toBe(true);
    const lastSeen = toSqlDatetime(String(dtcs[0]!.last))!;
    const drive4 = query(day, "SELECT min(timestamp) AS lo, max(timestamp) AS hi FROM realtime_data WHERE drive_id = 4")[0]!;
    expect(lastSeen >= toSqlDatetime(String(drive4.lo))! && lastSeen <= toSqlDatetime(String(drive4.hi))!).toBe(true);
    const frames = query(day, "SELECT dtc_log_id, pid_responses_json AS pids, notes FROM dtc_freeze_frame ORDER BY id");
    expect(frames.map((f) => f.dtc_log_id)).toEqual(dtcs.map((d) => d.id));
    const full = JSON.parse(String(frames[0]!.pids));
    expect(Object.keys(full)).toContain("RPM");
    expect(Object.keys(full).length).toBeGreaterThanOrEqual(13);
    expect(typeof full.COOLANT_TEMP).toBe("number");
    expect([frames[1]!.dtc_log_id, frames[1]!.pids, frames[1]!.notes]).toEqual([dtcs[1]!.id!, "{}", expect.stringContaining("Mode 02 unavailable")]);
  });

  test("UPS drain events: the owner's drill, one per finished drive, and one the Pi died in", () => {
    const events = query(day, "SELECT load_class, end_timestamp IS NULL AS open, runtime_seconds, start_vcell_v, end_vcell_v FROM battery_health_log ORDER BY drain_event_id");
    expect(events.map((e) => [e.load_class, e.open])).toEqual([["test", 0], ["production", 0], ["production", 0], ["production", 0], ["production", 1]]);
    for (const e of events.filter((e) => !e.open)) expect(e.end_vcell_v as number).toBeLessThan(e.start_vcell_v as number);
  });

  test("rows are tagged physics_sim by default, real when asked, with the same readings; the same seed gives the same file", () => {
    const tagged = (path: string) => tablesIn(path).filter((t) => columnsOf(path, t).includes("data_source")).flatMap((t) => query(path, `SELECT DISTINCT data_source AS s FROM ${t}`).map((r) => r.s));
    expect([...new Set(tagged(day))]).toEqual(["physics_sim"]);
    const real = join(dir, "current-real.db");
    simulate({ out: real, current: true, drives: 4, minutes: 3, dataSource: "real" });
    expect([...new Set(tagged(real))]).toEqual(["real"]);
    expect(query(real, "SELECT id, timestamp, value FROM realtime_data ORDER BY id")).toEqual(query(day, "SELECT id, timestamp, value FROM realtime_data ORDER BY id"));
    const again = join(dir, "current-again.db");
    simulate({ out: again, current: true, drives: 4, minutes: 3 });
    expect(contentHash(again)).toBe(contentHash(day));
    // A current file's readings are the modern file's: the current-only rows draw from their own streams.
    const modern = join(dir, "modern-4.db");
    simulate({ out: modern, drives: 4, minutes: 3 });
    expect(query(modern, "SELECT id, timestamp, value FROM realtime_data ORDER BY id")).toEqual(query(day, "SELECT id, timestamp, value FROM realtime_data ORDER BY id"));
  });

  test("the CLI writes one with --current --data-source real; legacy and current together are refused", async () => {
    const out = join(dir, "cli-current.db");
    const { code, stderr } = await run([bun, "scripts/simulate/cli.ts", "--out", out, "--drives", "2", "--minutes", "1", "--current", "--data-source", "real"]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    expect(query(out, "SELECT DISTINCT data_source AS s FROM dtc_log")).toEqual([{ s: "real" }]);
    expect(() => simulate({ out: join(dir, "both.db"), legacy: true, current: true })).toThrow("legacy and current are two different Pi schemas; pass one of them");
    const appended = simulate({ out, drives: 1, minutes: 1, append: true });
    expect(appended.rows.drive_summary).toBe(1);
    expect(query(out, "SELECT last_drive_id FROM drive_counter")).toEqual([{ last_drive_id: 3 }]);
  });
});

test("the same seed writes identical rows and another seed different ones", () => {
  const opts = { drives: 2, minutes: 5, seed: 7 };
  simulate({ out: join(dir, "seed7a.db"), ...opts });
  simulate({ out: join(dir, "seed7b.db"), ...opts });
  simulate({ out: join(dir, "seed8.db"), ...opts, seed: 8 });
  expect(contentHash(join(dir, "seed7a.db"))).toBe(contentHash(join(dir, "seed7b.db")));
  expect(contentHash(join(dir, "seed8.db"))).not.toBe(contentHash(join(dir, "seed7a.db")));
});

/** Run by Node (better-sqlite3) from inside the repo, so tsx resolves the imports as ESM. */
const NODE_SCRIPT = `
import { openDb, sqliteDriver } from "../client/sqlite.ts";
import { follow, simulate } from "../scripts/simulate/index.ts";

const [modern, legacy, followed] = process.argv.slice(2);
simulate({ out: modern, drives: 1, minutes: 3, seed: 11 });
simulate({ out: legacy, drives: 1, minutes: 3, seed: 11, legacy: true });
simulate({ out: followed, drives: 1, minutes: 1, legacy: true });
const count = () => {
  const db = openDb(followed, { readonly: true });
  try { return db.prepare("SELECT count(*) AS n FROM realtime_data").get().n; } finally { db.close(); }
};
const stop = new AbortController();
const following = follow(followed, { rate: 500, signal: stop.signal });
while (count() <= 780) await new Promise((resolve) => setTimeout(resolve, 20));
stop.abort();
console.log(JSON.stringify({ driver: sqliteDriver, followed: await following }));
`;

test("under Node, simulate() writes the same rows as under Bun and follow() appends to a legacy file", async () => {
  const bunModern = join(dir, "bun-modern.db");
  const bunLegacy = join(dir, "bun-legacy.db");
  simulate({ out: bunModern, drives: 1, minutes: 3, seed: 11 });
  simulate({ out: bunLegacy, drives: 1, minutes: 3, seed: 11, legacy: true });
  const [modern, legacy, followed] = ["node-modern.db", "node-legacy.db", "node-followed.db"].map((f) => join(dir, f)) as [string, string, string];
  const script = join(repo, "tests", `.simulate-node-${process.pid}.ts`);
  writeFileSync(script, NODE_SCRIPT);
  try {
    const { code, stdout, stderr } = await run(["node", "--import", "tsx", script, modern, legacy, followed]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    const result = JSON.parse(stdout) as { driver: string; followed: number };
    expect(result.driver).toBe("better-sqlite3");
    expect(contentHash(modern)).toBe(contentHash(bunModern));
    expect(contentHash(legacy)).toBe(contentHash(bunLegacy));
    expect(result.followed).toBeGreaterThan(0);
    expect(count(followed, "realtime_data")).toBe(780 + result.followed);
  } finally {
    rmSync(script, { force: true });
  }
});

test("legacy mode has no profiles table and no data_source or drive_id columns", () => {
  const out = join(dir, "legacy.db");
  const summary = simulate({ out, drives: 1, minutes: 2, legacy: true });
  const tables = tablesIn(out);
  expect(tables).not.toContain("profiles");
  expect(summary.rows.profiles).toBeUndefined();
  for (const t of tables) expect({ t, columns: columnsOf(out, t).filter((c) => c === "data_source" || c === "drive_id") }).toEqual({ t, columns: [] });
  expect(columnsOf(out, "realtime_data")).toEqual(["id", "timestamp", "parameter_name", "value", "unit", "profile_id"]);
  expect(query(out, "SELECT DISTINCT profile_id FROM realtime_data")).toEqual([{ profile_id: "daily" }]);
  expect(count(out, "realtime_data")).toBe(2 * 60 * 13);
});

test("realtimeRows writes exactly N readings with ids 1..N and a drive_start/drive_end pair per drive", () => {
  const out = join(dir, "bulk.db");
  const summary = simulate({ out, realtimeRows: 20_003, minutes: 1 });
  expect(query(out, "SELECT count(*) AS n, min(id) AS lo, max(id) AS hi FROM realtime_data")).toEqual([{ n: 20_003, lo: 1, hi: 20_003 }]);
  expect(summary).toEqual({ drives: 26, rows: expect.objectContaining({ realtime_data: 20_003, connection_log: 52, statistics: 0, profiles: 0 }) });
  const events = query(out, "SELECT drive_id, event_type FROM connection_log ORDER BY id");
  expect(events).toEqual(Array.from({ length: 26 }, (_, i) => [{ drive_id: i + 1, event_type: "drive_start" }, { drive_id: i + 1, event_type: "drive_end" }]).flat());
  expect(query(out, "SELECT min(drive_id) AS first, max(drive_id) AS last FROM realtime_data")).toEqual([{ first: 1, last: 26 }]);
});

test("appending continues drive numbers, ids and time after the file's last drive", () => {
  const out = join(dir, "append.db");
  simulate({ out, drives: 1, minutes: 2 });
  const summary = simulate({ out, drives: 1, minutes: 2, append: true });
  expect(summary.rows.realtime_data).toBe(2 * 60 * 13);
  expect(summary.rows.vehicle_info).toBe(0);
  expect(query(out, "SELECT count(*) AS n, max(id) AS hi FROM realtime_data")).toEqual([{ n: 2 * 2 * 60 * 13, hi: 2 * 2 * 60 * 13 }]);
  const events = query(out, "SELECT drive_id, timestamp FROM connection_log WHERE event_type IN ('drive_start', 'drive_end') ORDER BY id");
  expect(events.map((e) => e.drive_id)).toEqual([1, 1, 2, 2]);
  expect(toSqlDatetime(String(events[2]!.timestamp))! > toSqlDatetime(String(events[1]!.timestamp))!).toBe(true);
});

test("an existing file is refused without append and left as it was", () => {
  const out = join(dir, "exists.db");
  simulate({ out, drives: 1, minutes: 1 });
  const before = contentHash(out);
  expect(() => simulate({ out, drives: 1, minutes: 1 })).toThrow(new UsageError(`${out} already exists`));
  expect(contentHash(out)).toBe(before);
});

describe("the CLI", () => {
  test("writes the file and prints a one-line summary", async () => {
    const out = join(dir, "cli.db");
    const { code, stdout, stderr } = await run([bun, "scripts/simulate/cli.ts", "--out", out, "--drives", "1", "--minutes", "1"]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    expect(stdout).toMatch(new RegExp(`^wrote ${out}: 1 drives, realtime_data=780, vehicle_info=1, profiles=2, static_data=3, statistics=13, .*connection_log=\\d+, battery_log=2, power_log=2\\n$`));
    expect(count(out, "realtime_data")).toBe(780);
  });

  test("a missing --out is a usage error: exit 2 with Error and Try", async () => {
    expect(await run([bun, "scripts/simulate/cli.ts", "--drives", "3"])).toEqual({ code: 2, stdout: "", stderr: "Error: --out is required\nTry: bun scripts/simulate/cli.ts --out drives.db\n" });
  });

  test("a bad number is a usage error: exit 2 with Error and Try", async () => {
    const out = join(dir, "never.db");
    expect(await run([bun, "scripts/simulate/cli.ts", "--out", out, "--drives", "0"])).toEqual({ code: 2, stdout: "", stderr: "Error: drives must be a whole number ≥ 1 (got 0)\nTry: bun scripts/simulate/cli.ts --help\n" });
    expect(existsSync(out)).toBe(false);
  });

  test("--follow keeps appending until SIGTERM, then exits 0 with every row it reported", async () => {
    const out = join(dir, "follow.db");
    simulate({ out, drives: 1, minutes: 1 });
    const before = count(out, "realtime_data");
    const proc = Bun.spawn([bun, "scripts/simulate/cli.ts", "--out", out, "--follow", "--rate", "200"], { cwd: repo, stdout: "pipe", stderr: "pipe" });
    try {
      for (let waited = 0; count(out, "realtime_data") <= before; waited += 50) {
        if (waited > 30_000 || proc.exitCode !== null) throw new Error(`no rows appeared (exit ${proc.exitCode}): ${await new Response(proc.stderr).text()}`);
        await Bun.sleep(50);
      }
      proc.kill("SIGTERM");
      const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
      expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
      const written = Number(/^followed .*: wrote realtime_data=(\d+)\n$/.exec(stdout)?.[1]);
      expect(written).toBeGreaterThan(0);
      expect(count(out, "realtime_data")).toBe(before + written);
      expect(query(out, "PRAGMA integrity_check")).toEqual([{ integrity_check: "ok" }]);
      expect(query(out, "SELECT event_type FROM connection_log WHERE drive_id = 2 ORDER BY id")).toEqual([{ event_type: "drive_start" }, { event_type: "drive_end" }]);
    } finally {
      proc.kill("SIGKILL");
    }
  });
});

describe("options for drive history (issue 14)", () => {
  const ltftOf = (path: string, drive: number) => query(path, "SELECT avg(value) AS m FROM realtime_data WHERE drive_id = ? AND parameter_name = 'LONG_FUEL_TRIM_1'", drive)[0]!.m as number;

  test("ltftShift moves one drive's long-term trim and leaves every other drive's rows as they were", () => {
    const plain = join(dir, "ltft-plain.db");
    const shifted = join(dir, "ltft-shifted.db");
    simulate({ out: plain, drives: 3, minutes: 2 });
    simulate({ out: shifted, drives: 3, minutes: 2, ltftShift: { drive: 2, percent: 8 } });
    expect(ltftOf(shifted, 2) - ltftOf(plain, 2)).toBeGreaterThan(6);
    for (const d of [1, 3]) expect(query(shifted, "SELECT * FROM realtime_data WHERE drive_id = ? ORDER BY id", d)).toEqual(query(plain, "SELECT * FROM realtime_data WHERE drive_id = ? ORDER BY id", d));
    expect(() => simulate({ out: join(dir, "ltft-bad.db"), drives: 3, ltftShift: { drive: 4, percent: 8 } })).toThrow(new UsageError("ltftShift.drive must be a drive number from 1 to 3 (got 4)"));
  });

  test("dataSources tags each drive's rows with its own data_source, the same readings otherwise", () => {
    const out = join(dir, "sources.db");
    simulate({ out, drives: 3, minutes: 1, current: true, dataSources: ["real", "physics_sim", "real"] });
    for (const table of ["realtime_data", "drive_summary", "dtc_log", "statistics"]) {
      const tags = query(out, `SELECT DISTINCT drive_id, data_source FROM ${table} ORDER BY drive_id`);
      expect({ table, tags: tags.every((r) => r.data_source === ["real", "physics_sim", "real"][Number(r.drive_id) - 1]) }).toEqual({ table, tags: true });
    }
    const plain = join(dir, "sources-plain.db");
    simulate({ out: plain, drives: 3, minutes: 1, current: true });
    const values = (path: string) => query(path, "SELECT timestamp, parameter_name, value FROM realtime_data ORDER BY id");
    expect(values(out)).toEqual(values(plain));
    expect(() => simulate({ out: join(dir, "sources-bad.db"), drives: 3, dataSources: ["real"] })).toThrow(UsageError);
  });

  test("the CLI takes --ltft-shift DRIVE:PERCENT and --drive-sources", async () => {
    const out = join(dir, "cli-history.db");
    const { code, stderr } = await run([bun, "scripts/simulate/cli.ts", "--out", out, "--drives", "2", "--minutes", "1", "--ltft-shift", "2:6", "--drive-sources", "real,physics_sim"]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    expect(query(out, "SELECT DISTINCT drive_id, data_source FROM realtime_data ORDER BY drive_id")).toEqual([
      { drive_id: 1, data_source: "real" },
      { drive_id: 2, data_source: "physics_sim" },
    ]);
    const bad = await run([bun, "scripts/simulate/cli.ts", "--out", join(dir, "cli-bad.db"), "--ltft-shift", "two"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--ltft-shift must be DRIVE:PERCENT");
  });
});
