/**
 * Drives as records: simulated Pi databases pushed by the real agent (a
 * subprocess) to the app on loopback, the analysis worker running against a
 * real Ollama-protocol server that records what it was asked. Every drive
 * is listed, closed (also without a drive_end) and analysed against the
 * car's own history and trouble codes; late rows update the summary and
 * queue the analysis again, once; older Pis' drives come from connection_log;
 * another device's drive does not exist for a device key. The idle and
 * settle rules are tested apart, on a pinned clock.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { dirname } from "node:path";
import { openDb } from "../client/sqlite.ts";
import { createApp } from "../functions/index.ts";
import { startAnalysisWorker, type AnalysisWorker } from "../lib/analysis/worker.ts";
import { tendDrives } from "../lib/drives/summary.ts";
import { createLogger } from "../lib/http/logger.ts";
import { toSqlDatetime } from "../lib/time.ts";
import { API_KEY, issueKey, testApp, type TestApp } from "./helpers/app.ts";
import { piDatabase, runAgent, sqliteExec, startServer, tempDir, type TempDir } from "./helpers/client-agent.ts";
import { event, readings as shortDrive } from "./helpers/drive.ts";
import { startFakeOllama, type FakeOllama } from "./helpers/fake-ollama.ts";

const REPLY = JSON.stringify([{ rank: 1, category: "fueling", recommendation: "Smoke-test the intake for a vacuum leak.", confidence: 0.7 }]);
// No settling: the worker runs only between pushes (see pushed), so no drive is summarised half-pushed, whatever the load.
const FAST = { ANALYSIS_POLL_SECONDS: "0.05", ANALYSIS_RETRY_SECONDS: "0.05", DRIVE_SETTLE_SECONDS: "0" };

let ollama: FakeOllama;
let server: Awaited<ReturnType<typeof startServer>>;
let worker: AnalysisWorker | undefined;
beforeAll(async () => {
  ollama = startFakeOllama({ reply: () => REPLY });
  server = await startServer({ OLLAMA_BASE_URL: ollama.url, ...FAST });
});
afterAll(async () => {
  await worker?.stop();
  ollama.stop();
  await server.stop();
});

let tmp: TempDir;
let seq = 0;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => tmp.remove());

/**
 * Pushes the file through the agent in several batches, with the worker stopped meanwhile and started again
 * after: in production the worker waits for the device to be quiet (DRIVE_SETTLE_SECONDS) instead, which the
 * pinned-clock tests below check.
 */
async function pushed(path: string, device: string, ...args: string[]) {
  await worker?.stop();
  const run = await runAgent(["push", "--db", path, "--server", server.url, "--device-id", device, "--batch-size", "900", ...args], { cwd: dirname(path), env: { COMPANION_API_KEY: API_KEY } });
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: "" });
  worker = startAnalysisWorker({ db: server.db, config: server.config, logger: createLogger(server.config) });
}

const get = async (path: string, key = API_KEY) => {
  const res = await server.app.request(path, { headers: { "x-api-key": key } });
  return { status: res.status, body: (await res.json()) as any };
};

const listed = async (device: string) => (await get(`/api/v1/drives?deviceId=${device}&limit=200`)).body.drives as any[];

/** Polls the list until `ready` holds for it; fails with the list after 30 s. */
async function drivesWhen(device: string, ready: (drives: any[]) => boolean): Promise<any[]> {
  for (const until = Date.now() + 30_000; ; await Bun.sleep(50)) {
    const drives = await listed(device);
    if (ready(drives)) return drives;
    if (Date.now() > until) throw new Error(`drives of ${device} never got ready: ${JSON.stringify(drives, null, 1)}`);
  }
}

const allAnalysed = (n: number) => (drives: any[]) => drives.length === n && drives.every((d) => d.analysis?.status === "completed");

const analysisOf = async (analysisId: number) => (await get(`/api/v1/analyses/${analysisId}`)).body;

/** The Pi file's rows, read straight from SQLite. */
function piRows(path: string, sql: string, ...params: (string | number)[]) {
  const db = openDb(path, { readonly: true });
  try {
    return db.prepare(sql).all(...params);
  } finally {
    db.close();
  }
}

