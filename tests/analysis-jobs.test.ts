/**
 * Auto-analysis: /sync queues a completed drive in its own transaction, and
 * the worker runs it against a real Ollama-protocol server on loopback,
 * retrying while Ollama is down and surviving a restart of the server.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { claimJob, finishJob } from "../lib/analysis/jobs.ts";
import { startAnalysisWorker, type AnalysisWorker } from "../lib/analysis/worker.ts";
import { freePort } from "../lib/db/mariadb-server.ts";
import { API_KEY, capturedLogger, testApp, type TestApp } from "./helpers/app.ts";
import { DRIVE, event, readings, stamp } from "./helpers/drive.ts";
import { startFakeOllama, type FakeOllama } from "./helpers/fake-ollama.ts";

const RECOMMENDATIONS = [
  { rank: 1, category: "cooling", recommendation: "Check the thermostat and fan switch.", confidence: 0.8 },
  { rank: 2, category: "fuel", recommendation: "Inspect for vacuum leaks.", confidence: 0.6 },
  { rank: 3, category: "ignition", recommendation: "Inspect the plugs.", confidence: 0.4 },
];
const replyWithRecommendations = () => JSON.stringify(RECOMMENDATIONS);

/** Fast retries and polling, and drives analysed as soon as they close, so tests wait milliseconds, not the production seconds. */
const FAST = { ANALYSIS_POLL_SECONDS: "0.05", ANALYSIS_RETRY_SECONDS: "0.05", DRIVE_SETTLE_SECONDS: "0" };

function sync(t: TestApp, deviceId: string, batchId: string, tables: Record<string, unknown[]>) {
  const body = Object.fromEntries(Object.entries(tables).map(([name, rows]) => [name, { rows }]));
  return t.call("/api/v1/sync", { json: { deviceId, batchId, tables: body } });
}

const jobsOf = (t: TestApp, deviceId: string) =>
  t.db.pool.query({ sql: "SELECT * FROM analysis_jobs WHERE device_id = ? ORDER BY job_id", dateStrings: true }, [deviceId]);

/** Polls until the device's job reaches `state`; fails with what the job looks like after `deadlineMs`. */
async function jobReaches(t: TestApp, deviceId: string, state: string, deadlineMs = 20_000) {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const [job] = await jobsOf(t, deviceId);
    if (job?.state === state) return job;
    if (Date.now() > until) throw new Error(`job of ${deviceId} never reached ${state}: ${JSON.stringify(job)}`);
    await Bun.sleep(25);
  }
}

let seq = 0;
const device = () => `jobs-pi-${++seq}`;

const drivesOf = (t: TestApp, deviceId: string) =>
  t.db.pool.query({ sql: "SELECT drive_id, drive_start, drive_end, closed_by, summary_due FROM drives WHERE source_device = ? ORDER BY drive_start", dateStrings: true }, [deviceId]);

