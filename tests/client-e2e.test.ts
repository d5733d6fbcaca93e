/**
 * The agent end to end: a subprocess pushing simulated Pi databases to the
 * real app (served on loopback, real MariaDB), then MySQL compared with the
 * SQLite file row for row and value for value.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { acquireLock } from "../client/lock.ts";
import { openDb } from "../client/sqlite.ts";
import { API_KEY } from "./helpers/app.ts";
import {
  BUN,
  marks,
  mirrorOf,
  piDatabase,
  readLines,
  ROOT,
  runAgent,
  serverCount,
  spawnAgent,
  sqliteCount,
  sqliteValue,
  startServer,
  tempDir,
  type TempDir,
} from "./helpers/client-agent.ts";

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
  // A device per test, so each test sees only its own rows on the server.
  device = `e2e-${++seq}`;
});
afterEach(() => tmp.remove());

const env = () => ({ COMPANION_API_KEY: API_KEY });
const push = (...args: string[]) => runAgent(["push", "--db", db, "--server", server.url, "--device-id", device, ...args], { cwd: tmp.dir, env: env() });
const pushJson = async (...args: string[]) => {
  const run = await push("--json", ...args);
  return { ...run, result: JSON.parse(run.stdout) as { ok: boolean; tables: { table: string; sent: number; inserted: number; updated: number; quarantined: number }[] } };
};
const sent = (result: { tables: { table: string; sent: number }[] }) => Object.fromEntries(result.tables.map((t) => [t.table, t.sent]));
const exec = (sql: string) => {
  const d = openDb(db);
  try {
    d.exec(sql);
  } finally {
    d.close();
  }
};

async function expectMirror(skip: Record<string, number[]> = {}) {
  const { pi, server: mysql } = await mirrorOf(server, db, device, skip);
  expect(mysql).toEqual(pi);
  return pi;
}

async function until(condition: () => Promise<boolean> | boolean, what: string) {
  for (let i = 0; i < 6000; i++) {
    if (await condition()) return;
    await Bun.sleep(20);
  }
  throw new Error(`gave up waiting for ${what}`);
}

test("three simulated drives pushed: MySQL matches the Pi row for row, and a second push sends nothing", async () => {
  const summary = piDatabase(db, { drives: 3, minutes: 3 });
  const run = await push("--batch-size", "1000");
  expect(run.stderr).toBe("");
  expect(run.stdout).toContain("Everything is on the server.");
  expect(run.code).toBe(0);
  const pi = await expectMirror();
  for (const [table, rows] of Object.entries(pi)) expect(rows.length).toBe(summary.rows[table]!);
  expect(pi.realtime_data!.length).toBeGreaterThan(7000);

  const again = await pushJson();
  expect(again.code).toBe(0);
  expect(Object.values(sent(again.result)).every((n) => n === 0)).toBe(true);
});

test("a profile edit and a closed calibration session reach the server on the next push, and nothing else is resent", async () => {
  piDatabase(db);
  expect((await push()).code).toBe(0);
  exec(`UPDATE profiles SET name = 'Daily driver', description = 'new tyres', updated_at = '2026-04-20 18:00:00.250000' WHERE id = 'daily';
        UPDATE calibration_sessions SET end_time = '2026-04-19T11:30:00Z', notes = 'closed' WHERE end_time IS NULL`);
  const second = await pushJson();
  expect(second.code).toBe(0);
  expect(second.result.tables.filter((t) => t.sent > 0).map((t) => [t.table, t.sent, t.inserted, t.updated])).toEqual([
    ["calibration_sessions", 1, 0, 1],
    ["profiles", 1, 0, 1],
  ]);
  await expectMirror();
  const [profile] = await server.db.query("SELECT name, description FROM profiles WHERE source_device = ? AND source_id = 'daily'", [device]);
  expect(profile).toEqual({ name: "Daily driver", description: "new tyres" });
  const [open] = await server.db.query("SELECT COUNT(*) AS n FROM calibration_sessions WHERE source_device = ? AND end_time IS NULL", [device]);
  expect(Number(open.n)).toBe(0);
});

describe("quarantine", () => {
  test("a realtime_data row whose value is the text 'NaN' is quarantined and does not block the rows after it", async () => {
    piDatabase(db);
    exec("UPDATE realtime_data SET value = 'NaN' WHERE id = 50");
    expect(sqliteValue(db, "SELECT typeof(value) FROM realtime_data WHERE id = 50")).toBe("text");
    const run = await push("--batch-size", "200");
    expect(run.stdout).toContain("1 row is in quarantine");
    expect(run.code).toBe(1);
    await expectMirror({ realtime_data: [50] });
    expect(marks(db).realtime_data).toBe(sqliteCount(db, "SELECT MAX(id) FROM realtime_data"));

    const status = await runAgent(["status", "--db", db, "--json"], { cwd: tmp.dir });
    expect(status.code).toBe(1);
    const state = JSON.parse(status.stdout);
    expect(state.tables.find((t: any) => t.table === "realtime_data")).toMatchObject({ backlog: 0, quarantined: 1 });
    expect(state.quarantine).toEqual([
      {
        table: "realtime_data",
        key: "50",
        json: expect.stringContaining('"id":50,'),
        error: 'column value: expected a number, got string "NaN"',
        batchId: `${device}.realtime_data.1-200`,
        at: expect.any(String),
        attempts: 1,
      },
    ]);
    expect(JSON.parse(state.quarantine[0].json).value).toBe("NaN");
  });

  test("a row whose text is not valid UTF-8 is found by halving the chunk and quarantined; the rest syncs", async () => {
    piDatabase(db);
    exec("UPDATE realtime_data SET unit = CAST(x'C328' AS TEXT) WHERE id = 33");
    const run = await pushJson("--batch-size", "200");
    expect(run.code).toBe(1);
    expect(run.result.tables.find((t) => t.table === "realtime_data")).toMatchObject({ status: "ok", quarantined: 1 });
    await expectMirror({ realtime_data: [33] });
    const d = openDb(db);
    try {
      expect(d.prepare("SELECT row_key, error FROM sync_quarantine").all()).toEqual([{ row_key: "33", error: "the server could not read this row: Body is not valid UTF-8" }]);
    } finally {
      d.close();
    }
  });

  test("after the row is fixed on the Pi, push --retry-quarantined sends it and empties the quarantine", async () => {
    piDatabase(db);
    exec("UPDATE realtime_data SET value = 'NaN' WHERE id = 7");
    expect((await push()).code).toBe(1);
    const retryUnfixed = await push("--retry-quarantined");
    expect(retryUnfixed.code).toBe(1);
    exec("UPDATE realtime_data SET value = 0 WHERE id = 7");
    const retry = await pushJson("--retry-quarantined");
    expect(retry.code).toBe(0);
    expect(retry.result.tables.find((t) => t.table === "realtime_data")).toMatchObject({ sent: 1, inserted: 1 });
    expect(sqliteCount(db, "SELECT COUNT(*) FROM sync_quarantine")).toBe(0);
    await expectMirror();
  });
});

test("a Python client's sync_log with last_synced_modified_at is adopted: only rows above its marks are sent", async () => {
  piDatabase(db);
  exec(`CREATE TABLE sync_log (
          table_name TEXT PRIMARY KEY, last_synced_id INTEGER NOT NULL DEFAULT 0, last_synced_at TEXT, last_batch_id TEXT,
          status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('ok','pending','failed')), last_synced_modified_at TEXT);
        INSERT INTO sync_log VALUES ('realtime_data', 500, '2026-04-19 09:00:00', 'py-batch-7', 'ok', '2026-04-19 09:00:00'),
                                    ('connection_log', 2, '2026-04-19 09:00:00', 'py-batch-7', 'ok', NULL),
                                    ('statistics', 0, NULL, NULL, 'pending', NULL)`);
  const run = await push();
  expect(run.code).toBe(0);
  const total = sqliteCount(db, "SELECT COUNT(*) FROM realtime_data");
  expect(await serverCount(server, "realtime_data", device)).toBe(total - 500);
  const [range] = await server.db.query("SELECT MIN(source_id) AS lo, MAX(source_id) AS hi FROM realtime_data WHERE source_device = ?", [device]);
  expect([Number(range.lo), Number(range.hi)]).toEqual([501, total]);
  expect(await serverCount(server, "connection_log", device)).toBe(sqliteCount(db, "SELECT COUNT(*) FROM connection_log") - 2);
  expect(await serverCount(server, "statistics", device)).toBe(sqliteCount(db, "SELECT COUNT(*) FROM statistics"));
  const d = openDb(db);
  try {
    expect(d.prepare("SELECT last_synced_id, status, last_synced_modified_at FROM sync_log WHERE table_name = 'realtime_data'").get()).toEqual({
      last_synced_id: total,
      status: "ok",
      last_synced_modified_at: "2026-04-19 09:00:00",
    });
  } finally {
    d.close();
  }
});

describe("concurrency", () => {
  test("a push while another holds the lock exits 1 with a clear message; with --wait it waits and then finishes", async () => {
    piDatabase(db);
    const lock = (await acquireLock(db))!;
    const refused = await push();
    expect(refused.stderr).toBe(`Error: another obd2-sync is already pushing ${db} (lock ${db}.sync-lock)\nTry: wait for it to finish, or run \`obd2-sync push --wait\` to wait for it\n`);
    expect(refused.code).toBe(1);
    expect(sqliteCount(db, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'sync_log'")).toBe(0);

    const waiting = push("--wait");
    await Bun.sleep(300); // let it reach the lock; the result below holds however long this takes
    expect(await serverCount(server, "realtime_data", device)).toBe(0);
    lock.release();
    expect((await waiting).code).toBe(0);
    await expectMirror();
  });

  test("two pushes started together: each row is sent exactly once and the final state is exact", async () => {
    piDatabase(db, { drives: 2, minutes: 2 });
    const [a, b] = await Promise.all([pushJson("--wait", "--batch-size", "100"), pushJson("--wait", "--batch-size", "100")]);
    expect([a.code, b.code]).toEqual([0, 0]);
    const total = Object.values(sent(a.result)).reduce((x, y) => x + y, 0) + Object.values(sent(b.result)).reduce((x, y) => x + y, 0);
    const pi = await expectMirror();
    expect(total).toBe(Object.values(pi).reduce((n, rows) => n + rows.length, 0));
  });
});

test("an agent killed with SIGKILL mid-drain finishes on restart with nothing lost and nothing duplicated", async () => {
  piDatabase(db, { realtimeRows: 40_000 });
  const total = sqliteCount(db, "SELECT COUNT(*) FROM realtime_data");
  const agent = spawnAgent(["push", "--db", db, "--server", server.url, "--device-id", device, "--batch-size", "100"], { cwd: tmp.dir, env: env() });
  await until(async () => (await serverCount(server, "realtime_data", device)) >= 2000, "the first chunks to arrive");
  agent.kill("SIGKILL");
  expect(await agent.exited).not.toBe(0);
  const markAtKill = marks(db).realtime_data!;
  expect(markAtKill).toBeLessThan(total); // killed mid-drain, not after it

  const restart = await push();
  expect(restart.code).toBe(0);
  expect(await serverCount(server, "realtime_data", device)).toBe(total);
  await expectMirror();
});

test("a logger inserting rows while push runs: both succeed, and after a final push the server matches", async () => {
  piDatabase(db);
  const before = sqliteCount(db, "SELECT COUNT(*) FROM realtime_data");
  const logger = Bun.spawn([BUN, "scripts/simulate/cli.ts", "--out", db, "--follow", "--rate", "400"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  try {
    await until(() => sqliteCount(db, "SELECT COUNT(*) FROM realtime_data") > before + 50, "the logger to write");
    const during = await push("--batch-size", "100");
    expect(during.stderr).toBe("");
    expect(during.code).toBe(0);
    await until(async () => sqliteCount(db, "SELECT COUNT(*) FROM realtime_data") > marks(db).realtime_data! + 50, "the logger to write after the push");
  } finally {
    logger.kill("SIGTERM");
  }
  expect(await logger.exited).toBe(0);
  const final = await push();
  expect(final.code).toBe(0);
  const pi = await expectMirror();
  expect(pi.realtime_data!.length).toBeGreaterThan(before + 100);
  expect(sqliteValue(db, "PRAGMA integrity_check")).toBe("ok");
});

test("an older Pi database (no profiles table, no data_source or drive_id) pushes what it has", async () => {
  piDatabase(db, { legacy: true });
  const run = await push();
  expect(run.stdout).toContain("Not in this database (skipped): profiles");
  expect(run.code).toBe(0);
  const pi = await expectMirror();
  expect(pi.profiles).toBeUndefined();
  expect(pi.realtime_data!.length).toBeGreaterThan(0);
});

test("rows the Pi deletes for its retention stay on the server", async () => {
  piDatabase(db);
  expect((await push()).code).toBe(0);
  const total = await serverCount(server, "realtime_data", device);
  exec("DELETE FROM realtime_data WHERE id <= 300; DELETE FROM profiles WHERE id = 'performance'");
  const again = await pushJson();
  expect(again.code).toBe(0);
  expect(Object.values(sent(again.result)).every((n) => n === 0)).toBe(true);
  expect(await serverCount(server, "realtime_data", device)).toBe(total);
  expect(await serverCount(server, "profiles", device)).toBe(2);
});

describe("run (the daemon)", () => {
  test("pushes what is there, then rows logged later, and stops cleanly on SIGTERM", async () => {
    piDatabase(db);
    const total = sqliteCount(db, "SELECT COUNT(*) FROM realtime_data");
    const daemon = spawnAgent(["run", "--db", db, "--server", server.url, "--device-id", device, "--interval", "0.2"], { cwd: tmp.dir, env: env() });
    try {
      await until(async () => (await serverCount(server, "realtime_data", device)) === total, "the backlog to arrive");
      exec(`INSERT INTO realtime_data (timestamp, parameter_name, value, unit, profile_id, data_source, drive_id)
            VALUES ('2026-04-19 12:00:00.000001', 'RPM', 3100.5, 'rpm', 'daily', 'real', 9), ('2026-04-19 12:00:01', 'SPEED', 88, 'km/h', 'daily', 'real', 9)`);
      await until(async () => (await serverCount(server, "realtime_data", device)) === total + 2, "the new rows to arrive");
      // The round that sent them may still be on the tables after realtime_data; SIGTERM would cut it short.
      await until(() => expectMirror().then(() => true, () => false), "every table to be mirrored");
    } finally {
      daemon.kill("SIGTERM");
    }
    const [stdout, code] = await Promise.all([new Response(daemon.stdout).text(), daemon.exited]);
    expect(code).toBe(0);
    const lines = stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({ msg: "obd2-sync run started", deviceId: device, intervalSeconds: 0.2 });
    expect(lines.at(-1)).toMatchObject({ msg: "obd2-sync run stopped", signal: "SIGTERM" });
    // Usually two rounds ([total, 2]); one round can also catch the new rows if they land before its last read.
    const sent = lines.filter((l) => l.msg === "pushed" && l.table === "realtime_data").map((l) => l.sent as number);
    expect(sent.reduce((n, x) => n + x, 0)).toBe(total + 2);
    expect(stdout).not.toContain(API_KEY);
    await expectMirror();
  });

  test("keeps probing quietly while the server is unreachable", async () => {
    piDatabase(db);
    const daemon = spawnAgent(["run", "--db", db, "--server", "http://127.0.0.1:9", "--device-id", device, "--interval", "0.05"], { cwd: tmp.dir, env: env() });
    let out: string;
    try {
      out = await readLines(daemon.stdout, 2);
      await Bun.sleep(300); // several more probes; they must not log again
    } finally {
      daemon.kill("SIGTERM");
    }
    out += await readLines(daemon.stdout, Infinity);
    expect(await daemon.exited).toBe(0);
    const lines = out.trim().split("\n").map((l) => JSON.parse(l).msg);
    expect(lines).toEqual(["obd2-sync run started", "server not reachable; will keep probing", "obd2-sync run stopped"]);
    expect(marks(db)).toEqual({});
  });
});
