/**
 * `obd2-sync backup`, `restore` and `run --backup-every`, run as real
 * subprocesses on real SQLite files, against the real app on loopback (a
 * temp BACKUP_DIR, real MariaDB) or a stub that fails on purpose.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { appendFileSync, chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { openDb } from "../client/sqlite.ts";
import { API_KEY } from "./helpers/app.ts";
import { allRows, logLines, sha256, startBackupStub, type BackupReply, type BackupRequest, type BackupStub } from "./helpers/client-backup.ts";
import { BUN, marks, piDatabase, ROOT, runAgent, spawnAgent, sqliteCount, sqliteValue, startServer, tempDir, writeConfig, type Runtime, type TempDir } from "./helpers/client-agent.ts";

let server: Awaited<ReturnType<typeof startServer>>;
let backupRoot: string;
beforeAll(async () => {
  backupRoot = mkdtempSync(join(tmpdir(), "obd2-client-backups-"));
  server = await startServer({ BACKUP_DIR: backupRoot });
});
afterAll(async () => {
  await server.stop();
  rmSync(backupRoot, { recursive: true, force: true });
});

let tmp: TempDir;
let db: string;
let device: string;
let stub: BackupStub | undefined;
let seq = 0;
beforeEach(() => {
  tmp = tempDir();
  db = tmp.path("obd.db");
  // A device per test, so each test sees only its own backups on the server.
  device = `backup-${++seq}`;
});
afterEach(async () => {
  await stub?.stop();
  stub = undefined;
  tmp.remove();
});

const env = { COMPANION_API_KEY: API_KEY };
const backup = (args: string[] = [], runtime: Runtime = "bun") =>
  runAgent(["backup", "--db", db, "--server", server.url, "--device-id", device, ...args], { cwd: tmp.dir, env, runtime });
/** A restore that asks the real server about the test's device. */
const restoreOn = (runtime: Runtime, ...args: string[]) => runAgent(["restore", "--server", server.url, "--device-id", device, ...args], { cwd: tmp.dir, env, runtime });
const restore = (...args: string[]) => restoreOn("bun", ...args);
/** A backup's file in the server's BACKUP_DIR. */
const storedFile = (type: string, filename: string) => join(backupRoot, device, type, filename);
const listed = async (type: string) => (await (await server.call(`/api/v1/backups?deviceId=${device}&type=${type}`)).json()).backups as any[];
/** Temp files of a backup or restore left in the test's directory. */
const leftovers = () => readdirSync(tmp.dir).filter((name) => /obd2-(backup|restore)/.test(name));
const AGENT_STATE = ["sync_backup"];

