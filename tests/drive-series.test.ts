/**
 * The drive page's API without a browser (app.request, real MariaDB): a
 * drive synced through /sync and summarised by the worker's own step, then
 * GET /api/v1/drives/{deviceId}/{driveId}/series and /stats (answer shape,
 * defaults, clamping, each bad field named in the 422s, the 404s of a drive
 * that is not there or is another device's), the page's alert and trouble
 * code markers, its CSV, and re-analyse's checks.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createApp } from "../functions/index.ts";
import { tendDrives } from "../lib/drives/summary.ts";
import { createLogger } from "../lib/http/logger.ts";
import { API_KEY, issueKey, testApp, type TestApp } from "./helpers/app.ts";
import { event } from "./helpers/drive.ts";
import { form, ORIGIN, signIn } from "./helpers/session.ts";

/** Ten minutes at 1 Hz from 08:00:00, the Pi polling the PIDs 70 ms apart. */
const SECONDS = 600;
const START = Date.UTC(2026, 3, 19, 8);
const PIDS = [
  { name: "RPM", unit: "rpm", value: (s: number) => 800 + ((s * 37) % 3000) },
  { name: "SPEED", unit: "km/h", value: (s: number) => s % 120 },
  { name: "COOLANT_TEMP", unit: "°C", value: (s: number) => 60 + Math.floor(s / 12) },
];
const sql = (ms: number) => new Date(ms).toISOString().replace("T", " ").replace("Z", "");

function readings(seconds: number) {
  const rows = [];
  for (let s = 0; s < seconds; s++) {
    for (const [p, pid] of PIDS.entries()) {
      rows.push({ id: rows.length + 1, timestamp: sql(START + s * 1000 + p * 70), parameter_name: pid.name, value: pid.value(s), unit: pid.unit, profile_id: "daily", data_source: "real", drive_id: 1 });
    }
  }
  return rows;
}

let t: TestApp;
let keyA: string;
let keyB: string;
const drive = { start: new Date(START), end: new Date(START + SECONDS * 1000) };

async function sync(deviceId: string, key: string, tables: Record<string, { rows: unknown[] }>) {
  const res = await t.call("/api/v1/sync", { key, json: { deviceId, batchId: `${deviceId}-1`, tables } });
  expect(res.status).toBe(200);
}

beforeAll(async () => {
  t = await testApp({ DRIVE_SETTLE_SECONDS: "0" });
  keyA = await issueKey(t, "api-a");
  keyB = await issueKey(t, "api-b");
  const events = (end: number) => ({ rows: [event(1, "drive_start", sql(START)), event(2, "drive_end", sql(end))] });
  await sync("api-a", keyA, {
    realtime_data: { rows: readings(SECONDS) },
    connection_log: events(drive.end.getTime()),
    alert_log: { rows: [{ id: 1, timestamp: "2026-04-19 08:05:00", alert_type: "coolant_overtemp", parameter_name: "COOLANT_TEMP", value: 101, threshold: 100, profile_id: null, drive_id: 1 }] },
    dtc_log: {
      rows: [{ id: 1, dtc_code: "P0171", description: "System too lean (bank 1)", status: "stored", first_seen_timestamp: "2026-04-19 08:03:00", last_seen_timestamp: "2026-04-19 08:06:00", drive_id: 1, data_source: "real" }],
    },
  });
  // api-b has a drive 1 of its own, so a 404 for api-a's drive 1 is not for want of a drive of that number.
  await sync("api-b", keyB, { realtime_data: { rows: readings(30) }, connection_log: events(START + 30_000) });
  await tendDrives({ pool: t.db.pool, config: t.config, logger: createLogger(t.config) }, new Date(Date.now() + 1000));
  const summarised = await t.db.query("SELECT source_device FROM drives WHERE summarized_at IS NOT NULL ORDER BY source_device");
  expect(summarised.map((r: any) => r.source_device)).toEqual(["api-a", "api-b"]);
});
afterAll(() => t.close());

const get = async (path: string, key: string | null = API_KEY, headers: Record<string, string> = {}) => {
  const res = await t.call(path, { key, headers });
  return { status: res.status, body: (await res.json()) as any };
};