// Since drives became records of their own (issue 14), /sync records and closes drives in its transaction and the worker
// queues their analyses: these tests used to find the jobs right after the sync, and now find the drives there.
describe("drives on /sync (no worker: the queue stays empty)", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp();
  });
  afterAll(() => t.close());

  test("a batch with drive_start and drive_end records and closes its drive once, even when replayed", async () => {
    const d = device();
    const tables = { realtime_data: readings(), connection_log: [DRIVE.start, DRIVE.end] };
    const receipt = await (await sync(t, d, "b-1", tables)).json();
    expect(receipt).toMatchObject({ status: "ok", driveDataReceived: true, autoAnalysisTriggered: true });
    const again = await (await sync(t, d, "b-1", tables)).json();
    expect(again).toMatchObject({ status: "ok", autoAnalysisTriggered: true });
    expect(await drivesOf(t, d)).toEqual([
      { drive_id: 1n, drive_start: `${stamp(0)}.000000`, drive_end: `${stamp(10)}.000000`, closed_by: "drive_end", summary_due: 2 },
    ]);
    expect(await jobsOf(t, d)).toHaveLength(0);
  });

  test("readings alone record an open drive and close nothing", async () => {
    const d = device();
    const receipt = await (await sync(t, d, "b-2", { realtime_data: readings() })).json();
    expect(receipt).toMatchObject({ status: "ok", driveDataReceived: false, autoAnalysisTriggered: false });
    expect(await drivesOf(t, d)).toEqual([{ drive_id: 1n, drive_start: `${stamp(0)}.000000`, drive_end: null, closed_by: null, summary_due: 2 }]);
  });

  test("a drive_start leaves the drive open; the drive_end in a later batch closes the drive from the start already on the server", async () => {
    const d = device();
    const first = await (await sync(t, d, "b-3", { realtime_data: readings(), connection_log: [DRIVE.start] })).json();
    expect(first.autoAnalysisTriggered).toBe(false);
    expect((await drivesOf(t, d))[0].closed_by).toBeNull();
    const second = await (await sync(t, d, "b-4", { connection_log: [DRIVE.end] })).json();
    expect(second.autoAnalysisTriggered).toBe(true);
    expect(await drivesOf(t, d)).toMatchObject([{ drive_start: `${stamp(0)}.000000`, drive_end: `${stamp(10)}.000000`, closed_by: "drive_end" }]);
  });

  test("without drive ids every drive_start is a drive of its own, each drive_end closes the one before it, and a drive_end whose start is missing closes nothing", async () => {
    const d = device();
    // An older Pi home after three drives; the second one's start was lost, so its end cannot be paired.
    const legacy = (id: number, type: string, at: string) => ({ ...event(id, type, at), drive_id: null, data_source: null });
    const events = [legacy(1, "drive_start", stamp(0)), legacy(2, "drive_end", stamp(10)), legacy(3, "drive_end", stamp(15)), legacy(4, "drive_start", stamp(20)), legacy(5, "drive_end", stamp(30))];
    const receipt = await (await sync(t, d, "b-5", { connection_log: events })).json();
    expect(receipt.autoAnalysisTriggered).toBe(true);
    const windows = async () => (await drivesOf(t, d)).map((r: any) => [r.drive_id, r.drive_start, r.drive_end, r.closed_by]);
    const closed = [
      [-1n, `${stamp(0)}.000000`, `${stamp(10)}.000000`, "drive_end"],
      [-4n, `${stamp(20)}.000000`, `${stamp(30)}.000000`, "drive_end"],
    ];
    expect(await windows()).toEqual(closed);

    // A drive_end after the last drive's end with no start of its own must not move that drive's end.
    const orphan = await (await sync(t, d, "b-6", { connection_log: [legacy(6, "drive_end", stamp(40))] })).json();
    expect(orphan.autoAnalysisTriggered).toBe(false);
    expect(await windows()).toEqual(closed);
  });

  test("the next drive starting closes the one before it", async () => {
    const d = device();
    await sync(t, d, "b-8", { realtime_data: readings(), connection_log: [DRIVE.start] });
    const next = readings(51).map((r) => ({ ...r, drive_id: 2, timestamp: r.timestamp.replace("08:", "09:") }));
    const receipt = await (await sync(t, d, "b-9", { realtime_data: next })).json();
    expect(receipt.autoAnalysisTriggered).toBe(true);
    expect((await drivesOf(t, d)).map((r: any) => [r.drive_id, r.closed_by, r.drive_end])).toEqual([
      [1n, "next_drive", readings().at(-1)!.timestamp + ".000000"],
      [2n, null, null],
    ]);
  });

  test("an invalid batch records no drive: the drive is part of the rolled-back transaction", async () => {
    const d = device();
    const bad = readings();
    bad[49] = { ...bad[49]!, value: "hot" as unknown as number };
    const res = await sync(t, d, "b-7", { realtime_data: bad, connection_log: [DRIVE.start, DRIVE.end] });
    expect(res.status).toBe(422);
    expect(await drivesOf(t, d)).toHaveLength(0);
    expect(await t.db.query("SELECT COUNT(*) AS n FROM connection_log WHERE source_device = ?", [d])).toEqual([{ n: 0n }]);
  });
});