/** The user prompt of the chat about the drive that started at `start` (ISO), as the fake Ollama received it. */
function promptAbout(start: string): string {
  const prompts = ollama.chats.map((c: any) => c.messages.find((m: any) => m.role === "user").content as string);
  const mine = prompts.filter((p) => p.includes(` from ${start} `));
  expect(mine.length).toBeGreaterThan(0);
  return mine.at(-1)!;
}

describe("a current Pi, whose last drive never logged its drive_end", () => {
  let path: string;
  let device: string;
  let drives: any[];
  // One file for the whole block: later tests add rows to it and push again.
  const dir = tempDir();
  afterAll(() => dir.remove());
  beforeAll(async () => {
    path = dir.path("obd.db");
    device = `drives-cur-${++seq}`;
    piDatabase(path, { current: true, drives: 3, minutes: 2, dataSource: "real" });
    await pushed(path, device);
    drives = await drivesWhen(device, allAnalysed(3));
  });

  test("every drive is listed newest first, closed and analysed; the last one was closed for want of readings", async () => {
    expect(drives.map((d) => [d.driveId, d.closedBy])).toEqual([
      [3, "idle"],
      [2, "drive_end"],
      [1, "drive_end"],
    ]);
    // The Pi writes three time formats, which do not sort as text: compare times as times.
    const ms = (t: unknown) => Date.parse(`${toSqlDatetime(String(t))!.replace(" ", "T").slice(0, 23)}Z`);
    for (const d of drives) {
      const times = piRows(path, "SELECT timestamp FROM realtime_data WHERE drive_id = ?", d.driveId).map((r) => ms(r.timestamp));
      const pi = { n: times.length, first: Math.min(...times), last: Math.max(...times) };
      const [summary] = piRows(path, "SELECT * FROM drive_summary WHERE drive_id = ?", d.driveId);
      const [alerts] = piRows(path, "SELECT count(*) AS n FROM alert_log WHERE drive_id = ?", d.driveId);
      expect({ driveId: d.driveId, readings: d.readings, alerts: d.alertCount, dataSource: d.dataSource, battery: d.startingBatteryV, baro: d.barometricKpa, ambient: d.ambientC }).toEqual({
        driveId: d.driveId,
        readings: pi.n,
        alerts: Number(alerts!.n),
        dataSource: "real",
        battery: summary!.starting_battery_v as number,
        baro: summary!.barometric_kpa_at_start as number,
        ambient: summary!.ambient_temp_at_start_c as number | null,
      });
      // The drive starts at its drive_start (the Pi logs it before the first reading); one that no drive_end closed ends at its last reading.
      expect(Date.parse(d.start)).toBeLessThanOrEqual(pi.first);
      if (d.closedBy === "idle") expect(d.end).toBe(new Date(pi.last).toISOString());
      expect(d.distanceKm).toBeGreaterThan(0);
      expect(d.maxCoolantC).toBeGreaterThan(0);
      expect(d.meanRunningV).toBeGreaterThan(13);
      expect(d.minRunningV).toBeLessThanOrEqual(d.meanRunningV);
      expect(typeof d.ltftMean).toBe("number");
      expect(d.summarizedAt).not.toBeNull();
    }
  });

  test("a drive's trouble codes are in its summary, its analysis and its prompt, with the freeze frame; a code seen in an earlier drive is recurring", async () => {
    const byId = Object.fromEntries(drives.map((d) => [d.driveId, d]));
    // P0171 persists from the first drive (updated in place); P0300 was cleared in the first drive and came back in the third.
    expect([byId[1].dtcCodes, byId[2].dtcCodes, byId[3].dtcCodes]).toEqual([["P0171"], ["P0171"], ["P0171", "P0300"]]);
    const first = await analysisOf(byId[1].analysis.analysisId);
    expect(first.dtcs.map((x: any) => [x.code, x.recurring])).toEqual([["P0171", false]]);
    const third = await analysisOf(byId[3].analysis.analysisId);
    expect(third.dtcs.map((x: any) => [x.code, x.status, x.description, x.recurring, Object.keys(x.freezeFrame ?? {}).length > 0])).toEqual([
      ["P0171", "stored", "System too lean (bank 1)", true, true],
      ["P0300", "pending", "Random/multiple cylinder misfire detected", true, true],
    ]);
    const lean = third.findings.find((f: any) => f.code === "dtc" && f.parameter === "P0171");
    const frame = third.dtcs[0].freezeFrame;
    expect(lean).toMatchObject({ severity: "warning", evidence: { RPM: frame.RPM, LONG_FUEL_TRIM_1: frame.LONG_FUEL_TRIM_1 } });
    expect(lean.message).toContain(`freeze frame RPM ${Number(frame.RPM.toPrecision(4))}, SPEED ${frame.SPEED}`);
    const prompt = promptAbout(byId[3].start);
    expect(prompt).toContain("- P0171 System too lean (bank 1): stored, recurring; freeze frame: RPM");
    expect(prompt).toContain("- P0300 Random/multiple cylinder misfire detected: pending, recurring; freeze frame: RPM");
  });

  test("the detail shows the summary, the statistics, the findings and the latest analysis; health counts the drives and names the last analysis", async () => {
    const d = drives[0];
    const res = await get(`/api/v1/drives/${device}/${d.driveId}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ deviceId: device, driveId: 3, closedBy: "idle", readings: d.readings });
    expect(res.body.parameters.map((p: any) => p.parameter)).toContain("LONG_FUEL_TRIM_1");
    expect(res.body.parameters.reduce((n: number, p: any) => n + p.count, 0)).toBe(d.readings);
    expect(res.body.analysis).toMatchObject({ analysisId: d.analysis.analysisId, status: "completed", triggeredBy: "auto", recommendations: [{ rank: 1, category: "fueling" }] });
    expect(res.body.analysis.history.priorDrives).toBe(2);
    const health = await get("/api/v1/health");
    expect(health.body.driveCount).toBeGreaterThanOrEqual(3);
    const [{ top }] = await server.db.query("SELECT MAX(analysis_id) AS top FROM analysis_history");
    expect(health.body.lastAnalysis).toMatchObject({ analysisId: Number(top) });
  });

  test("late rows update the summary and queue the analysis again, once", async () => {
    const last = drives[0];
    const analyses = async () => Number((await server.db.query("SELECT COUNT(*) AS n FROM analysis_history WHERE device_id = ? AND drive_start = ?", [device, last.start.replace("T", " ").replace("Z", "")]))[0].n);
    expect(await analyses()).toBe(1);
    // Readings of the last drive the Pi had not written yet when it synced: a minute after its last one.
    const addReadings = (from: number) =>
      sqliteExec(
        path,
        Array.from({ length: 60 }, (_, i) => {
          const at = new Date(Date.parse(last.end) + (from + i + 1) * 1000).toISOString().replace("T", " ").replace("Z", "");
          return `INSERT INTO realtime_data (timestamp, parameter_name, value, unit, profile_id, data_source, drive_id) VALUES ('${at}', 'LONG_FUEL_TRIM_1', 3.1, '%', 'daily', 'real', 3);`;
        }).join("\n"),
      );
    addReadings(0);
    await pushed(path, device);
    const [again] = await drivesWhen(device, (ds) => ds[0].readings === last.readings + 60 && ds[0].analysis?.analysisId !== last.analysis.analysisId && ds[0].analysis?.status === "completed");
    expect(Date.parse(again.end)).toBe(Date.parse(last.end) + 60_000);
    expect(await analyses()).toBe(2);

    // More late rows: the summary follows them, but the analysis is not queued a third time.
    addReadings(60);
    await pushed(path, device);
    const [third] = await drivesWhen(device, (ds) => ds[0].readings === last.readings + 120);
    const [row] = await server.db.query("SELECT analysis_due, requeued FROM drives WHERE source_device = ? AND drive_id = 3", [device]);
    expect(row).toEqual({ analysis_due: 0, requeued: 1 });
    expect(third.analysis.analysisId).toBe(again.analysis.analysisId);
    expect(await analyses()).toBe(2);
    const [job] = await server.db.query("SELECT state FROM analysis_jobs WHERE device_id = ? AND drive_start = ?", [device, last.start.replace("T", " ").replace("Z", "")]);
    expect(job.state).toBe("completed");
  });

  test("a replayed push changes no summary and queues no analysis", async () => {
    const before = await listed(device);
    const chats = ollama.chats.length;
    await pushed(path, device, "--resend-all", "--yes");
    // Every drive was touched again; wait until the worker has summarised them all.
    for (let until = Date.now() + 30_000; ; await Bun.sleep(50)) {
      const [{ n }] = await server.db.query("SELECT COUNT(*) AS n FROM drives WHERE source_device = ? AND (summary_due > 0 OR analysis_due = 1)", [device]);
      if (Number(n) === 0) break;
      if (Date.now() > until) throw new Error("the replayed drives were never summarised");
    }
    // summarizedAt says when the summary was last computed; every figure stays as it was.
    const figures = (ds: any[]) => ds.map(({ summarizedAt: _, ...rest }) => rest);
    expect(figures(await listed(device))).toEqual(figures(before));
    expect(ollama.chats.length).toBe(chats);
  });

  test("POST /api/v1/analyze with a driveId analyses that drive, which then lists it as its latest analysis", async () => {
    const post = async (body: unknown) => {
      const res = await server.call("/api/v1/analyze", { json: body });
      return { status: res.status, body: (await res.json()) as any };
    };
    const second = (await listed(device)).find((d) => d.driveId === 2);
    const res = await post({ deviceId: device, driveId: 2 });
    expect(res.status).toBe(200);
    expect(res.body.history.priorDrives).toBe(1);
    expect(res.body.dtcs.map((x: any) => x.code)).toEqual(["P0171"]);
    const now = (await listed(device)).find((d) => d.driveId === 2);
    expect(now.analysis).toEqual({ analysisId: res.body.analysisId, status: "completed" });
    expect(now.analysis.analysisId).not.toBe(second.analysis.analysisId);
    const record = await analysisOf(res.body.analysisId);
    expect({ triggeredBy: record.triggeredBy, start: record.driveStartTime, end: record.driveEndTime }).toEqual({ triggeredBy: "api", start: second.start, end: second.end });
    expect(await post({ deviceId: device, driveId: 99 })).toEqual({ status: 404, body: { detail: `Drive 99 of device ${device} not found` } });
    const both = await post({ deviceId: device, driveId: 2, driveStartTime: second.start });
    expect(both.status).toBe(422);
    expect(both.body.errors).toEqual([{ path: "driveStartTime", message: "driveStartTime: must be absent with driveId: the drive is the window" }]);
    expect((await post({ deviceId: device })).body.errors.map((e: any) => e.path)).toEqual(["driveStartTime", "driveEndTime"]);
  });
});

describe("history", () => {
  test("after 8 real drives the latest analysis has a history; an LTFT shift injected into the ninth drive is an anomaly citing both numbers", async () => {
    const path = tmp.path("obd.db");
    const device = `drives-hist-${++seq}`;
    piDatabase(path, { drives: 9, minutes: 2, dataSource: "real", ltftShift: { drive: 9, percent: 8 } });
    await pushed(path, device);
    const drives = await drivesWhen(device, allAnalysed(9));
    const [shifted, ...prior] = drives;
    expect(shifted.driveId).toBe(9);
    const analysis = await analysisOf(shifted.analysis.analysisId);
    expect(analysis.history.priorDrives).toBe(8);
    expect(analysis.history.inBaseline).toBe(true);

    // The baseline, computed here from the listed summaries.
    const values = prior.map((d: any) => d.ltftMean);
    const mean = values.reduce((a: number, b: number) => a + b, 0) / values.length;
    const std = Math.sqrt(values.reduce((a: number, v: number) => a + (v - mean) ** 2, 0) / (values.length - 1));
    const ltft = analysis.history.baselines.find((b: any) => b.parameter === "LONG_FUEL_TRIM_1");
    expect(ltft).toMatchObject({ metric: "mean", drives: 8, thisDrive: shifted.ltftMean });
    expect(ltft.mean).toBeCloseTo(mean, 9);
    expect(ltft.std).toBeCloseTo(std, 9);
    expect(analysis.history.anomalies.map((a: any) => a.parameter)).toContain("LONG_FUEL_TRIM_1");
    const finding = analysis.findings.find((f: any) => f.code === "baseline_anomaly" && f.parameter === "LONG_FUEL_TRIM_1");
    const signed = (x: number) => `${x > 0 ? "+" : ""}${x.toFixed(1)}`;
    expect(finding.message).toBe(
      `Long-term fuel trim was ${signed(shifted.ltftMean)} % this drive, against ${signed(mean)} % ± ${std.toFixed(1)} % over the last 8 real drives (z ${signed(ltft.z)})`,
    );
    expect(finding.evidence).toMatchObject({ thisDrive: Math.round(shifted.ltftMean * 1000) / 1000, baselineMean: Math.round(mean * 1000) / 1000, priorDrives: 8 });
    expect(ltft.z).toBeGreaterThan(2);
    // The model saw the same.
    const prompt = promptAbout(shifted.start);
    expect(prompt).toContain("Baseline: the device's last 8 real drives before this one.");
    expect(prompt).toContain(finding.message);
    // Pages: newest first, each page starting before the previous page's last drive.
    const page = async (before?: string) => (await get(`/api/v1/drives?deviceId=${device}&limit=4${before ? `&before=${before}` : ""}`)).body.drives.map((d: any) => d.driveId);
    expect(await page()).toEqual([9, 8, 7, 6]);
    expect(await page(drives[3].start)).toEqual([5, 4, 3, 2]);
    expect(await page(drives[7].start)).toEqual([1]);
    // A drive early in the history has fewer prior drives and no anomaly to flag.
    const second = await analysisOf(drives.at(-2).analysis.analysisId);
    expect({ prior: second.history.priorDrives, anomalies: second.history.anomalies }).toEqual({ prior: 1, anomalies: [] });
  });

  test("simulated drives are analysed, and say so, but stay out of every baseline", async () => {
    const path = tmp.path("obd.db");
    const device = `drives-sim-${++seq}`;
    const sources = ["real", "real", "real", "physics_sim", "physics_sim", "real", "real", "physics_sim"] as const;
    piDatabase(path, { drives: 8, minutes: 2, dataSources: [...sources] });
    await pushed(path, device);
    const drives = (await drivesWhen(device, allAnalysed(8))).reverse();
    expect(drives.map((d) => d.dataSource)).toEqual([...sources]);
    const histories = await Promise.all(drives.map(async (d) => (await analysisOf(d.analysis.analysisId)).history));
    // Each drive's baseline: the real drives before it.
    expect(histories.map((h) => [h.priorDrives, h.inBaseline])).toEqual([
      [0, true],
      [1, true],
      [2, true],
      [3, false],
      [3, false],
      [3, true],
      [4, true],
      [5, false],
    ]);
    expect(histories[7].note).toContain("physics_sim, not real data");
    const ltft = histories[7].baselines.find((b: any) => b.parameter === "LONG_FUEL_TRIM_1");
    const real = drives.slice(0, 7).filter((d) => d.dataSource === "real").map((d) => d.ltftMean);
    expect(ltft.mean).toBeCloseTo(real.reduce((a, b) => a + b, 0) / real.length, 9);
    expect(promptAbout(drives[7].start)).toContain("NOT REAL DATA: This drive's data_source is physics_sim");
  });
});

describe("an older Pi without drive ids", () => {
  test("gets its drives from connection_log: one per drive_start, closed by its drive_end, keyed by the start row's negative id", async () => {
    const path = tmp.path("obd.db");
    const device = `drives-legacy-${++seq}`;
    // Long enough for a pull to the redline, so alert_log has rows to attribute by time.
    piDatabase(path, { legacy: true, drives: 3, minutes: 8 });
    await pushed(path, device);
    const drives = (await drivesWhen(device, allAnalysed(3))).reverse();
    const events = piRows(path, "SELECT id, event_type, timestamp FROM connection_log WHERE event_type IN ('drive_start', 'drive_end') ORDER BY id");
    const starts = events.filter((e) => e.event_type === "drive_start");
    const ends = events.filter((e) => e.event_type === "drive_end");
    const iso = (t: unknown) => new Date(`${toSqlDatetime(String(t))!.replace(" ", "T").slice(0, 23)}Z`).toISOString();
    expect(drives.map((d) => [d.driveId, d.start, d.end, d.closedBy, d.dataSource])).toEqual(starts.map((s, i) => [-Number(s.id), iso(s.timestamp), iso(ends[i]!.timestamp), "drive_end", null]));
    // The Pi writes three time formats, which do not sort as text: count by time.
    const within = (table: string, i: number) =>
      piRows(path, `SELECT timestamp FROM ${table}`).filter((r) => iso(r.timestamp) >= iso(starts[i]!.timestamp) && iso(r.timestamp) <= iso(ends[i]!.timestamp)).length;
    for (let i = 0; i < 3; i++) {
      expect({ i, readings: drives[i].readings, alerts: drives[i].alertCount }).toEqual({ i, readings: within("realtime_data", i), alerts: within("alert_log", i) });
    }
    expect(drives.reduce((n, d) => n + d.alertCount, 0)).toBeGreaterThan(0);
    const detail = await get(`/api/v1/drives/${device}/${drives[0].driveId}`);
    expect(detail.body).toMatchObject({ driveId: drives[0].driveId, readings: drives[0].readings });
  });
});

describe("isolation", () => {
  test("a device key sees only its own drives; another device's drive is 404", async () => {
    const [a, b] = [`drives-iso-a-${++seq}`, `drives-iso-b-${seq}`];
    for (const d of [a, b]) {
      const res = await server.call("/api/v1/sync", { json: { deviceId: d, batchId: `${d}-1`, tables: { realtime_data: { rows: shortDrive() } } } });
      expect(res.status).toBe(200);
    }
    const keyA = await issueKey(server, a);
    expect((await get(`/api/v1/drives/${a}/1`, keyA)).status).toBe(200);
    expect(await get(`/api/v1/drives/${b}/1`, keyA)).toEqual({ status: 404, body: { detail: `Drive 1 of device ${b} not found` } });
    expect((await get(`/api/v1/drives/${b}/1`)).status).toBe(200);
    expect((await get(`/api/v1/drives/${a}/2`, keyA)).status).toBe(404);
    expect((await get(`/api/v1/drives?deviceId=${b}`, keyA)).status).toBe(403);
    const mine = (await get("/api/v1/drives?limit=200", keyA)).body.drives;
    expect(mine.map((d: any) => d.deviceId)).toEqual([a]);
  });
});

describe("the idle and settle rules, on a pinned clock", () => {
  /** The app with its clock stopped at `at`: what /sync records as the server's time. */
  const pinnedApp = (t: TestApp, at: Date) => createApp({ config: t.config, db: t.db, logger: createLogger(t.config), clock: { now: () => at } });

  test("an open drive closes once it has had no reading for DRIVE_IDLE_CLOSE_MINUTES; a closed one is summarised once its device has been quiet for DRIVE_SETTLE_SECONDS", async () => {
    const t = await testApp({ DRIVE_IDLE_CLOSE_MINUTES: "30", DRIVE_SETTLE_SECONDS: "60" });
    try {
      // Readings from 08:00 to 08:09:48, synced at 08:10 server time.
      const synced = new Date("2026-04-19T08:10:00Z");
      const app = pinnedApp(t, synced);
      const res = await app.request("/api/v1/sync", { method: "POST", headers: { "x-api-key": API_KEY, "content-type": "application/json" }, body: JSON.stringify({ deviceId: "clock-pi", batchId: "c-1", tables: { realtime_data: { rows: shortDrive() } } }) });
      expect(res.status).toBe(200);
      const deps = { pool: t.db.pool, config: t.config, logger: createLogger(t.config) };
      const state = async () => (await t.db.query("SELECT closed_by, summary_due, analysis_due FROM drives WHERE source_device = 'clock-pi'"))[0];
      const at = (minutes: number) => new Date(synced.getTime() + minutes * 60_000);
      await tendDrives(deps, at(29));
      expect(await state()).toEqual({ closed_by: null, summary_due: 2, analysis_due: 0 });
      // 30 minutes after the last reading (08:09:48), judged by the server's clock.
      await tendDrives(deps, at(30));
      expect(await state()).toEqual({ closed_by: "idle", summary_due: 0, analysis_due: 0 });
      const [job] = await t.db.query("SELECT state FROM analysis_jobs");
      expect(job.state).toBe("pending");
    } finally {
      await t.close();
    }
  });

  test("a drive closed while its device is still sending waits for the device to be quiet", async () => {
    const t = await testApp({ DRIVE_SETTLE_SECONDS: "60" });
    try {
      const synced = new Date("2026-04-19T08:10:30Z");
      const app = pinnedApp(t, synced);
      const rows = { realtime_data: { rows: shortDrive() }, connection_log: { rows: [event(1, "drive_start", "2026-04-19 08:00:00"), event(2, "drive_end", "2026-04-19 08:10:00")] } };
      const res = await app.request("/api/v1/sync", { method: "POST", headers: { "x-api-key": API_KEY, "content-type": "application/json" }, body: JSON.stringify({ deviceId: "settle-pi", batchId: "s-1", tables: rows }) });
      expect((await res.json()).autoAnalysisTriggered).toBe(true);
      const deps = { pool: t.db.pool, config: t.config, logger: createLogger(t.config) };
      const state = async () => (await t.db.query("SELECT closed_by, summary_due FROM drives WHERE source_device = 'settle-pi'"))[0];
      await tendDrives(deps, new Date(synced.getTime() + 59_000));
      expect(await state()).toEqual({ closed_by: "drive_end", summary_due: 2 });
      await tendDrives(deps, new Date(synced.getTime() + 60_000));
      expect(await state()).toEqual({ closed_by: "drive_end", summary_due: 0 });
    } finally {
      await t.close();
    }
  });

  test("a drive row deleted and found again adopts its old job instead of failing every round on the unique (device, start)", async () => {
    const t = await testApp({ DRIVE_SETTLE_SECONDS: "0" });
    try {
      const synced = new Date("2026-04-19T08:10:30Z");
      const rows = { realtime_data: { rows: shortDrive() }, connection_log: { rows: [event(1, "drive_start", "2026-04-19 08:00:00"), event(2, "drive_end", "2026-04-19 08:10:00")] } };
      const push = (batchId: string) =>
        pinnedApp(t, synced).request("/api/v1/sync", { method: "POST", headers: { "x-api-key": API_KEY, "content-type": "application/json" }, body: JSON.stringify({ deviceId: "again-pi", batchId, tables: rows }) });
      expect((await push("a-1")).status).toBe(200);
      const deps = { pool: t.db.pool, config: t.config, logger: createLogger(t.config) };
      await tendDrives(deps, new Date(synced.getTime() + 1000));
      const [before] = await t.db.query("SELECT job_id FROM analysis_jobs WHERE device_id = 'again-pi'");
      // Someone deletes the drive by hand; the next sync of its rows records it again under a new id.
      await t.db.query("DELETE FROM drives WHERE source_device = 'again-pi'");
      expect((await push("a-2")).status).toBe(200);
      await tendDrives(deps, new Date(synced.getTime() + 2000));
      const [drive] = await t.db.query("SELECT id, analysis_due FROM drives WHERE source_device = 'again-pi'");
      const jobs = await t.db.query("SELECT job_id, drive_ref FROM analysis_jobs WHERE device_id = 'again-pi'");
      expect({ due: drive.analysis_due, jobs }).toEqual({ due: 0, jobs: [{ job_id: before.job_id, drive_ref: drive.id }] });
    } finally {
      await t.close();
    }
  });
});