/** api-a's readings of `parameter` from `from` to `to` (epoch ms, inclusive), oldest first. */
async function dbReadings(parameter: string, from = drive.start.getTime(), to = drive.end.getTime()): Promise<{ t: number; v: number }[]> {
  const rows = await t.db.query(
    "SELECT TIMESTAMPDIFF(MICROSECOND, '1970-01-01', timestamp) / 1000 AS ms, value FROM realtime_data WHERE source_device = 'api-a' AND parameter_name = ? AND timestamp BETWEEN ? AND ? ORDER BY timestamp",
    [parameter, sql(from), `${sql(to)}999`],
  );
  return rows.map((r: any) => ({ t: Math.round(Number(r.ms)), v: Number(r.value) }));
}

/** numpy's default percentile (linear between closest ranks), worked out here. */
function percentile(values: number[], p: number) {
  const sorted = [...values].sort((a, b) => a - b);
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  return sorted[lo]! + (h - lo) * (sorted[Math.min(lo + 1, sorted.length - 1)]! - sorted[lo]!);
}

const series = (query = "") => get(`/api/v1/drives/api-a/1/series${query}`);
const stats = (query = "") => get(`/api/v1/drives/api-a/1/stats${query}`);

describe("GET /api/v1/drives/{deviceId}/{driveId}/series", () => {
  test("without a window or parameters it should answer every parameter the drive logged, over the drive's window", async () => {
    const { status, body } = await series();
    expect(status).toBe(200);
    expect(Object.keys(body).sort()).toEqual(["deviceId", "driveId", "from", "series", "to"]);
    expect({ deviceId: body.deviceId, driveId: body.driveId, from: body.from, to: body.to }).toEqual({ deviceId: "api-a", driveId: 1, from: drive.start.toISOString(), to: drive.end.toISOString() });
    expect(Object.keys(body.series).sort()).toEqual(PIDS.map((p) => p.name).sort());
    for (const pid of PIDS) {
      const s = body.series[pid.name];
      // 600 readings fit in the default 1,500 points: every raw reading, its own band.
      const raw = await dbReadings(pid.name);
      expect({ name: pid.name, unit: s.unit, t: s.t, v: s.v }).toEqual({ name: pid.name, unit: pid.unit, t: raw.map((r) => r.t), v: raw.map((r) => r.v) });
      expect([s.min, s.max]).toEqual([s.v, s.v]);
    }
  });

  test("points should bound each series, with bands that hold every reading's extremes", async () => {
    const { body } = await series("?parameters=RPM&points=50");
    const s = body.series.RPM;
    expect(Object.keys(body.series)).toEqual(["RPM"]);
    expect(s.t.length).toBeLessThanOrEqual(50);
    expect([s.v.length, s.min.length, s.max.length]).toEqual([s.t.length, s.t.length, s.t.length]);
    const raw = (await dbReadings("RPM")).map((r) => r.v);
    expect([Math.min(...s.min), Math.max(...s.max)]).toEqual([Math.min(...raw), Math.max(...raw)]);
    s.v.forEach((v: number, i: number) => expect(s.min[i] <= v && v <= s.max[i]).toBe(true));
  });

  test("a zoomed window should hold only its readings, at full resolution; one reaching past the drive is clamped to it", async () => {
    const from = START + 120_000;
    const to = START + 180_000;
    const zoomed = await series(`?parameters=SPEED&points=1500&from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}`);
    expect([zoomed.body.from, zoomed.body.to]).toEqual([new Date(from).toISOString(), new Date(to).toISOString()]);
    expect(zoomed.body.series.SPEED.t).toEqual((await dbReadings("SPEED", from, to)).map((r) => r.t));
    const wide = await series("?parameters=SPEED&from=2026-04-18T00:00:00Z&to=2026-04-20T00:00:00Z");
    expect([wide.status, wide.body.from, wide.body.to]).toEqual([200, drive.start.toISOString(), drive.end.toISOString()]);
    expect(wide.body.series.SPEED.t.length).toBe(SECONDS);
  });
});