describe("the worker", () => {
  let ollama: FakeOllama;
  let t: TestApp;
  let worker: AnalysisWorker | undefined;
  const log = capturedLogger();

  beforeAll(async () => {
    ollama = startFakeOllama({ reply: replyWithRecommendations });
    t = await testApp({ OLLAMA_BASE_URL: ollama.url, ...FAST }, { analysisWorker: { wake: () => worker?.wake() } });
    worker = startAnalysisWorker({ db: t.db, config: t.config, logger: log.logger });
  });
  afterAll(async () => {
    await worker?.stop();
    ollama.stop();
    await t.close();
  });

  test("a synced drive is analysed: the job completes, and its recommendations and history row exist", async () => {
    const d = device();
    const res = await sync(t, d, "w-1", { realtime_data: readings(), connection_log: [DRIVE.start, DRIVE.end] });
    expect(res.status).toBe(200);
    const job = await jobReaches(t, d, "completed");
    expect(job.attempts).toBe(1);
    expect(job.analysis_id).not.toBeNull();
    const [history] = await t.db.query("SELECT status, triggered_by, device_id FROM analysis_history WHERE analysis_id = ?", [job.analysis_id]);
    expect(history).toEqual({ status: "completed", triggered_by: "auto", device_id: d });
    const recs = await t.db.query(
      "SELECT priority_rank, recommendation, sync_batch_id FROM ai_recommendations WHERE source_device = ? ORDER BY priority_rank",
      [d],
    );
    expect(recs).toEqual(RECOMMENDATIONS.map((r) => ({ priority_rank: r.rank, recommendation: r.recommendation, sync_batch_id: String(job.analysis_id) })));
  });

  test("a drive with no readings on the server completes without calling Ollama", async () => {
    const d = device();
    const chats = ollama.chats.length;
    await sync(t, d, "w-2", { connection_log: [DRIVE.start, DRIVE.end] });
    const job = await jobReaches(t, d, "completed");
    expect(job.analysis_id).toBeNull();
    expect(ollama.chats.length).toBe(chats);
  });
});

