/**
 * The agent against a stub server that fails on purpose: nothing may be
 * marked as synced unless the server's receipt accounts for it, retries are
 * recognisably the same batch, and rejected rows are quarantined without
 * blocking the rest.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { openDb } from "../client/sqlite.ts";
import { marks, piDatabase, runAgent, spawnAgent, sqliteCount, tempDir, writeConfig, type TempDir } from "./helpers/client-agent.ts";
import { startStub, type Reply, type Stub, type StubRequest } from "./helpers/client-stub.ts";

const KEY = "stub-key-0123456789abcdef";
const DEVICE = "pi-stub";

let tmp: TempDir;
let stub: Stub | undefined;
let db: string;

beforeEach(() => {
  tmp = tempDir();
  db = tmp.path("obd.db");
  piDatabase(db); // 1 drive, 1 minute: 780 realtime_data rows
});
afterEach(async () => {
  await stub?.stop();
  stub = undefined;
  tmp.remove();
});

async function serve(answer: (req: StubRequest, index: number) => Reply | Promise<Reply>, config: Record<string, unknown> = {}) {
  stub = await startStub(answer);
  writeConfig(tmp.dir, { baseUrl: stub.url, deviceId: DEVICE, batchSize: 200, retries: 2, retryBaseSeconds: 0.01, ...config });
  return stub;
}

const push = (...args: string[]) => runAgent(["push", "--db", db, ...args], { cwd: tmp.dir, env: { COMPANION_API_KEY: KEY } });

const realtime = (s: Stub) => s.requests.filter((r) => r.table === "realtime_data");
const ids = (r: StubRequest) => r.rows.map((row) => row.id as number);
const quarantine = () => {
  const q = openDb(db);
  try {
    return q.prepare("SELECT table_name, row_key, error FROM sync_quarantine ORDER BY table_name, CAST(row_key AS INTEGER)").all();
  } finally {
    q.close();
  }
};

/** Every request succeeds except the second realtime_data chunk, which gets `fault`. */
const faultOnSecondRealtimeChunk = (fault: Reply) => (req: StubRequest) =>
  req.table === "realtime_data" && ids(req)[0] === 201 ? fault : "ok";

describe("a failed push does not advance the mark", () => {
  const cases: [string, Reply, Record<string, unknown>, number, RegExp][] = [
    ["a 500", { status: 500, body: { detail: "Sync failed", batchId: "x" } }, {}, 1, /^Error: server http:\/\/127\.0\.0\.1:\d+: POST \/api\/v1\/sync answered 500 \(Sync failed\); gave up after 2 retries\nTry: check that the server is up: curl http:\/\/127\.0\.0\.1:\d+\/api\/v1\/ping\n$/],
    ["a timeout", "hang", { timeouts: { requestSeconds: 0.3 }, retries: 1 }, 1, /^Error: server http:\/\/127\.0\.0\.1:\d+: POST \/api\/v1\/sync failed: timed out; gave up after 1 retry\n/],
    ["a dropped connection", "drop", {}, 1, /^Error: server http:\/\/127\.0\.0\.1:\d+: POST \/api\/v1\/sync failed: [^;]+; gave up after 2 retries\n/],
    ["a 401", { status: 401, body: { detail: "Invalid API key" } }, {}, 2, /^Error: the server refused the API key \(401 Invalid API key\)\nTry: set COMPANION_API_KEY to a key the server accepts for this device/],
  ];

  for (const [name, fault, config, exitCode, message] of cases) {
    test(`${name} on the second chunk leaves the mark at the first chunk, and the next run resends the same batch`, async () => {
      const s = await serve(faultOnSecondRealtimeChunk(fault), config);
      const run = await push();
      expect(run.stderr).toMatch(message);
      expect(run.code).toBe(exitCode);
      // The first chunk's receipt counted; the failed one did not, and the run stopped there.
      expect(marks(db)).toMatchObject({ realtime_data: 200, statistics: 0, connection_log: 0, alert_log: 0 });
      const failed = realtime(s).at(-1)!;
      expect(ids(failed)[0]).toBe(201);
      // No retries after a 401; the budget's worth after anything retryable.
      const attempts = realtime(s).filter((r) => r.batchId === failed.batchId).length;
      expect(attempts).toBe(fault === "hang" ? 2 : exitCode === 2 ? 1 : 3);
      expect(quarantine()).toEqual([]);

      const seen = s.requests.length;
      await s.stop();
      const ok = await serve(() => "ok");
      const again = await push();
      expect(again.code).toBe(0);
      const resent = realtime(ok)[0]!;
      expect(resent.batchId).toBe(failed.batchId);
      expect(ids(resent)).toEqual(ids(failed));
      expect(marks(db).realtime_data).toBe(sqliteCount(db, "SELECT MAX(id) FROM realtime_data"));
      expect(seen).toBeGreaterThan(0);
    });
  }
});

