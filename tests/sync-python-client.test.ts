/**
 * The EclipseTuner Pi already ships a Python sync client; its requests must
 * succeed unchanged. These tests replay requests byte for byte as it sends
 * them: `requests.post(url, json=payload, headers={"X-Api-Key": key})`, i.e.
 * Python's json.dumps (", "/": " separators, non-ASCII escaped, floats
 * always with a decimal point), one table per POST, 500 rows each, a batchId
 * of `<deviceId>-YYYY-MM-DDTHH:MM:SSZ` shared by the tables it sends in the
 * same second, no compression, and sometimes a driveCounter.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { API_KEY, testApp, type TestApp } from "./helpers/app.ts";

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t.close());

/** A Python float: json.dumps writes 900.0 where JavaScript would write 900. */
class PyFloat {
  constructor(readonly value: number) {}
}

function pyDumps(v: unknown): string {
  if (v === null) return "null";
  if (v instanceof PyFloat) return Number.isInteger(v.value) ? `${v.value}.0` : String(v.value);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (typeof v === "string") return JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  if (Array.isArray(v)) return `[${v.map(pyDumps).join(", ")}]`;
  return `{${Object.entries(v as object).map(([k, x]) => `${JSON.stringify(k)}: ${pyDumps(x)}`).join(", ")}}`;
}

const DEVICE = "eclipse-pi";

// Rows as the Python client reads them: SELECT * from the Pi's (older-schema) tables.
const realtime = Array.from({ length: 1200 }, (_, i) => ({
  id: i + 1,
  timestamp: i % 3 === 0 ? `2026-04-19 08:${String(Math.floor(i / 60) % 60).padStart(2, "0")}:${String(i % 60).padStart(2, "0")}.697867` : `2026-04-19 08:${String(Math.floor(i / 60) % 60).padStart(2, "0")}:${String(i % 60).padStart(2, "0")}`,
  parameter_name: ["RPM", "COOLANT_TEMP", "SPEED"][i % 3]!,
  value: new PyFloat(i % 3 === 1 ? 82 : 900 + i / 4),
  unit: ["rpm", "°C", "km/h"][i % 3]!,
  profile_id: "daily",
}));
const connection = [
  { id: 1, timestamp: "2026-04-19T08:00:00Z", event_type: "drive_start", mac_address: null, success: 1, error_message: null, retry_count: 0 },
  { id: 2, timestamp: "2026-04-19 08:06:00", event_type: "connect_attempt", mac_address: "/dev/rfcomm0", success: 0, error_message: "Timeout", retry_count: 2 },
  { id: 3, timestamp: "2026-04-19 08:39:00", event_type: "drive_end", mac_address: "profile:daily", success: 1, error_message: null, retry_count: 0 },
];
const statistics = [
  { id: 1, parameter_name: "RPM", analysis_date: "2026-04-19 08:39:00", profile_id: "daily", max_value: new PyFloat(1100), min_value: new PyFloat(700), avg_value: new PyFloat(900), mode_value: null, std_1: new PyFloat(141.4211), std_2: new PyFloat(282.8422), outlier_min: new PyFloat(617.1578), outlier_max: new PyFloat(1182.8422), sample_count: 480, created_at: "2026-04-19 08:00:00" },
];

/** The client's POSTs: one table each, in chunks of 500, all under the batchId of the second it started. */
function pythonRequests(batchId: string): string[] {
  const bodies: string[] = [];
  const tables: [string, Record<string, unknown>[]][] = [["realtime_data", realtime], ["statistics", statistics], ["connection_log", connection]];
  for (const [name, rows] of tables) {
    for (let i = 0; i < rows.length; i += 500) {
      const chunk = rows.slice(i, i + 500);
      const payload: Record<string, unknown> = { deviceId: DEVICE, batchId, tables: { [name]: { lastSyncedId: i, rows: chunk } } };
      if (name === "connection_log") payload.driveCounter = { lastDriveId: 3 };
      bodies.push(pyDumps(payload));
    }
  }
  return bodies;
}

function post(body: string) {
  return t.app.request("/api/v1/sync", { method: "POST", headers: { "Content-Type": "application/json", "X-Api-Key": API_KEY }, body });
}

test("the serializer reproduces Python's wire format", () => {
  expect(pyDumps({ a: [new PyFloat(900), "°C", null, 2] })).toBe('{"a": [900.0, "\\u00b0C", null, 2]}');
});

test("the Python client's requests succeed unchanged, and every row lands once", async () => {
  const bodies = pythonRequests("eclipse-pi-2026-04-19T09:00:00Z");
  expect(bodies).toHaveLength(5); // realtime 500+500+200, statistics, connection_log
  for (const body of bodies) {
    const res = await post(body);
    expect(res.status).toBe(200);
    expect((await res.json()).status).toBe("ok");
  }
  const count = async (table: string) => Number((await t.db.query(`SELECT COUNT(*) AS n FROM ${table} WHERE source_device = ?`, [DEVICE]))[0].n);
  expect(await count("realtime_data")).toBe(1200);
  expect(await count("statistics")).toBe(1);
  expect(await count("connection_log")).toBe(3);

  const [degrees] = await t.db.query("SELECT unit, value FROM realtime_data WHERE source_device = ? AND source_id = 2", [DEVICE]);
  expect(degrees).toEqual({ unit: "°C", value: 82 });
  const [device] = await t.db.query("SELECT last_drive_id FROM devices WHERE device_id = ?", [DEVICE]);
  expect(device.last_drive_id).toBe(3n);

  const [history] = await t.db.query("SELECT status, rows_inserted, rows_updated, tables_synced FROM sync_history WHERE batch_id = ?", ["eclipse-pi-2026-04-19T09:00:00Z"]);
  expect(history).toMatchObject({ status: "success", rows_inserted: 1204, rows_updated: 0 });
});

test("a Python client that resends after a lost answer duplicates nothing", async () => {
  const bodies = pythonRequests("eclipse-pi-2026-04-19T09:05:00Z");
  for (const body of bodies) expect((await post(body)).status).toBe(200);
  const [{ n }] = await t.db.query("SELECT COUNT(*) AS n FROM realtime_data WHERE source_device = ?", [DEVICE]);
  expect(Number(n)).toBe(1200);
  const [history] = await t.db.query("SELECT rows_inserted, rows_updated FROM sync_history WHERE batch_id = ?", ["eclipse-pi-2026-04-19T09:05:00Z"]);
  expect(history).toEqual({ rows_inserted: 0, rows_updated: 1204 });
});