describe("retries", () => {
  test("Ollama down: the syncs still answer 200, the jobs wait without using attempts, one WARN says Ollama went away and one INFO that it is back", async () => {
    const port = await freePort();
    const log = capturedLogger("debug");
    const t = await testApp({ OLLAMA_BASE_URL: `http://127.0.0.1:${port}`, ...FAST });
    const worker = startAnalysisWorker({ db: t.db, config: t.config, logger: log.logger });
    let ollama: FakeOllama | undefined;
    try {
      const devices = [device(), device(), device()];
      for (const d of devices) {
        const res = await sync(t, d, `r-${d}`, { realtime_data: readings(), connection_log: [DRIVE.start, DRIVE.end] });
        expect(res.status).toBe(200);
        expect((await res.json()).autoAnalysisTriggered).toBe(true);
      }

      // Every job tried several times against the closed port.
      const skipped = () => log.lines.filter((l) => l.msg === "Auto-analysis skipped: Ollama unavailable");
      for (let until = Date.now() + 20_000; devices.some((d) => skipped().filter((l: any) => l.deviceId === d).length < 2); ) {
        if (Date.now() > until) throw new Error("the worker never tried every job twice");
        await Bun.sleep(25);
      }
      expect(skipped().every((l) => l.level === 20)).toBe(true); // debug
      const warnings = log.lines.filter((l) => l.level >= 40);
      expect(warnings.map((l) => l.msg)).toEqual([
        "Ollama unreachable: queued drives wait for it (queue size in /api/v1/health and /metrics); set ANALYSIS_ENABLED=false for findings without it",
      ]);
      for (const d of devices) {
        const [waiting] = await jobsOf(t, d);
        expect(waiting).toMatchObject({ attempts: 0, last_error: "Ollama unavailable" });
        expect(["pending", "running"]).toContain(waiting.state);
      }

      ollama = startFakeOllama({ reply: replyWithRecommendations, port });
      for (const d of devices) expect((await jobReaches(t, d, "completed")).attempts).toBe(1);
      expect(log.lines.filter((l) => l.msg.startsWith("Ollama is back")).map((l) => [l.level, l.msg])).toEqual([[30, "Ollama is back; analysing the queued drives"]]);
      expect(log.lines.filter((l) => l.level >= 40)).toHaveLength(1);
      // Every failed attempt and the success reuse one history row.
      const d = devices[0]!;
      expect(await t.db.query("SELECT status FROM analysis_history WHERE device_id = ?", [d])).toEqual([{ status: "completed" }]);
      expect(await t.db.query("SELECT COUNT(*) AS n FROM ai_recommendations WHERE source_device = ?", [d])).toEqual([{ n: 3n }]);
    } finally {
      await worker.stop();
      ollama?.stop();
      await t.close();
    }
  });

  test("ANALYSIS_ENABLED=false: a queued drive gets its statistics and findings, stored with model none and no recommendations; Ollama is never asked", async () => {
    const ollama = startFakeOllama({ reply: replyWithRecommendations });
    const t = await testApp({ OLLAMA_BASE_URL: ollama.url, ANALYSIS_ENABLED: "false", ...FAST });
    const log = capturedLogger();
    const worker = startAnalysisWorker({ db: t.db, config: t.config, logger: log.logger });
    try {
      const d = device();
      // A hot drive, so there is a finding to store.
      const hot = readings().map((r) => (r.parameter_name === "COOLANT_TEMP" ? { ...r, value: 112 } : r));
      await sync(t, d, "off-1", { realtime_data: hot, connection_log: [DRIVE.start, DRIVE.end] });
      const job = await jobReaches(t, d, "completed");
      const [row] = await t.db.query("SELECT status, model, result FROM analysis_history WHERE analysis_id = ?", [job.analysis_id]);
      expect({ status: row.status, model: row.model }).toEqual({ status: "completed", model: "none" });
      const result = typeof row.result === "string" ? JSON.parse(row.result) : row.result;
      expect(result.recommendations).toEqual([]);
      expect(result.findings.map((f: { code: string }) => f.code)).toContain("coolant_overtemp");
      expect(ollama.chats).toHaveLength(0);
      expect(await t.db.query("SELECT COUNT(*) AS n FROM ai_recommendations WHERE source_device = ?", [d])).toEqual([{ n: 0n }]);
      expect(log.lines.filter((l) => l.level >= 40)).toEqual([]);
    } finally {
      await worker.stop();
      ollama.stop();
      await t.close();
    }
  });

  test("Ollama errors use up attempts with backoff, and the job fails after ANALYSIS_MAX_ATTEMPTS", async () => {
    const ollama = startFakeOllama({ models: [] }); // the model is missing: every chat is an HTTP 404
    const t = await testApp({ OLLAMA_BASE_URL: ollama.url, ANALYSIS_MAX_ATTEMPTS: "3", ...FAST });
    const worker = startAnalysisWorker({ db: t.db, config: t.config, logger: capturedLogger().logger });
    try {
      const d = device();
      await sync(t, d, "r-2", { realtime_data: readings(), connection_log: [DRIVE.start, DRIVE.end] });
      const job = await jobReaches(t, d, "failed");
      expect(job.attempts).toBe(3);
      expect(job.last_error).toContain("not found");
      expect(ollama.chats.length).toBe(3);
      expect(await t.db.query("SELECT status FROM analysis_history WHERE device_id = ?", [d])).toEqual([{ status: "failed" }]);
    } finally {
      await worker.stop();
      ollama.stop();
      await t.close();
    }
  });

  test("stop() aborts a hung analysis after its grace period and puts the job back as it was", async () => {
    const ollama = startFakeOllama({ hang: true });
    const t = await testApp({ OLLAMA_BASE_URL: ollama.url, ...FAST });
    const worker = startAnalysisWorker({ db: t.db, config: t.config, logger: capturedLogger().logger });
    try {
      const d = device();
      await sync(t, d, "r-3", { realtime_data: readings(), connection_log: [DRIVE.start, DRIVE.end] });
      await jobReaches(t, d, "running");
      await worker.stop(100);
      const [job] = await jobsOf(t, d);
      expect(job).toMatchObject({ state: "pending", attempts: 0, lease_until: null });
    } finally {
      ollama.stop();
      await t.close();
    }
  });
});