async function eventually(check: () => boolean | Promise<boolean>, what: string) {
  for (let i = 0; i < 3000; i++) {
    if (await check()) return;
    await Bun.sleep(20);
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** Backs `db` up to the real server; returns the stored file's path and the result. */
async function backedUp(args: string[] = [], runtime: Runtime = "bun") {
  const run = await backup(["--json", ...args], runtime);
  expect(run.stderr).toBe("");
  expect(run.code).toBe(0);
  const result = JSON.parse(run.stdout);
  return { result, file: storedFile("database", result.database.filename) };
}

describe("backup to the real server", () => {
  for (const runtime of ["bun", "node"] as const) {
    test(`a backup uploads a .db.gz whose sha256 matches what the server stored, and it restores to the same rows (${runtime})`, async () => {
      piDatabase(db);
      const { result, file } = await backedUp([], runtime);
      const { filename, sha256: digest, storedAt, sizeBytes } = result.database;
      expect(result).toMatchObject({ ok: true, deviceId: device, db, logs: [], error: null });
      expect(result.database.status).toBe("ok");
      expect(result.database.journalMode).toBe("wal");
      expect(filename).toMatch(/^obd-\d{4}-\d\d-\d\dT[\d-]+\.db\.gz$/);
      const stored = readFileSync(file);
      expect([sha256(stored), stored.length]).toEqual([digest, sizeBytes]);
      expect(await listed("database")).toEqual([{ deviceId: device, type: "database", filename, sizeBytes, storedAt, sha256: digest }]);
      expect(sqliteValue(db, "SELECT stored_as FROM sync_backup WHERE item = 'database'")).toBe(filename);
      expect(leftovers()).toEqual([]);

      const to = tmp.path("restored.db");
      const restored = await restoreOn(runtime, "--from", file, "--to", to, "--sha256", digest, "--json");
      expect(restored.stderr).toBe("");
      expect(restored.code).toBe(0);
      const out = JSON.parse(restored.stdout);
      expect(out).toMatchObject({ ok: true, from: file, to, sha256: digest, sizeBytes: statSync(to).size, server: { url: server.url, deviceId: device, lastDriveId: null }, warnings: [] });
      // Nothing of this device is on the server, so nothing was moved.
      expect(out.tables.map((t: any) => t.table)).toEqual(["calibration_sessions", "realtime_data", "statistics", "ai_recommendations", "connection_log", "alert_log"]);
      for (const t of out.tables) expect([t.serverMaxId, t.nextIdAfter, t.markAfter]).toEqual([null, t.nextIdBefore, t.markBefore]);
      expect(allRows(to)).toEqual(allRows(db, AGENT_STATE));
      expect(allRows(to).realtime_data!.length).toBe(780);
      expect(leftovers()).toEqual([]);
    });
  }

  test("a snapshot taken while a writer inserts continuously restores intact, with every row committed before it began", async () => {
    piDatabase(db, { realtimeRows: 100_000 });
    const writer = Bun.spawn([BUN, "scripts/simulate/cli.ts", "--out", db, "--follow", "--rate", "2000"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    let before: number;
    let file: string;
    try {
      await eventually(() => sqliteCount(db, "SELECT MAX(id) FROM realtime_data") > 100_000 + 100, "the writer to write");
      before = sqliteCount(db, "SELECT MAX(id) FROM realtime_data");
      ({ file } = await backedUp());
      // The writer was not held up: it went on committing after the backup.
      await eventually(() => sqliteCount(db, "SELECT MAX(id) FROM realtime_data") > before + 100, "the writer to go on writing");
    } finally {
      writer.kill("SIGTERM");
    }
    expect(await writer.exited).toBe(0);
    const to = tmp.path("restored.db");
    expect((await restore("--from", file, "--to", to)).code).toBe(0);
    expect(sqliteValue(to, "PRAGMA integrity_check")).toBe("ok");
    const upTo = `SELECT COUNT(*) || ':' || TOTAL(value) || ':' || MIN(id) || '-' || MAX(id) FROM realtime_data WHERE id <= ${before}`;
    expect(sqliteValue(to, upTo)).toBe(sqliteValue(db, upTo));
    expect(sqliteCount(to, `SELECT COUNT(*) FROM realtime_data WHERE id <= ${before}`)).toBe(before);
  });

  test("the backup holds commits that are only in the -wal file: it is never a raw copy of the database file", async () => {
    piDatabase(db);
    const writer = openDb(db);
    try {
      writer.exec("PRAGMA wal_autocheckpoint = 0");
      writer.transaction(() => {
        const add = writer.prepare("INSERT INTO realtime_data (timestamp, parameter_name, value, unit) VALUES ('2026-04-20 09:00:00', 'WAL_ONLY', ?, 'x')");
        for (let i = 0; i < 50; i++) add.run(i);
      });
      expect(statSync(`${db}-wal`).size).toBeGreaterThan(0);
      // What a copy of the file alone would hold:
      copyFileSync(db, tmp.path("raw.db"));
      expect(sqliteCount(tmp.path("raw.db"), "SELECT COUNT(*) FROM realtime_data WHERE parameter_name = 'WAL_ONLY'")).toBe(0);

      const { file } = await backedUp();
      const to = tmp.path("restored.db");
      expect((await restore("--from", file, "--to", to)).code).toBe(0);
      expect(sqliteCount(to, "SELECT COUNT(*) FROM realtime_data WHERE parameter_name = 'WAL_ONLY'")).toBe(50);
    } finally {
      writer.close();
    }
  });
});

describe("backup --logs", () => {
  test("uploads the matching files gzipped, then only those that changed", async () => {
    piDatabase(db);
    mkdirSync(tmp.path("logs"));
    writeFileSync(tmp.path("logs/obd.log"), "2026-04-19 08:00:00 INFO logger started\n");
    writeFileSync(tmp.path("logs/obd.log.1"), "older lines\n");
    writeFileSync(tmp.path("logs/error.log"), "2026-04-19 08:00:01 ERROR no ECU\n");
    writeFileSync(tmp.path("logs/notes.txt"), "not a log");
    const logs = async () => {
      const run = await backup(["--logs-only", "--logs", "logs/*.log", "--json"]);
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      return JSON.parse(run.stdout);
    };
    const first = await logs();
    expect(first.database).toBeNull();
    expect(first.logs.map((l: any) => [l.path, l.status])).toEqual([
      [tmp.path("logs/error.log"), "uploaded"],
      [tmp.path("logs/obd.log"), "uploaded"],
    ]);
    for (const l of first.logs) {
      expect(l.filename).toMatch(/^(error|obd)-[\d-]+T[\d-]+\.log\.gz$/);
      expect(gunzipSync(readFileSync(storedFile("logs", l.filename))).toString()).toBe(readFileSync(l.path, "utf8"));
    }
    expect(await listed("database")).toEqual([]);

    const again = await logs();
    expect(again.logs.map((l: any) => l.status)).toEqual(["unchanged", "unchanged"]);
    expect((await listed("logs")).length).toBe(2);

    appendFileSync(tmp.path("logs/obd.log"), "2026-04-19 08:05:00 INFO drive ended\n");
    const text = await backup(["--logs-only", "--logs", "logs/*.log"]);
    expect(text.stdout).toStartWith(`Logs matching logs/*.log: 1 uploaded, 1 unchanged, 0 failed\n  ${tmp.path("logs/obd.log")}: stored as obd-`);
    expect(text.code).toBe(0);
    const newest = (await listed("logs"))[0];
    expect(gunzipSync(readFileSync(storedFile("logs", newest.filename))).toString()).toBe(readFileSync(tmp.path("logs/obd.log"), "utf8"));
    expect((await listed("logs")).length).toBe(3);
    expect(leftovers()).toEqual([]);
  });
});

describe("backup against a stub server", () => {
  async function serve(answer: (req: BackupRequest, index: number) => BackupReply | Promise<BackupReply>, config: Record<string, unknown> = {}) {
    stub = await startBackupStub(answer);
    writeConfig(tmp.dir, { baseUrl: stub.url, deviceId: "pi-stub", retries: 2, retryBaseSeconds: 0.01, ...config });
    return stub;
  }
  const stubBackup = (...args: string[]) => runAgent(["backup", "--db", db, ...args], { cwd: tmp.dir, env });

  test("a 500 is retried with the same file, fields first, and then the backup is stored", async () => {
    piDatabase(db);
    const s = await serve((_, i) => (i === 0 ? { status: 500, body: { detail: "disk hiccup" } } : "ok"));
    const run = await stubBackup("--json");
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const [failed, stored] = s.requests;
    expect(stored!.order).toEqual(["type", "deviceId", "sha256", "file"]);
    expect(stored!.fields).toEqual({ type: "database", deviceId: "pi-stub", sha256: sha256(stored!.bytes) });
    expect(stored!.filename).toBe("obd.db.gz");
    expect(failed!.bytes.equals(stored!.bytes)).toBe(true);
    expect(JSON.parse(run.stdout).database).toMatchObject({ status: "ok", filename: "stored-1.gz", sha256: sha256(stored!.bytes) });
    expect(leftovers()).toEqual([]);
  });

  const failures: [string, BackupReply, Record<string, unknown>, { code: number; requests: number; stdout: string; stderr: (url: string) => string }][] = [
    [
      "a server that keeps answering 500 is retried, then given up with exit 1",
      { status: 500, body: { detail: "Internal Server Error" } },
      { retries: 1 },
      {
        code: 1,
        requests: 2,
        stdout: "",
        stderr: (url) => `Error: server ${url}: POST /api/v1/backup answered 500 (Internal Server Error); gave up after 1 retry\nTry: check that the server is up: curl ${url}/api/v1/ping\n`,
      },
    ],
    [
      "an upload left without an answer times out and is retried, then given up with exit 1",
      "hang",
      { retries: 1, timeouts: { requestSeconds: 0.3 } },
      {
        code: 1,
        requests: 2,
        stdout: "",
        stderr: (url) => `Error: server ${url}: POST /api/v1/backup failed: timed out; gave up after 1 retry\nTry: check that the server is up: curl ${url}/api/v1/ping\n`,
      },
    ],
    [
      "a 413 is not retried: exit 1 with the server's limit",
      { status: 413, body: { detail: "File too large. Max: 1MB" } },
      {},
      { code: 1, requests: 1, stdout: "Database backup failed: POST /api/v1/backup answered 413 (File too large. Max: 1MB)\n", stderr: () => "" },
    ],
    [
      "a 401 stops at once with exit 2 and says what to do",
      { status: 401, body: { detail: "Invalid API key" } },
      {},
      {
        code: 2,
        requests: 1,
        stdout: "",
        stderr: () =>
          "Error: the server refused the API key (401 Invalid API key)\nTry: set COMPANION_API_KEY to a key the server accepts for this device (`npm run device -- add <id>` on the server)\n",
      },
    ],
  ];
  for (const [name, reply, config, expected] of failures) {
    test(`${name}; nothing is recorded as backed up and no temp file is left`, async () => {
      piDatabase(db);
      const s = await serve(() => reply, config);
      const run = await stubBackup();
      expect({ ...run, requests: s.requests.length }).toEqual({ ...expected, stderr: expected.stderr(s.url) });
      expect(sqliteCount(db, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'sync_backup'")).toBe(0);
      expect(leftovers()).toEqual([]);
    });
  }

  test("stop signals during the upload end it with exit 1 and leave no temp files", async () => {
    piDatabase(db);
    let arrived: () => void = () => {};
    const uploading = new Promise<void>((r) => (arrived = r));
    await serve(() => {
      arrived();
      return "hang";
    });
    const agent = spawnAgent(["backup", "--db", db], { cwd: tmp.dir, env });
    await uploading;
    // Two different signals: the second abandons the request in flight (two SIGTERMs could merge into one).
    agent.kill("SIGTERM");
    agent.kill("SIGINT");
    const [stderr, code] = await Promise.all([new Response(agent.stderr).text(), agent.exited]);
    expect(stderr).toMatch(/^Error: stopped by SIG(TERM|INT); nothing half-done is kept\nTry: run `obd2-sync backup` again\n$/);
    expect(code).toBe(1);
    expect(leftovers()).toEqual([]);
  });

  test("a database in rollback-journal mode is backed up whole, with a note that the logger waited for the snapshot", async () => {
    piDatabase(db);
    const setup = openDb(db);
    setup.exec("PRAGMA journal_mode = DELETE");
    setup.close();
    const s = await serve(() => "ok");
    const run = await stubBackup();
    expect(run.code).toBe(0);
    const [done, note, ...rest] = run.stdout.split("\n");
    expect(done).toStartWith(`Backed up ${db} to ${s.url}: stored as stored-0.gz (`);
    expect(note).toMatch(/^Note: the database is in delete journal mode, so the logger's commits waited for the [\d.]+ s snapshot; WAL mode avoids that \(see docs\/backups\.md\)\.$/);
    expect(rest).toEqual([""]);
    writeFileSync(tmp.path("unpacked.db"), gunzipSync(s.requests[0]!.bytes));
    expect(allRows(tmp.path("unpacked.db"))).toEqual(allRows(db, AGENT_STATE));
  });

  test("temp files a killed backup left behind are removed by the next backup", async () => {
    piDatabase(db);
    writeFileSync(tmp.path("obd.db.obd2-backup-0badf00d.db"), "half a snapshot");
    writeFileSync(tmp.path("obd.db.obd2-backup-0badf00d.db.gz"), "half a gzip");
    await serve(() => "ok");
    expect((await stubBackup()).code).toBe(0);
    expect(leftovers()).toEqual([]);
  });
});

describe("run --backup-every", () => {
  const daemon = (url: string, ...args: string[]) => spawnAgent(["run", "--db", db, "--server", url, "--device-id", device, "--interval", "0.05", ...args], { cwd: tmp.dir, env });
  const between = (lines: Record<string, any>[], from: number, to: number, msg: string) => lines.slice(from, to).filter((l) => l.msg === msg).length;

  test("backs up once per period, not every round, and a restart does not back up again at once", async () => {
    piDatabase(db);
    // A logger, so that every round has rows to push and shows in the log.
    const writer = Bun.spawn([BUN, "scripts/simulate/cli.ts", "--out", db, "--follow", "--rate", "200"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    try {
      const first = daemon(server.url, "--backup-every", "0.0005"); // 1.8 s
      const out = logLines(first.stdout);
      try {
        await out.until((lines) => lines.filter((l) => l.msg === "backup stored").length >= 2, "two backups");
      } finally {
        first.kill("SIGTERM");
      }
      const lines = await out.rest();
      expect(await first.exited).toBe(0);
      expect(lines[0]).toMatchObject({ msg: "obd2-sync run started", backupEveryHours: 0.0005 });
      const stored = lines.filter((l) => l.msg === "backup stored");
      const onServer = (await listed("database")).reverse();
      expect(onServer.map((b) => b.filename)).toEqual(stored.map((l) => l.filename));
      for (let i = 1; i < onServer.length; i++) {
        expect(Date.parse(onServer[i].storedAt) - Date.parse(onServer[i - 1].storedAt)).toBeGreaterThanOrEqual(1800);
      }
      const [a, b] = [lines.indexOf(stored[0]!), lines.indexOf(stored[1]!)];
      expect(between(lines, a, b, "pushed")).toBeGreaterThanOrEqual(2);

      // Restarted with a period of an hour: the backup just made counts, so none is made now.
      const second = daemon(server.url, "--backup-every", "1");
      const again = logLines(second.stdout);
      try {
        // Rounds run one after another: after the second push, the first round's backup decision is made.
        await again.until((l) => l.filter((x) => x.msg === "pushed" && x.table === "realtime_data").length >= 2, "two rounds");
      } finally {
        second.kill("SIGTERM");
      }
      expect((await again.rest()).filter((l) => l.msg === "backup stored")).toEqual([]);
      expect(await second.exited).toBe(0);
      expect((await listed("database")).length).toBe(onServer.length);
    } finally {
      writer.kill("SIGTERM");
      await writer.exited;
    }
  });

  test("a failed backup is retried the next round", async () => {
    // One empty mirrored table: the rounds push nothing, and the stub sees only backups.
    const setup = openDb(db, { create: true });
    setup.exec("CREATE TABLE alert_log (id INTEGER PRIMARY KEY); CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('hello')");
    setup.close();
    stub = await startBackupStub((_, i) => (i === 0 ? { status: 503, body: { detail: "busy" } } : "ok"));
    writeConfig(tmp.dir, { retries: 0 });
    const agent = daemon(stub.url, "--backup-every", "1");
    const out = logLines(agent.stdout);
    try {
      await out.until((lines) => lines.some((l) => l.msg === "backup stored"), "the retried backup");
    } finally {
      agent.kill("SIGTERM");
    }
    const lines = await out.rest();
    expect(await agent.exited).toBe(0);
    const events = lines.filter((l) => l.msg.startsWith("backup")).map((l) => [l.msg, l.problems ?? l.filename]);
    expect(events).toEqual([
      ["backup failed; retrying", [`POST /api/v1/backup answered 503 (busy); gave up after 0 retries`]],
      ["backup stored", "stored-1.gz"],
    ]);
    expect(stub.requests.length).toBe(2);
  });
});

describe("restore", () => {
  /** A .db.gz of a small Pi database, as the server would hold it. */
  function backupFile(): string {
    piDatabase(db);
    const gz = tmp.path("obd-2026-04-19T10-00-00-000.db.gz");
    writeFileSync(gz, gzipSync(readFileSync(db)));
    return gz;
  }
  const to = () => tmp.path("restored.db");
  const refused = (from: string, why: string) => `Error: ${from}: ${why}; nothing was written to ${to()}\nTry: fetch the backup again, or restore an older one\n`;

  const bad: [string, (gz: string) => Buffer, string][] = [
    ["a truncated .gz", (gz) => readFileSync(gz).subarray(0, 2000), "not a valid gzip file (unexpected end of file)"],
    ["a file that is not gzip at all", () => Buffer.from("SQLite format 3 but not really"), "not a valid gzip file (incorrect header check)"],
    ["a .gz of something that is not a database", () => gzipSync("just text, no pages"), "the unpacked database failed PRAGMA integrity_check (file is not a database)"],
  ];
  for (const [name, make, why] of bad) {
    test(`${name} is refused with exit 1, and nothing is left behind`, async () => {
      const gz = tmp.path("bad.db.gz");
      writeFileSync(gz, make(backupFile()));
      const run = await restore("--from", gz, "--to", to());
      expect(run.stderr).toBe(refused(gz, why));
      expect(run.code).toBe(1);
      expect(existsSync(to())).toBe(false);
      expect(leftovers()).toEqual([]);
    });
  }

  test("a sha256 that does not match the .gz is refused", async () => {
    const gz = backupFile();
    const wrong = "0".repeat(64);
    const run = await restore("--from", gz, "--to", to(), "--sha256", wrong);
    expect(run.stderr).toBe(refused(gz, `sha256 mismatch: expected ${wrong}, the file has ${sha256(readFileSync(gz))}`));
    expect(run.code).toBe(1);
    expect(existsSync(to())).toBe(false);
    expect(leftovers()).toEqual([]);
  });

  test("an existing target is kept without --force and replaced with it", async () => {
    const gz = backupFile();
    writeFileSync(to(), "the old database");
    const kept = await restore("--from", gz, "--to", to());
    expect(kept.stderr).toBe(`Error: ${to()} exists; refusing to overwrite it\nTry: stop the logger and pass --force to replace it, or choose another --to\n`);
    expect(kept.code).toBe(2);
    expect(readFileSync(to(), "utf8")).toBe("the old database");

    writeFileSync(`${to()}-wal`, "frames of the old database");
    const open = await restore("--from", gz, "--to", to(), "--force");
    expect(open.stderr).toBe(
      `Error: ${to()}-wal exists: a program may still have ${to()} open\nTry: stop the logger and obd2-sync; if nothing uses it, move ${to()}-wal away (it belongs to the old database)\n`,
    );
    expect(open.code).toBe(2);

    rmSync(`${to()}-wal`);
    writeFileSync(tmp.path("restored.db.obd2-restore-0badf00d.db"), "left by a killed restore");
    // The logger's group may write the old database; as root, it belongs to the logger's user.
    chmodSync(to(), 0o664);
    const asRoot = process.getuid?.() === 0;
    if (asRoot) chownSync(to(), 65534, 65534);
    const replaced = await restore("--from", gz, "--to", to(), "--force");
    expect(replaced.stdout).toStartWith(`Restored ${gz} to ${to()} (`);
    expect(replaced.code).toBe(0);
    expect(statSync(to()).mode & 0o7777).toBe(0o664);
    if (asRoot) expect([statSync(to()).uid, statSync(to()).gid]).toEqual([65534, 65534]);
    expect(allRows(to())).toEqual(allRows(db));
    expect(leftovers()).toEqual([]);
  });
});

describe("restore moves the ids past what the server holds", () => {
  const push = async (path: string) => {
    const run = await runAgent(["push", "--db", path, "--server", server.url, "--device-id", device, "--json"], { cwd: tmp.dir, env });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    return JSON.parse(run.stdout);
  };
  /** The server's realtime_data rows of the test's device, as stored. */
  const serverReadings = (): Promise<any[]> =>
    server.db.pool.query(
      { sql: "SELECT source_id, timestamp, parameter_name, value, unit, drive_id, sync_batch_id, synced_at FROM realtime_data WHERE source_device = ? ORDER BY source_id", dateStrings: true },
      [device],
    );
  const to = () => tmp.path("restored.db");

  test("after restoring an older backup, the logger's next row gets the id after the server's and the rows pushed since the backup are not overwritten", async () => {
    piDatabase(db, { realtimeRows: 500 });
    await push(db);
    const { file } = await backedUp();
    piDatabase(db, { realtimeRows: 300, append: true });
    expect(sqliteValue(db, "SELECT MAX(id) FROM realtime_data")).toBe(800);
    await push(db);
    const before = await serverReadings();
    expect(before.length).toBe(800);
    // The server holds the Pi's rows 501..800 as logged.
    const original = openDb(db);
    try {
      const rows = original.prepare("SELECT id, parameter_name, value FROM realtime_data WHERE id > 500 ORDER BY id").all();
      expect(rows).toEqual(before.slice(500).map((r) => ({ id: Number(r.source_id), parameter_name: r.parameter_name, value: r.value })));
    } finally {
      original.close();
    }
    const connections = sqliteCount(db, "SELECT MAX(id) FROM connection_log");

    const restored = await restore("--from", file, "--to", to(), "--json");
    expect(restored.stderr).toBe("");
    expect(restored.code).toBe(0);
    const out = JSON.parse(restored.stdout);
    // The appended rows are the second drive.
    expect(out.server).toEqual({ url: server.url, deviceId: device, lastDriveId: 2 });
    expect(out.warnings).toEqual([]);
    const moved = Object.fromEntries(out.tables.map(({ table, ...t }: any) => [table, t]));
    expect(moved.realtime_data).toEqual({ serverMaxId: 800, autoincrement: true, nextIdBefore: 501, nextIdAfter: 801, markBefore: 500, markAfter: 800 });
    expect(moved.connection_log).toEqual({ serverMaxId: connections, autoincrement: true, nextIdBefore: 3, nextIdAfter: connections + 1, markBefore: 2, markAfter: connections });
    expect(leftovers()).toEqual([]);

    // The logger writes a row the way it does: no id.
    const logger = openDb(to());
    try {
      logger.prepare("INSERT INTO realtime_data (timestamp, parameter_name, value, unit) VALUES ('2026-04-21 07:00:00', 'AFTER_RESTORE', 12.5, 'V')").run();
    } finally {
      logger.close();
    }
    expect(sqliteValue(to(), "SELECT id FROM realtime_data WHERE parameter_name = 'AFTER_RESTORE'")).toBe(801);

    const pushed = await push(to());
    // Only the new row went: nothing at or below the marks was sent again.
    expect(pushed.tables.filter((t: any) => t.sent).map((t: any) => [t.table, t.sent, t.inserted, t.updated])).toEqual([["realtime_data", 1, 1, 0]]);
    const after = await serverReadings();
    expect(after.slice(0, 800)).toEqual(before);
    expect(after.slice(800).map((r) => [Number(r.source_id), r.parameter_name, r.value])).toEqual([[801, "AFTER_RESTORE", 12.5]]);
  });

  test("a backup older than the agent gets sync_log; an empty AUTOINCREMENT table gets its sqlite_sequence row; a table without AUTOINCREMENT is warned about", async () => {
    const setup = openDb(db, { create: true });
    setup.exec(`CREATE TABLE realtime_data (id INTEGER PRIMARY KEY, timestamp TEXT, parameter_name TEXT, value REAL);
      INSERT INTO realtime_data (timestamp, parameter_name, value) VALUES ('2026-04-19 08:00:00', 'RPM', 900), ('2026-04-19 08:00:01', 'RPM', 910);
      CREATE TABLE alert_log (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT, alert_type TEXT, parameter_name TEXT, value REAL, threshold REAL)`);
    setup.close();
    const gz = tmp.path("old.db.gz");
    writeFileSync(gz, gzipSync(readFileSync(db)));
    const reading = (id: number) => ({ id, timestamp: "2026-04-19 08:00:00", parameter_name: "RPM", value: 900 });
    const alert = { id: 2401, timestamp: "2026-04-19 08:00:00", alert_type: "redline", parameter_name: "RPM", value: 7100, threshold: 7000 };
    const seeded = await server.call("/api/v1/sync", { json: { deviceId: device, batchId: `${device}-seed`, tables: { realtime_data: { rows: [reading(1), reading(2), reading(3), reading(1205)] }, alert_log: { rows: [alert] } } } });
    expect(seeded.status).toBe(200);

    const run = await restore("--from", gz, "--to", to());
    expect(run.code).toBe(0);
    expect(run.stdout.split("\n").slice(1)).toEqual([
      `Moved its ids past what ${server.url} holds for ${device}:`,
      "TABLE          SERVER MAX ID  NEXT ID     MARK",
      "realtime_data          1,205  3           0 -> 1,205",
      "alert_log              2,401  1 -> 2,402  0 -> 2,401",
      "",
    ]);
    expect(run.stderr).toBe(
      "Warning: realtime_data has no AUTOINCREMENT, so its next id is max(rowid) + 1 = 3 and cannot be raised without adding a row; " +
        "rows the logger writes with ids 3 to 1,205 are at or below the mark, so they stay on the Pi and are never pushed (pushing them would overwrite the server's rows)\n",
    );
    expect(sqliteValue(to(), "SELECT seq FROM sqlite_sequence WHERE name = 'alert_log'")).toBe(2401);
    expect(marks(to())).toEqual({ realtime_data: 1205, alert_log: 2401 });
    const tables = openDb(to());
    try {
      const names = tables.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'sync_%' ORDER BY name").all().map((r) => r.name);
      expect(names).toEqual(["sync_backup", "sync_conflict", "sync_error", "sync_log", "sync_quarantine", "sync_row_hash"]);
      tables.prepare("INSERT INTO alert_log (timestamp, alert_type, parameter_name, value, threshold) VALUES ('2026-04-21 07:00:00', 'redline', 'RPM', 7200, 7000)").run();
      expect(tables.prepare("SELECT MAX(id) AS id FROM alert_log").get()).toEqual({ id: 2402 });
    } finally {
      tables.close();
    }
  });

  test("--offline restores without any server and warns what to do before the next push", async () => {
    piDatabase(db);
    const gz = tmp.path("obd.db.gz");
    writeFileSync(gz, gzipSync(readFileSync(db)));
    const run = await runAgent(["restore", "--from", gz, "--to", to(), "--offline"], { cwd: tmp.dir });
    expect(run.stdout).toStartWith(`Restored ${gz} to ${to()} (`);
    expect(run.stderr).toBe(
      "Warning: restored without asking the server (--offline). If this Pi pushed rows after the backup was taken, the restored database will hand out their ids again, and the next push will overwrite those rows on the server.\n" +
        "Before the logger or obd2-sync start, once the server is reachable, restore again without --offline:\n" +
        `  obd2-sync restore --from ${gz} --to ${to()} --force\n` +
        'or raise the ids by hand (docs/backups.md, "Restoring offline").\n',
    );
    expect(run.code).toBe(0);
    expect(allRows(to())).toEqual(allRows(db));
    expect(leftovers()).toEqual([]);
  });

  const risk = "without the ids the server holds for this device, the restored database could hand them out again and its next push would overwrite those rows on the server";
  const refusals: [string, () => Promise<{ args: string[]; env: Record<string, string> }>, number, (url: string) => string][] = [
    [
      "an unreachable server refuses the restore with exit 1",
      async () => {
        // A port that was just free: nothing listens there.
        const closed = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
        const url = `http://127.0.0.1:${closed.port}`;
        await closed.stop(true);
        writeConfig(tmp.dir, { retries: 1, retryBaseSeconds: 0.01 });
        return { args: ["--server", url, "--device-id", device], env };
      },
      1,
      (url) =>
        `Error: cannot reach the server at ${url.slice(7)}: connection refused (nothing listens on port ${url.split(":").at(-1)}); ${risk}, so nothing was written to ${to()}\n` +
        `Try: start OBD2-Server there (\`npm start\`), or fix the host and port in --server (or companionService.baseUrl); check with curl ${url}/api/v1/ping; or pass --offline to restore without the server\n`,
    ],
    [
      "a key the server refuses stops the restore with exit 2",
      async () => ({ args: ["--server", server.url, "--device-id", device], env: { COMPANION_API_KEY: "not-the-key" } }),
      2,
      () =>
        `Error: the server refused the API key (401 Invalid API key); ${risk}, so nothing was written to ${to()}\n` +
        "Try: set COMPANION_API_KEY to a key the server accepts for this device (`npm run device -- add <id>` on the server); or pass --offline to restore without the server\n",
    ],
    [
      "no server configured stops the restore with exit 2 before unpacking",
      async () => ({ args: ["--device-id", device], env }),
      2,
      () => `Error: no server URL configured; ${risk}\nTry: pass --server http://<server>:8000, or set companionService.baseUrl in obd_config.json; or pass --offline to restore without the server\n`,
    ],
  ];
  for (const [name, setup, code, stderr] of refusals) {
    test(`${name}, leaving no target and no temp files`, async () => {
      piDatabase(db);
      const gz = tmp.path("obd.db.gz");
      writeFileSync(gz, gzipSync(readFileSync(db)));
      const { args, env: runEnv } = await setup();
      const run = await runAgent(["restore", "--from", gz, "--to", to(), ...args], { cwd: tmp.dir, env: runEnv });
      const url = args[args.indexOf("--server") + 1] ?? "";
      expect(run).toEqual({ code, stdout: "", stderr: stderr(url) });
      expect(existsSync(to())).toBe(false);
      expect(leftovers()).toEqual([]);
    });
  }
});

describe("usage errors exit 2 with Error and Try", () => {
  const cases: [string, string[], string][] = [
    ["a backup period of 0", ["run", "--server", "http://127.0.0.1:9", "--device-id", "pi", "--backup-every", "0"], "Error: --backup-every must be a number of hours above 0 (got \"0\")\nTry: obd2-sync run --backup-every 24\n"],
    ["--logs without --backup-every", ["run", "--logs", "logs/*.log"], "Error: --logs needs --backup-every\nTry: obd2-sync run --backup-every 24 --logs '/home/pi/eclipse-obd/logs/*.log'\n"],
    ["a wildcard in a directory", ["backup", "--logs", "logs-*/obd.log"], "Error: --logs may have wildcards in the file name only (got \"logs-*/obd.log\")\nTry: obd2-sync backup --logs '/home/pi/eclipse-obd/logs/*.log'\n"],
    ["--logs-only without --logs", ["backup", "--logs-only"], "Error: --logs-only needs --logs GLOB\nTry: obd2-sync backup --logs-only --logs '/home/pi/eclipse-obd/logs/*.log'\n"],
    ["restore without --to", ["restore", "--from", "x.db.gz"], "Error: restore needs --from and --to\nTry: obd2-sync restore --from obd-2026-11-22T10-00-00-000.db.gz --to ./data/obd.db\n"],
    ["a bad --sha256", ["restore", "--from", "x.db.gz", "--to", "y.db", "--sha256", "abc"], "Error: --sha256 must be 64 hex digits (got \"abc\")\nTry: copy the sha256 GET /api/v1/backups lists\n"],
  ];
  for (const [name, args, stderr] of cases) {
    test(name, async () => {
      const run = await runAgent(args, { cwd: tmp.dir });
      expect(run.stderr).toBe(stderr);
      expect(run.code).toBe(2);
    });
  }
});