describe("GET /api/v1/drives/{deviceId}/{driveId}/stats", () => {
  test("should be the statistics of the raw readings, of the whole drive and of a zoomed window", async () => {
    const whole = await stats();
    expect(whole.status).toBe(200);
    expect({ from: whole.body.from, to: whole.body.to, readings: whole.body.readings }).toEqual({ from: drive.start.toISOString(), to: drive.end.toISOString(), readings: SECONDS * PIDS.length });
    const from = START + 300_000;
    const to = START + 359_999;
    const zoomed = await stats(`?from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}`);
    for (const [answer, window] of [[whole, [drive.start.getTime(), drive.end.getTime()]], [zoomed, [from, to]]] as const) {
      for (const pid of PIDS) {
        const values = (await dbReadings(pid.name, window[0], window[1])).map((r) => r.v);
        const p = answer.body.parameters.find((x: any) => x.parameter === pid.name);
        expect({ parameter: p.parameter, unit: p.unit, count: p.count, min: p.min, max: p.max }).toEqual({ parameter: pid.name, unit: pid.unit, count: values.length, min: Math.min(...values), max: Math.max(...values) });
        expect(p.mean).toBeCloseTo(values.reduce((a, b) => a + b, 0) / values.length, 9);
        expect([p.p5, p.p95]).toEqual([percentile(values, 0.05), percentile(values, 0.95)]);
      }
    }
    expect(zoomed.body.parameters.find((x: any) => x.parameter === "RPM").count).toBe(60);
  });

  test("a window with no readings should answer none", async () => {
    const { status, body } = await stats(`?from=${drive.end.toISOString()}`);
    expect({ status, readings: body.readings, parameters: body.parameters }).toEqual({ status: 200, readings: 0, parameters: [] });
  });

  test("more readings than ANALYSIS_MAX_READINGS should be 413, saying to zoom in", async () => {
    // The same database, served with a lower limit.
    const strict = createApp({ config: { ...t.config, ANALYSIS_MAX_READINGS: 100 }, db: t.db, logger: createLogger(t.config) });
    const res = await strict.request("/api/v1/drives/api-a/1/stats", { headers: { "x-api-key": API_KEY } });
    expect({ status: res.status, detail: ((await res.json()) as any).detail }).toEqual({ status: 413, detail: expect.stringContaining("zoom in") });
  });
});

describe("the drive endpoints' bad requests", () => {
  const at = (ms: number) => new Date(ms).toISOString();
  const cases: [what: string, path: string, field: string][] = [
    ["too few points", "/series?points=5", "points"],
    ["points not a number", "/series?points=many", "points"],
    ["too many points", "/series?points=10001", "points"],
    ["from not a time", "/series?from=yesterday", "from"],
    ["to not a time", "/stats?to=2026-13-01T00:00:00Z", "to"],
    ["to before from", `/series?from=${at(START + 60_000)}&to=${at(START)}`, "to"],
    ["to equal to from", `/stats?from=${at(START)}&to=${at(START)}`, "to"],
    ["a window after the drive", "/series?from=2026-04-20T00:00:00Z", "from"],
    ["a window before the drive", "/stats?to=2026-04-18T00:00:00Z", "to"],
    ["an empty parameter list", "/series?parameters=,", "parameters"],
    ["too many parameters", `/series?parameters=${Array.from({ length: 33 }, (_, i) => `P${i}`).join(",")}`, "parameters"],
  ];
  for (const [what, path, field] of cases) {
    test(`${what} should be 422 naming ${field}`, async () => {
      const { status, body } = await get(`/api/v1/drives/api-a/1${path}`);
      expect({ status, fields: body.errors?.map((e: any) => e.path) }).toEqual({ status: 422, fields: [field] });
      expect(body.detail).toStartWith(`Validation failed: ${field}: `);
    });
  }

  test("a drive id or device id that is none should be 422 naming it", async () => {
    for (const [path, field] of [
      ["/api/v1/drives/api-a/one/series", "driveId"],
      ["/api/v1/drives/api-a/1.5/stats", "driveId"],
      ["/api/v1/drives/bad%20id!/1/series", "deviceId"],
    ] as const) {
      const { status, body } = await get(path);
      expect({ path, status, fields: body.errors?.map((e: any) => e.path) }).toEqual({ path, status: 422, fields: [field] });
    }
  });
});

describe("who may see a drive", () => {
  const paths = ["/api/v1/drives/api-a/1/series", "/api/v1/drives/api-a/1/stats"];

  test("a drive that does not exist should be 404", async () => {
    for (const path of ["/api/v1/drives/api-a/2/series", "/api/v1/drives/api-a/-7/stats", "/api/v1/drives/nobody/1/series"]) {
      const { status, body } = await get(path);
      expect({ path, status, body }).toEqual({ path, status: 404, body: { detail: expect.stringContaining("not found") } });
    }
  });

  test("without a key it should be 401; its own device's key and the admin key should see it", async () => {
    for (const path of paths) {
      expect({ path, status: (await get(path, null)).status }).toEqual({ path, status: 401 });
      expect({ path, status: (await get(path, keyA)).status }).toEqual({ path, status: 200 });
      expect({ path, status: (await get(path)).status }).toEqual({ path, status: 200 });
    }
  });

  test("another device's key and another device's session should get 404, as for a drive that does not exist", async () => {
    const session = await signIn(t.app, keyB);
    for (const path of paths) {
      const byKey = await get(path, keyB);
      expect({ path, status: byKey.status, body: byKey.body }).toEqual({ path, status: 404, body: { detail: "Drive 1 of device api-a not found" } });
      expect({ path, status: (await get(path, null, { cookie: session.cookie })).status }).toEqual({ path, status: 404 });
    }
    for (const path of ["/drives/api-a/1", "/drives/api-a/1.csv"]) {
      expect({ path, status: (await t.app.request(path, { headers: { cookie: session.cookie } })).status }).toEqual({ path, status: 404 });
    }
    // Its own drive 1 it sees.
    expect((await get("/api/v1/drives/api-b/1/series", null, { cookie: session.cookie })).status).toBe(200);
    expect((await t.app.request("/drives/api-b/1", { headers: { cookie: session.cookie } })).status).toBe(200);
  });
});