describe("claims", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp();
  });
  afterAll(() => t.close());

  const queue = async (d: string, minute: number) =>
    t.db.query(
      "INSERT INTO analysis_jobs (device_id, drive_start, drive_end, batch_id, run_after) VALUES (?, ?, ?, 'b', '2026-01-01 00:00:00')",
      [d, stamp(minute), stamp(minute + 5)],
    );

  test("concurrent claims never take the same job, and a claimed job is not claimed again while its lease runs", async () => {
    const d = device();
    await queue(d, 0);
    await queue(d, 10);
    const now = new Date("2026-06-01T00:00:00Z");
    const claims = await Promise.all([claimJob(t.db.pool, now, 60_000), claimJob(t.db.pool, now, 60_000), claimJob(t.db.pool, now, 60_000)]);
    const got = claims.filter((c) => c !== undefined);
    expect(got).toHaveLength(2);
    expect(new Set(got.map((c) => c!.jobId)).size).toBe(2);
    expect(await claimJob(t.db.pool, new Date(now.getTime() + 30_000), 60_000)).toBeUndefined();

    // A worker that died holding a claim: once the lease has passed, the job is claimed again.
    const again = await claimJob(t.db.pool, new Date(now.getTime() + 61_000), 60_000);
    expect(got.map((c) => c!.jobId)).toContain(again!.jobId);
    for (const job of [...got, again]) await finishJob(t.db.pool, job!, { state: "completed", analysisId: null }, now);
  });

  test("a job waiting out its backoff is not claimed early", async () => {
    await t.db.query("DELETE FROM analysis_jobs");
    const d = device();
    await queue(d, 0);
    const now = new Date("2026-06-01T00:00:00Z");
    const job = (await claimJob(t.db.pool, now, 60_000))!;
    await finishJob(t.db.pool, job, { state: "pending", runAfter: new Date(now.getTime() + 5_000), error: "boom", countsAttempt: true, analysisId: null }, now);
    expect(await claimJob(t.db.pool, new Date(now.getTime() + 4_000), 60_000)).toBeUndefined();
    expect((await claimJob(t.db.pool, new Date(now.getTime() + 5_000), 60_000))?.attempts).toBe(1);
  });
});

describe("a server restart", () => {
  const ROOT = join(import.meta.dir, "..");
  const BUN = join(ROOT, "node_modules/.bin/bun");

  async function serve(env: Record<string, string>) {
    const port = await freePort();
    const proc = Bun.spawn([BUN, "scripts/server.bun.ts"], {
      cwd: ROOT,
      env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? ROOT, API_KEY, PORT: String(port), LOG_LEVEL: "warn", ...FAST, ...env },
      stdout: "ignore",
      stderr: "inherit",
    });
    const url = `http://127.0.0.1:${port}`;
    for (let until = Date.now() + 30_000; ; ) {
      if (proc.exitCode !== null) throw new Error(`the server exited with ${proc.exitCode}`);
      if (await fetch(`${url}/api/v1/ping`).then((r) => r.ok, () => false)) break;
      if (Date.now() > until) throw new Error("the server never answered");
      await Bun.sleep(50);
    }
    return { proc, url };
  }

  test("a job queued while Ollama was down completes after the server restarts with Ollama up", async () => {
    const t = await testApp();
    const ollamaPort = await freePort();
    const env = { DATABASE_URL: t.db.url, OLLAMA_BASE_URL: `http://127.0.0.1:${ollamaPort}`, BACKUP_DIR: mkdtempSync(join(tmpdir(), "obd2-jobs-backups-")) };
    let ollama: FakeOllama | undefined;
    const first = await serve(env);
    try {
      const d = device();
      const body = { deviceId: d, batchId: "restart-1", tables: { realtime_data: { rows: readings() }, connection_log: { rows: [DRIVE.start, DRIVE.end] } } };
      const res = await fetch(`${first.url}/api/v1/sync`, { method: "POST", headers: { "content-type": "application/json", "x-api-key": API_KEY }, body: JSON.stringify(body) });
      expect(res.status).toBe(200);
      expect((await res.json()).autoAnalysisTriggered).toBe(true);
      first.proc.kill("SIGTERM");
      expect(await first.proc.exited).toBe(0);
      const [queued] = await jobsOf(t, d);
      expect(queued.state).toBe("pending");

      ollama = startFakeOllama({ reply: replyWithRecommendations, port: ollamaPort });
      const second = await serve(env);
      try {
        const job = await jobReaches(t, d, "completed");
        expect(job.analysis_id).not.toBeNull();
        expect(await t.db.query("SELECT COUNT(*) AS n FROM ai_recommendations WHERE source_device = ?", [d])).toEqual([{ n: 3n }]);
      } finally {
        second.proc.kill("SIGTERM");
        await second.proc.exited;
      }
    } finally {
      if (first.proc.exitCode === null) first.proc.kill("SIGKILL");
      ollama?.stop();
      await t.close();
    }
  });
});