describe("retries", () => {
  test("a 500 and then a 429 are retried with the same batch id, and every row is sent once after that", async () => {
    const failures: Reply[] = [{ status: 500 }, { status: 429, body: { detail: "slow down" } }];
    const s = await serve((req) => (req.table === "realtime_data" && failures.length ? failures.shift()! : "ok"));
    const run = await push();
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const [first, second, third] = realtime(s);
    expect(second!.batchId).toBe(first!.batchId);
    expect(third!.batchId).toBe(first!.batchId);
    const accepted = realtime(s).slice(2).flatMap(ids);
    expect(accepted).toEqual(Array.from({ length: 780 }, (_, i) => i + 1));
  });

  test("a 429 with Retry-After is retried no sooner than it says, even with a shorter backoff", async () => {
    let busy = true;
    const s = await serve((req) => {
      if (req.table !== "realtime_data" || !busy) return "ok";
      busy = false;
      return { status: 429, body: { detail: "Server busy: device pi-stub already has 2 sync bodies in progress" }, headers: { "Retry-After": "1" } };
    });
    const run = await push();
    expect(run.code).toBe(0);
    const [refused, retried] = realtime(s);
    expect(retried!.batchId).toBe(refused!.batchId);
    // The backoff here is 10 ms; the server asked for 1 s.
    expect(retried!.at - refused!.at).toBeGreaterThanOrEqual(1000);
  });

  test("a 413 splits the chunk instead of quarantining: every row arrives, nothing is quarantined", async () => {
    const s = await serve((req) => (req.rows.length > 60 ? { status: 413, body: { detail: "Payload too large. Max: 10MB" } } : "ok"));
    const run = await push();
    expect(run.code).toBe(0);
    const accepted = realtime(s).filter((r) => r.rows.length <= 60).flatMap(ids);
    expect(accepted).toEqual(Array.from({ length: 780 }, (_, i) => i + 1));
    expect(quarantine()).toEqual([]);
    expect(marks(db).realtime_data).toBe(780);
  });

  test("a receipt whose counts do not add up does not advance the mark", async () => {
    const s = await serve((req) =>
      req.table === "realtime_data"
        ? { status: 200, body: { status: "ok", batchId: req.batchId, tablesProcessed: { realtime_data: { inserted: req.rows.length - 1, updated: 0, errors: 0 } } } }
        : "ok",
    );
    const run = await push("--json");
    expect(run.code).toBe(1);
    const result = JSON.parse(run.stdout);
    const table = result.tables.find((t: any) => t.table === "realtime_data");
    expect(table.status).toBe("failed");
    expect(table.error).toBe(`the receipt for batch ${realtime(s)[0]!.batchId} does not add up: sent 200 rows, receipt {"inserted":199,"updated":0,"errors":0}`);
    expect(marks(db).realtime_data).toBe(0);
    // The table's failure is its own: the tables after it still synced.
    expect(marks(db).connection_log).toBeGreaterThan(0);
  });
});