describe("the drive page", () => {
  test("should mark the drive's alert and trouble code on the time axis and list them", async () => {
    const { cookie } = await signIn(t.app, API_KEY);
    const html = await (await t.app.request("/drives/api-a/1", { headers: { cookie } })).text();
    const data = JSON.parse(/<script type="application\/json" id="drive-data">(.*?)<\/script>/s.exec(html)![1]!);
    expect({ start: data.start, end: data.end }).toEqual({ start: drive.start.getTime(), end: drive.end.getTime() });
    expect(data.markers).toEqual([
      { t: Date.UTC(2026, 3, 19, 8, 5), kind: "alert", label: "coolant_overtemp COOLANT_TEMP 101" },
      { t: Date.UTC(2026, 3, 19, 8, 3), kind: "dtc", label: "P0171" },
    ]);
    expect(html).toContain('data-kind="dtc" data-code="P0171"');
    expect(html).toContain('data-kind="alert"');
  });

  test("its CSV should be the drive's readings, as an attachment named after the drive", async () => {
    const { cookie } = await signIn(t.app, keyA);
    const res = await t.app.request("/drives/api-a/1.csv", { headers: { cookie } });
    expect(res.headers.get("content-disposition")).toBe('attachment; filename="api-a-drive-1.csv"');
    const lines = (await res.text()).trimEnd().split("\r\n");
    const [count] = await t.db.query("SELECT COUNT(*) AS n FROM realtime_data WHERE source_device = 'api-a'");
    expect(lines.length - 1).toBe(Number(count.n));
    expect(lines[1]!.split(",").slice(0, 4)).toEqual(["2026-04-19T08:00:00.000000Z", "RPM", "800", "rpm"]);
  });

  test("re-analyse should queue the drive again from the page's own form, and refuse a form without its token or from another origin", async () => {
    const { cookie, csrf } = await signIn(t.app, API_KEY);
    await t.db.query("UPDATE analysis_jobs SET state = 'completed' WHERE device_id = 'api-a'");
    const post = (fields: Record<string, string>, origin = ORIGIN) => {
      const { body, ...type } = form(fields);
      return t.app.request("/drives/api-a/1/analyze", { method: "POST", headers: { ...type, origin, cookie }, body });
    };
    const state = async () => (await t.db.query("SELECT state FROM analysis_jobs WHERE device_id = 'api-a'"))[0].state;
    expect((await post({ _csrf: "guessed" })).status).toBe(403);
    expect((await post({ _csrf: csrf }, "http://evil.example")).status).toBe(403);
    expect(await state()).toBe("completed");
    const res = await post({ _csrf: csrf });
    expect({ status: res.status, location: res.headers.get("location") }).toEqual({ status: 303, location: "/drives/api-a/1?analysis=queued" });
    expect(await state()).toBe("pending");
    // Asked again while it waits: still one job, still pending.
    expect((await post({ _csrf: csrf })).status).toBe(303);
    expect(await t.db.query("SELECT state FROM analysis_jobs WHERE device_id = 'api-a'")).toEqual([{ state: "pending" }]);
    const page = await (await t.app.request("/drives/api-a/1?analysis=queued", { headers: { cookie } })).text();
    expect(page).toContain('data-field="notice"');
  });

  test("re-analyse of another device's drive should be 404 for a device session", async () => {
    const { cookie, csrf } = await signIn(t.app, keyB);
    const { body, ...type } = form({ _csrf: csrf });
    const res = await t.app.request("/drives/api-a/1/analyze", { method: "POST", headers: { ...type, origin: ORIGIN, cookie }, body });
    expect(res.status).toBe(404);
  });
});
