/**
 * POST /api/v1/analyze and GET /api/v1/analyses against a real MariaDB and a
 * fake Ollama (a real HTTP server on loopback): recommendations and the
 * history row are stored together, Ollama's failures answer 503/502/504 with
 * the rule-based findings still in the body, and the model's reply is
 * validated before anything is stored.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { AnalysisFailed, parseRecommendations, PROMPT_CAPS, runAnalysis } from "../lib/analysis/analyze.ts";
import { createApp } from "../functions/index.ts";
import { newDeviceKey } from "../lib/http/auth.ts";
import { readDriveStats } from "../lib/analysis/drive-stats.ts";
import { findings } from "../lib/analysis/findings.ts";
import { createLogger } from "../lib/http/logger.ts";
import { freePort } from "../lib/db/mariadb-server.ts";
import { sqlTimestamp, systemClock } from "../lib/time.ts";
import { API_KEY, testApp, testConfig, type TestApp } from "./helpers/app.ts";
import { seedReadings, type Reading } from "./helpers/drive.ts";
import { startFakeOllama, type FakeOllama } from "./helpers/fake-ollama.ts";

const DEVICE = "eclipse-pi";
const OTHER = "other-pi";

const THREE = [
  { rank: 1, category: "cooling", recommendation: "Coolant reached 107.5 °C: test the fan switch and the radiator cap.", confidence: 0.8 },
  { rank: 2, category: "cooling", recommendation: "Bleed the cooling system; air pockets cause the spikes.", confidence: 0.6 },
  { rank: 3, category: "maintenance", recommendation: "Replace the coolant if it is older than two years.", confidence: 0.4 },
];
const threeRecommendations = () => JSON.stringify(THREE);

let t: TestApp;
let ollama: FakeOllama;
let keys: Record<string, string>;

beforeAll(async () => {
  ollama = startFakeOllama({ reply: threeRecommendations });
  t = await testApp({ OLLAMA_BASE_URL: ollama.url });
  keys = {};
  for (const id of [DEVICE, OTHER]) {
    const { key, hash } = newDeviceKey(id);
    keys[id] = key;
    await t.db.query("INSERT INTO devices (device_id, api_key_hash) VALUES (?, ?)", [id, hash]);
  }
});

afterAll(async () => {
  ollama.stop();
  await t.close();
});

/** Midnight UTC on 2026-11-22 plus `hour` hours: each test analyses its own hour, so tests never see each other's readings. */
const hourStart = (hour: number) => new Date(Date.UTC(2026, 10, 22, 0) + hour * 3600_000);

/**
 * 50 readings: five parameters once a minute for ten minutes from the start
 * of `hour`, coolant climbing from 85 to 107.5 °C (a critical overheat).
 * Returns the window as an /analyze body.
 */
async function seedDrive(hour: number, { deviceId = DEVICE, profile_id }: { deviceId?: string; profile_id?: string } = {}) {
  const start = hourStart(hour);
  const rows: Reading[] = [];
  for (let i = 0; i < 10; i++) {
    const timestamp = new Date(start.getTime() + i * 60_000).toISOString();
    const reading = (parameter_name: string, value: number, unit: string) => rows.push({ timestamp, parameter_name, value, unit, profile_id });
    reading("RPM", 800 + i * 200, "rpm");
    reading("SPEED", i * 8, "km/h");
    reading("COOLANT_TEMP", 85 + i * 2.5, "°C");
    reading("INTAKE_TEMP", 30, "°C");
    reading("CONTROL_MODULE_VOLTAGE", 14.1, "V");
  }
  expect(await seedReadings(t.db, deviceId, rows)).toBe(50);
  return { deviceId, driveStartTime: start.toISOString(), driveEndTime: new Date(start.getTime() + 600_000).toISOString() };
}