describe("quarantine", () => {
  const BAD = new Set([5, 77, 401]);
  const nanAnswer = (req: StubRequest): Reply => {
    if (req.table !== "realtime_data") return "ok";
    const errors = req.rows
      .map((row, i) => ({ row, i }))
      .filter(({ row }) => BAD.has(row.id as number))
      .map(({ i }) => ({ path: `tables.realtime_data.rows[${i}].value`, message: `table realtime_data row ${i} column value: expected a number, got string "NaN"`, table: "realtime_data", row: i, column: "value" }));
    return errors.length ? { status: 422, body: { detail: `Validation failed: ${errors.map((e) => e.message).join("; ")}`, errors } } : "ok";
  };

  test("rows rejected by a 422 are quarantined with the server's message, and the rows after them sync", async () => {
    const s = await serve(nanAnswer);
    const run = await push();
    expect(run.code).toBe(1);
    expect(run.stdout).toContain("3 rows are in quarantine");
    expect(quarantine()).toEqual(
      [5, 77, 401].map((id) => ({ table_name: "realtime_data", row_key: String(id), error: 'column value: expected a number, got string "NaN"' })),
    );
    // Every other row reached the server, and the mark passed the bad ones.
    const accepted = new Set(realtime(s).filter((r) => r.rows.every((row) => !BAD.has(row.id as number))).flatMap(ids));
    expect(accepted.size).toBe(777);
    expect(marks(db).realtime_data).toBe(780);
    // Each quarantined row was rejected on its own first.
    for (const id of BAD) expect(realtime(s).some((r) => r.rows.length === 1 && r.rows[0]!.id === id)).toBe(true);
  });

  test("more rows rejected in one chunk than the quarantine limit stops the table without quarantining", async () => {
    const s = await serve((req) => {
      if (req.table !== "realtime_data") return "ok";
      const errors = req.rows.slice(0, 20).map((_, i) => ({ path: `tables.realtime_data.rows[${i}].foo`, message: `table realtime_data row ${i} column foo: unknown column "foo"`, table: "realtime_data", row: i, column: "foo" }));
      return { status: 422, body: { detail: "Validation failed", errors } };
    });
    const run = await push("--json");
    expect(run.code).toBe(1);
    const table = JSON.parse(run.stdout).tables.find((t: any) => t.table === "realtime_data");
    expect(table.error).toBe(
      `the server rejected more than 100 rows of batch ${realtime(s)[0]!.batchId} (first: column foo: unknown column "foo"); not quarantining them all, since that usually means the server and agent disagree`,
    );
    expect(quarantine()).toEqual([]);
    expect(marks(db).realtime_data).toBe(0);
  });

  test("a 422 that names no rows fails that table only and status shows the error", async () => {
    await serve((req) => (req.table === "statistics" ? { status: 422, body: { detail: "Validation failed: batchId: too long", errors: [{ path: "batchId", message: "batchId: too long" }] } } : "ok"));
    const run = await push();
    expect(run.code).toBe(1);
    expect(marks(db)).toMatchObject({ realtime_data: 780, statistics: 0 });
    expect(marks(db).connection_log).toBeGreaterThan(0);
    const status = await runAgent(["status", "--db", db, "--json"], { cwd: tmp.dir });
    const stats = JSON.parse(status.stdout).tables.find((t: any) => t.table === "statistics");
    expect(stats.lastError).toMatch(/^the server refused batch pi-stub\.statistics\.1-\d+: Validation failed: batchId: too long$/);
    expect(quarantine()).toEqual([]);
  });
});

test("a second stop signal while a request hangs abandons it without moving the mark", async () => {
  let hanging: () => void = () => {};
  const started = new Promise<void>((r) => (hanging = r));
  await serve((req) => {
    if (req.table !== "realtime_data") return "ok";
    hanging();
    return "hang";
  }, { timeouts: { requestSeconds: 600 } });
  const agent = spawnAgent(["push", "--db", db], { cwd: tmp.dir, env: { COMPANION_API_KEY: KEY } });
  await started;
  // Two different signals: two pending SIGTERMs could merge into one.
  agent.kill("SIGTERM");
  agent.kill("SIGINT");
  const [stderr, code] = await Promise.all([new Response(agent.stderr).text(), agent.exited]);
  expect(stderr).toMatch(/^Error: stopped by SIG(TERM|INT); the rest is sent next time\nTry: run `obd2-sync push` again\n$/);
  expect(code).toBe(1);
  expect(marks(db).realtime_data).toBe(0);
});

test("SIGTERM while a chunk is in flight lets that chunk finish and record its mark, then stops", async () => {
  let arrived: () => void = () => {};
  const inFlight = new Promise<void>((r) => (arrived = r));
  let release: () => void = () => {};
  const released = new Promise<Reply>((r) => (release = () => r("ok")));
  await serve((req) => {
    if (req.table !== "realtime_data" || ids(req)[0]! < 201) return "ok";
    if (ids(req)[0] === 201) {
      arrived();
      return released;
    }
    return "hang"; // a later chunk is never answered: only the one in flight may count
  });
  const agent = spawnAgent(["push", "--db", db], { cwd: tmp.dir, env: { COMPANION_API_KEY: KEY } });
  await inFlight;
  agent.kill("SIGTERM");
  release();
  const [stderr, code] = await Promise.all([new Response(agent.stderr).text(), agent.exited]);
  expect(stderr).toBe("Error: stopped by SIGTERM; the rest is sent next time\nTry: run `obd2-sync push` again\n");
  expect(code).toBe(1);
  expect(marks(db).realtime_data).toBe(400);
});