/** The findings lib/analysis/findings.ts computes for a window, straight from the database. */
async function expectedFindings(body: { deviceId: string; driveStartTime: string; driveEndTime: string }) {
  const stats = await readDriveStats(t.db.pool, { deviceId: body.deviceId, start: new Date(body.driveStartTime), end: new Date(body.driveEndTime) });
  return findings(stats!);
}

/** POST /api/v1/analyze on the file's app, or on one with `env` over its configuration. */
async function analyze(body: unknown, { env, key = API_KEY }: { env?: Record<string, string>; key?: string } = {}) {
  const app = env ? appWith(env) : t.app;
  const res = await app.request("/api/v1/analyze", {
    method: "POST",
    headers: { "x-api-key": key, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

function appWith(env: Record<string, string>) {
  const config = testConfig({ DATABASE_URL: t.db.url, OLLAMA_BASE_URL: ollama.url, ...env });
  return createApp({ config, db: t.db, logger: createLogger(config) });
}

/** The analysis_history row, its result JSON parsed (the connector parses MariaDB's JSON columns, MySQL's arrive as text). */
async function historyRow(analysisId: number) {
  const [row] = await t.db.query("SELECT * FROM analysis_history WHERE analysis_id = ?", [analysisId]);
  return { ...row, result: typeof row.result === "string" ? JSON.parse(row.result) : row.result };
}

async function recommendationRows(analysisId: number) {
  const rows = await t.db.query(
    `SELECT source_id, source_device, sync_batch_id, DATE_FORMAT(timestamp, '%Y-%m-%dT%H:%i:%sZ') AS timestamp, recommendation, priority_rank, profile_id
     FROM ai_recommendations WHERE sync_batch_id = ? ORDER BY priority_rank`,
    [String(analysisId)],
  );
  return rows.map((r: any) => ({ ...r, source_id: Number(r.source_id) }));
}

describe("POST /api/v1/analyze", () => {
  test("a drive with readings should return 3 recommendations, store them and record a completed analysis", async () => {
    const body = await seedDrive(0);
    const chats = ollama.chats.length;
    const res = await analyze({ ...body, focusAreas: ["cooling", "fuel economy"] });
    const found = await expectedFindings(body);
    expect(found.map((f) => [f.code, f.severity])).toEqual([["coolant_overtemp", "critical"]]);
    expect(res).toEqual({
      status: 200,
      body: {
        status: "ok",
        analysisId: expect.any(Number),
        recommendations: THREE,
        findings: found,
        // Readings seeded straight into the table: no drive recorded, so no history; no trouble codes either.
        history: { priorDrives: 0, dataSource: null, inBaseline: true, baselines: [], anomalies: [], trends: [] },
        dtcs: [],
        model: "gemma2:2b",
        processingTimeMs: expect.any(Number),
        dropped: 0,
      },
    });
    const id = res.body.analysisId;

    expect(await recommendationRows(id)).toEqual(
      THREE.map((r) => ({
        source_id: -(id * 10 + r.rank),
        source_device: DEVICE,
        sync_batch_id: String(id),
        timestamp: "2026-11-22T00:10:00Z",
        recommendation: r.recommendation,
        priority_rank: r.rank,
        profile_id: null,
      })),
    );
    const row = await historyRow(id);
    expect(row).toMatchObject({
      device_id: DEVICE,
      status: "completed",
      triggered_by: "api",
      model: "gemma2:2b",
      processing_time_ms: res.body.processingTimeMs,
      error_message: null,
      drive_start: hourStart(0),
      drive_end: new Date(body.driveEndTime),
    });
    expect(row.completed_at).toBeInstanceOf(Date);
    expect(row.result).toMatchObject({ findings: found, recommendations: THREE, dropped: 0, facts: { maxCoolantC: 107.5 } });

    expect(ollama.chats.length).toBe(chats + 1);
    const chat = ollama.chats.at(-1) as any;
    expect(chat).toMatchObject({ model: "gemma2:2b", stream: false, format: { type: "array", items: { type: "object" } } });
    expect(chat.format.items.required).toEqual(["rank", "category", "recommendation", "confidence"]);
    expect(chat.messages.map((m: any) => m.role)).toEqual(["system", "user"]);
    const [system, user] = chat.messages.map((m: any) => m.content as string);
    expect(system).toContain("1998 Mitsubishi Eclipse");
    expect(system).toContain("4G63");
    // The statistics table's coolant row: 10 readings, min 85, mean 96.25, max 107.5.
    expect(user).toContain("COOLANT_TEMP | °C | 10 | 85 | 96.25 | 107.5 |");
    expect(user).toContain(found[0]!.message);
    expect(user).toContain("Focus areas: cooling; fuel economy");
  });

  test("times with an offset or without a zone should be read as the same UTC instants", async () => {
    await seedDrive(1);
    const res = await analyze({ deviceId: DEVICE, driveStartTime: "2026-11-22T03:00:00+02:00", driveEndTime: "2026-11-22 01:10:00" });
    expect(res.status).toBe(200);
    expect(await historyRow(res.body.analysisId)).toMatchObject({ drive_start: hourStart(1), drive_end: new Date(hourStart(1).getTime() + 600_000) });
  });

  test("a window without readings should say so, store nothing and not call Ollama", async () => {
    const chats = ollama.chats.length;
    const [before] = await t.db.query("SELECT COUNT(*) AS n FROM analysis_history");
    const res = await analyze({ deviceId: DEVICE, driveStartTime: "2020-01-01T00:00:00Z", driveEndTime: "2020-01-01T01:00:00Z" });
    expect(res).toEqual({
      status: 200,
      body: { status: "ok", recommendations: [], findings: [], message: "No drive data found for the specified time window" },
    });
    expect(ollama.chats.length).toBe(chats);
    const [after] = await t.db.query("SELECT COUNT(*) AS n FROM analysis_history");
    expect(after.n).toBe(before.n);
  });

  test("a numeric profileId should be accepted as text and only that profile's (and unprofiled) readings analysed", async () => {
    const body = await seedDrive(2, { profile_id: "7" });
    // Another profile's readings in the same window, all at 130 °C: if they counted, the peak would be 130.
    const at = (m: number) => new Date(hourStart(2).getTime() + m * 60_000).toISOString();
    await seedReadings(t.db, DEVICE, [0, 1, 2].map((m) => ({ timestamp: at(m), parameter_name: "COOLANT_TEMP", value: 130, unit: "°C", profile_id: "track" })));
    const res = await analyze({ ...body, profileId: 7 });
    expect(res.status).toBe(200);
    expect(res.body.findings[0].evidence.peakC).toBe(108); // 107.5 rounded
    expect(await historyRow(res.body.analysisId)).toMatchObject({ profile_source_id: "7" });
    expect((await recommendationRows(res.body.analysisId)).map((r: any) => r.profile_id)).toEqual(["7", "7", "7"]);
    expect((ollama.chats.at(-1) as any).messages[1].content).toContain("(profile 7)");
  });

  test("parameters should narrow the statistics and findings to those parameters", async () => {
    const body = await seedDrive(3);
    const res = await analyze({ ...body, parameters: ["RPM", "SPEED"] });
    expect(res.status).toBe(200);
    expect(res.body.findings).toEqual([]);
    const user: string = (ollama.chats.at(-1) as any).messages[1].content;
    expect(user).toContain("RPM | rpm | 10 |");
    expect(user).not.toContain("COOLANT_TEMP |");
    expect(await analyze({ ...body, parameters: ["BOOST"] })).toMatchObject({ status: 200, body: { message: "No drive data found for the specified time window" } });
  });

  test("Ollama unreachable should answer 503 with the findings, and store no analysis: it never reached the model", async () => {
    const body = await seedDrive(4);
    const closedUrl = `http://127.0.0.1:${await freePort()}`;
    const before = await t.db.query("SELECT COALESCE(MAX(analysis_id), 0) AS id FROM analysis_history");
    const res = await analyze(body, { env: { OLLAMA_BASE_URL: closedUrl } });
    expect(res).toEqual({
      status: 503,
      body: { detail: "Ollama unavailable", ollamaUrl: closedUrl, model: "gemma2:2b", findings: await expectedFindings(body) },
    });
    expect(await t.db.query("SELECT analysis_id FROM analysis_history WHERE analysis_id > ?", [before[0].id])).toEqual([]);
  });

  test("Ollama answering HTTP 500 should answer 502 with its error", async () => {
    const body = await seedDrive(5);
    const failing = startFakeOllama({ fail: { status: 500, error: "llama runner process has terminated: signal: killed" } });
    try {
      const res = await analyze(body, { env: { OLLAMA_BASE_URL: failing.url } });
      expect(res).toEqual({
        status: 502,
        body: {
          detail: "Ollama error",
          ollamaError: "llama runner process has terminated: signal: killed",
          analysisId: expect.any(Number),
          findings: await expectedFindings(body),
        },
      });
      expect(failing.chats.length).toBe(1);
      expect(await historyRow(res.body.analysisId)).toMatchObject({
        status: "failed",
        error_message: "Ollama error: llama runner process has terminated: signal: killed",
      });
    } finally {
      failing.stop();
    }
  });

  test("a model Ollama does not have should answer 502 naming it", async () => {
    const body = await seedDrive(6);
    const res = await analyze(body, { env: { OLLAMA_MODEL: "mistral:7b" } });
    expect(res).toMatchObject({ status: 502, body: { detail: "Ollama error", ollamaError: 'model "mistral:7b" not found, try pulling it first' } });
    expect(await historyRow(res.body.analysisId)).toMatchObject({ status: "failed", model: "mistral:7b" });
  });

  test("an analysis over ANALYSIS_TIMEOUT_SECONDS should answer 504 and record the analysis as failed", async () => {
    const body = await seedDrive(7);
    // The fake answers a minute late; the analysis gives up after half a second.
    const slow = startFakeOllama({ reply: threeRecommendations, delayMs: 60_000 });
    try {
      const res = await analyze(body, { env: { OLLAMA_BASE_URL: slow.url, ANALYSIS_TIMEOUT_SECONDS: "0.5" } });
      expect(res).toEqual({
        status: 504,
        body: { detail: "Analysis timed out after 0.5 s", analysisId: expect.any(Number), findings: await expectedFindings(body) },
      });
      expect(await historyRow(res.body.analysisId)).toMatchObject({ status: "failed", error_message: "Analysis timed out after 0.5 s" });
      expect(await recommendationRows(res.body.analysisId)).toEqual([]);
    } finally {
      slow.stop();
    }
  });

  test("a reply with malformed, out-of-range and surplus items should keep the best 5, clamped and re-ranked, and count the rest", async () => {
    const body = await seedDrive(8);
    const item = (rank: unknown, recommendation: string, confidence: unknown, category: unknown = "cooling") => ({ rank, category, recommendation, confidence });
    ollama.reply = () =>
      JSON.stringify([
        item(3, "C", 1.7),
        item(1, "A", -0.2),
        item(2, "no confidence", undefined),
        item(4, "D", 0.6, "fueling"),
        item("5", "rank as text", 0.5),
        item(6, "F", 0.4),
        item(5, "E", 0.5, ""),
        item(7, "G", 0.3),
        item(9, "I", 0.1),
      ]);
    try {
      const res = await analyze(body);
      const expected = [
        { rank: 1, category: "cooling", recommendation: "A", confidence: 0 },
        { rank: 2, category: "cooling", recommendation: "C", confidence: 1 },
        { rank: 3, category: "fueling", recommendation: "D", confidence: 0.6 },
        { rank: 4, category: "cooling", recommendation: "F", confidence: 0.4 },
        { rank: 5, category: "cooling", recommendation: "G", confidence: 0.3 },
      ];
      // 9 items: 3 malformed (no confidence, rank as text, empty category), 6 valid of which 5 are kept.
      expect(res).toMatchObject({ status: 200, body: { recommendations: expected, dropped: 4 } });
      expect((await recommendationRows(res.body.analysisId)).map((r: any) => [r.priority_rank, r.recommendation])).toEqual(
        expected.map((r) => [r.rank, r.recommendation]),
      );
      expect((await historyRow(res.body.analysisId)).result).toMatchObject({ recommendations: expected, dropped: 4 });
    } finally {
      ollama.reply = threeRecommendations;
    }
  });

  test("a reply that is not JSON should complete with no recommendations and one dropped", async () => {
    const body = await seedDrive(9);
    ollama.reply = () => "Your engine runs hot. Check the fan.";
    try {
      const res = await analyze(body);
      expect(res).toMatchObject({ status: 200, body: { recommendations: [], dropped: 1, findings: await expectedFindings(body) } });
      expect(await historyRow(res.body.analysisId)).toMatchObject({ status: "completed" });
      expect(await recommendationRows(res.body.analysisId)).toEqual([]);
    } finally {
      ollama.reply = threeRecommendations;
    }
  });

  test("an end before the start should return 422 naming driveEndTime", async () => {
    expect(await analyze({ deviceId: DEVICE, driveStartTime: "2026-11-22T10:00:00Z", driveEndTime: "2026-11-22T09:00:00Z" })).toEqual({
      status: 422,
      body: {
        detail: "Validation failed: driveEndTime: must be after driveStartTime",
        errors: [{ path: "driveEndTime", message: "driveEndTime: must be after driveStartTime" }],
      },
    });
  });

  test("a time that is not ISO 8601 should return 422 naming the field", async () => {
    const res = await analyze({ deviceId: DEVICE, driveStartTime: "yesterday", driveEndTime: "2026-11-22T09:00:00Z" });
    const message = 'driveStartTime: must be an ISO 8601 time such as 2026-11-22T10:00:00Z, not "yesterday"';
    expect(res).toEqual({ status: 422, body: { detail: `Validation failed: ${message}`, errors: [{ path: "driveStartTime", message }] } });
  });

  test("a window with more readings than ANALYSIS_MAX_READINGS should return 422 naming driveEndTime, before anything is stored or asked", async () => {
    const body = await seedDrive(20);
    const chats = ollama.chats.length;
    const analyses = async () => (await t.db.query("SELECT COUNT(*) AS n FROM analysis_history"))[0].n;
    const before = await analyses();
    const res = await analyze(body, { env: { ANALYSIS_MAX_READINGS: "49" } });
    const message = "driveEndTime: the window holds 50 readings; one analysis takes at most 49 (ANALYSIS_MAX_READINGS): choose a shorter window";
    expect(res).toEqual({ status: 422, body: { detail: `Validation failed: ${message}`, errors: [{ path: "driveEndTime", message }] } });
    expect(ollama.chats.length).toBe(chats);
    expect(await analyses()).toBe(before);
    expect((await analyze(body, { env: { ANALYSIS_MAX_READINGS: "50" } })).status).toBe(200);
  });

  test("a missing deviceId while the server knows two devices should return 422", async () => {
    const message = "deviceId: is required: the server knows 2 devices";
    expect(await analyze({ driveStartTime: "2026-11-22T10:00:00Z", driveEndTime: "2026-11-22T11:00:00Z" })).toEqual({
      status: 422,
      body: { detail: `Validation failed: ${message}`, errors: [{ path: "deviceId", message }] },
    });
  });

  test("a device key should default to its own device and get 403 for another", async () => {
    const body = await seedDrive(10, { deviceId: OTHER });
    const { deviceId: _, ...window } = body;
    const own = await analyze(window, { key: keys[OTHER]! });
    expect(own.status).toBe(200);
    expect(await historyRow(own.body.analysisId)).toMatchObject({ device_id: OTHER });
    expect(await analyze({ ...window, deviceId: DEVICE }, { key: keys[OTHER]! })).toEqual({
      status: 403,
      body: { detail: `API key not valid for device ${DEVICE}` },
    });
  });
});

describe("POST /api/v1/analyze without a deviceId", () => {
  test("should use the only device, and ask for one when there is none", async () => {
    const solo = await testApp({ OLLAMA_BASE_URL: ollama.url });
    try {
      const window = { driveStartTime: "2026-11-22T10:00:00Z", driveEndTime: "2026-11-22T11:00:00Z" };
      const message = "deviceId: is required: no device has synced yet";
      expect(await (await solo.call("/api/v1/analyze", { json: window })).json()).toEqual({
        detail: `Validation failed: ${message}`,
        errors: [{ path: "deviceId", message }],
      });
      await solo.db.query("INSERT INTO devices (device_id) VALUES ('solo-pi')");
      await seedReadings(solo.db, "solo-pi", [{ timestamp: "2026-11-22 10:05:00", parameter_name: "RPM", value: 850 }]);
      const res = await solo.call("/api/v1/analyze", { json: window });
      expect(res.status).toBe(200);
      const { analysisId } = (await res.json()) as { analysisId: number };
      const [row] = await solo.db.query("SELECT device_id FROM analysis_history WHERE analysis_id = ?", [analysisId]);
      expect(row.device_id).toBe("solo-pi");
    } finally {
      await solo.close();
    }
  });
});

describe("runAnalysis", () => {
  const deps = () => ({ db: t.db, config: testConfig({ DATABASE_URL: t.db.url, OLLAMA_BASE_URL: ollama.url }), logger: createLogger(testConfig()), clock: systemClock });

  test("a retry with the analysis id should reuse its row and replace its recommendations", async () => {
    const body = await seedDrive(11);
    const req = { deviceId: DEVICE, start: new Date(body.driveStartTime), end: new Date(body.driveEndTime) };
    const first = await runAnalysis(deps(), req, { trigger: "auto" });
    if (first.status !== "completed") throw new Error("expected a completed analysis");
    ollama.reply = () => JSON.stringify(THREE.slice(0, 2));
    try {
      const again = await runAnalysis(deps(), req, { trigger: "auto", analysisId: first.analysisId });
      expect(again).toMatchObject({ status: "completed", analysisId: first.analysisId });
    } finally {
      ollama.reply = threeRecommendations;
    }
    const id = Number(first.analysisId);
    expect((await recommendationRows(id)).map((r: any) => [r.source_id, r.recommendation])).toEqual(
      THREE.slice(0, 2).map((r) => [-(id * 10 + r.rank), r.recommendation]),
    );
    expect(await historyRow(id)).toMatchObject({ status: "completed", triggered_by: "auto" });
    const [count] = await t.db.query("SELECT COUNT(*) AS n FROM analysis_history WHERE drive_start = ?", [hourStart(11)]);
    expect(Number(count.n)).toBe(1);
  });

  test("an aborted signal should fail with kind aborted and mark the row failed", async () => {
    const body = await seedDrive(12);
    const req = { deviceId: DEVICE, start: new Date(body.driveStartTime), end: new Date(body.driveEndTime) };
    const err = await runAnalysis(deps(), req, { trigger: "auto", signal: AbortSignal.abort() }).catch((e) => e);
    expect(err).toBeInstanceOf(AnalysisFailed);
    expect(err.kind).toBe("aborted");
    expect(await historyRow(Number(err.analysisId))).toMatchObject({ status: "failed", error_message: "Analysis aborted" });
  });
});

describe("parseRecommendations", () => {
  test("should accept {recommendations: [...]} as well as a bare array", () => {
    expect(parseRecommendations(JSON.stringify({ recommendations: THREE }))).toEqual({ recommendations: THREE, dropped: 0 });
  });

  test("should refuse JSON that holds no list of recommendations", () => {
    expect(parseRecommendations('{"advice": "drive gently"}')).toBeUndefined();
    expect(parseRecommendations("not json")).toBeUndefined();
  });
});

describe("GET /api/v1/analyses", () => {
  const list = async (query: string, key = API_KEY) => {
    const res = await t.call(`/api/v1/analyses${query}`, { key });
    return { status: res.status, body: (await res.json()) as any };
  };

  test("should list a device's analyses newest first, with their findings and recommendations", async () => {
    const body = await seedDrive(13);
    const { body: made } = await analyze(body);
    const res = await list(`?deviceId=${DEVICE}&limit=2`);
    expect(res.status).toBe(200);
    expect(res.body.analyses).toHaveLength(2);
    expect(res.body.analyses[0]).toEqual({
      analysisId: made.analysisId,
      deviceId: DEVICE,
      profileId: null,
      driveStartTime: body.driveStartTime,
      driveEndTime: body.driveEndTime,
      status: "completed",
      triggeredBy: "api",
      model: "gemma2:2b",
      processingTimeMs: made.processingTimeMs,
      createdAt: expect.any(String),
      completedAt: expect.any(String),
      error: null,
      findings: made.findings,
      recommendations: THREE,
      history: made.history,
      dtcs: [],
    });
    expect(res.body.analyses[1].analysisId).toBeLessThan(made.analysisId);
    const all = (await list(`?deviceId=${DEVICE}&limit=100`)).body.analyses;
    expect(all.every((a: any) => a.deviceId === DEVICE)).toBe(true);
    expect(all.some((a: any) => a.status === "failed" && a.error?.startsWith("Ollama error"))).toBe(true);
    expect(all.some((a: any) => a.error?.startsWith("Ollama unavailable"))).toBe(false);
  });

  test("the admin key without deviceId should see every device; a device key only its own", async () => {
    const devices = (a: { analyses: { deviceId: string }[] }) => [...new Set(a.analyses.map((x) => x.deviceId))].sort();
    expect(devices((await list("?limit=100")).body)).toEqual([OTHER, DEVICE].sort());
    expect(devices((await list("", keys[OTHER]!)).body)).toEqual([OTHER]);
    expect(await list(`?deviceId=${DEVICE}`, keys[OTHER]!)).toEqual({ status: 403, body: { detail: `API key not valid for device ${DEVICE}` } });
  });

  test("a limit outside 1..100 should return 422", async () => {
    expect((await list("?limit=0")).status).toBe(422);
    expect((await list("?limit=101")).status).toBe(422);
  });

  test("GET /api/v1/analyses/{id} should return one analysis, and 404 for an unknown id and for another device's alike", async () => {
    const [latest] = (await list(`?deviceId=${DEVICE}&limit=1`)).body.analyses;
    expect(await list(`/${latest.analysisId}`)).toEqual({ status: 200, body: latest });
    expect(await list("/999999")).toEqual({ status: 404, body: { detail: "Analysis 999999 not found" } });
    expect(await list(`/${latest.analysisId}`, keys[OTHER]!)).toEqual({ status: 404, body: { detail: `Analysis ${latest.analysisId} not found` } });
  });
});

describe("the prompt's size", () => {
  test("however much a drive has, the prompt holds at most PROMPT_CAPS of each list and stays small", async () => {
    const device = "caps-pi";
    const start = hourStart(20);
    const rows: Reading[] = [];
    for (let i = 0; i < 10; i++) {
      const timestamp = new Date(start.getTime() + i * 60_000).toISOString();
      const reading = (parameter_name: string, value: number, unit = "u") => rows.push({ timestamp, parameter_name, value, unit });
      // 60 parameters where a Pi usually logs 13.
      for (let p = 0; p < 54; p++) reading(`EXTRA_PID_${String(p).padStart(2, "0")}`, p + i, "u");
      reading("RPM", 2500, "rpm");
      reading("COOLANT_TEMP", 95 + i * 2, "°C");
      reading("INTAKE_TEMP", 70, "°C");
      reading("SHORT_FUEL_TRIM_1", 4, "%");
      reading("LONG_FUEL_TRIM_1", 14, "%");
      reading("CONTROL_MODULE_VOLTAGE", 11.5, "V");
    }
    await seedReadings(t.db, device, rows);
    // 20 earlier real drives with calm summaries, and 20 trouble codes set during this one.
    for (let d = 0; d < 20; d++) {
      await t.db.query(
        `INSERT INTO drives (source_device, drive_id, drive_start, drive_end, closed_by, last_row_at, last_batch_id, summary_due, summarized_at, readings,
           ltft_mean, stft_mean, mean_running_v, max_coolant_c, intake_p95_c, idle_rpm, warmup_s, start_coolant_c, data_source)
         VALUES (?, ?, ?, ?, 'drive_end', NOW(), 'b', 0, NOW(), 500, ?, 0.5, 14.1, ?, 35, 850, ?, 20, 'real')`,
        [device, d + 1, sqlTimestamp(new Date(start.getTime() - (20 - d) * 86_400_000)), sqlTimestamp(new Date(start.getTime() - (20 - d) * 86_400_000 + 600_000)), 1 + (d % 3) * 0.4, 92 + (d % 2), 400 + d * 20],
      );
    }
    for (let c = 0; c < 20; c++) {
      await t.db.query(
        "INSERT INTO dtc_log (source_id, source_device, synced_at, sync_batch_id, dtc_code, status, first_seen_timestamp, last_seen_timestamp) VALUES (?, ?, NOW(), 'b', ?, 'stored', ?, ?)",
        [c + 1, device, `P03${String(c).padStart(2, "0")}`, sqlTimestamp(new Date(start.getTime() + 60_000)), sqlTimestamp(new Date(start.getTime() + 120_000))],
      );
    }
    const chats = ollama.chats.length;
    const res = await analyze({ deviceId: device, driveStartTime: start.toISOString(), driveEndTime: new Date(start.getTime() + 600_000).toISOString() });
    expect(res.status).toBe(200);
    const stored = res.body;
    expect(stored.dtcs).toHaveLength(20);
    expect(stored.findings.length).toBeGreaterThan(PROMPT_CAPS.findings);
    const prompt: string = (ollama.chats[chats] as any).messages[1].content;
    /** The lines of the section that starts with `title`, after its title line. */
    const section = (title: string) => prompt.split(title)[1]!.split("\n\n")[0]!.split("\n").slice(1);
    const statistics = section("Per-parameter statistics").slice(1);
    expect(statistics).toHaveLength(PROMPT_CAPS.parameters);
    const findingLines = section("Findings (rule-based");
    expect(findingLines).toHaveLength(PROMPT_CAPS.findings + 1);
    expect(findingLines.at(-1)).toBe(`- and ${stored.findings.length - PROMPT_CAPS.findings} more`);
    const dtcLines = section("Trouble codes:");
    expect(dtcLines).toHaveLength(PROMPT_CAPS.dtcs + 1);
    expect(dtcLines.at(-1)).toBe("- and 12 more");
    expect(prompt).toContain("Baseline: the device's last 20 real drives before this one.");
    // 6,700 characters when this was written: under 2,000 tokens, with the system prompt far inside gemma2:2b's 8,192.
    expect(prompt.length).toBeLessThan(8_000);
    if (process.env.SHOW_PROMPT) console.log(prompt);
  });
});
