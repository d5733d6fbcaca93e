import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { testApp, type TestApp } from "./helpers/app.ts";

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t.close());

let seq = 0;
/** A unique device per test, so tests don't see each other's rows. */
const device = () => `pi-${++seq}`;

const rt = (id: number, over: Record<string, unknown> = {}) => ({
  id,
  timestamp: `2026-04-19 08:00:${String(id % 60).padStart(2, "0")}.123456`,
  parameter_name: "RPM",
  value: 800 + id + 0.25,
  unit: "rpm",
  profile_id: "daily",
  data_source: "real",
  drive_id: 1,
  ...over,
});

function sync(deviceId: string, batchId: string, tables: Record<string, { rows: unknown[]; lastSyncedId?: number }>, extra = {}) {
  return t.call("/api/v1/sync", { json: { deviceId, batchId, tables, ...extra } });
}

/** Rows as stored, with datetimes as MySQL prints them (no Date rounding). */
function stored(table: string, deviceId: string, columns: string) {
  return t.db.pool.query({ sql: `SELECT ${columns} FROM \`${table}\` WHERE source_device = ? ORDER BY source_id`, dateStrings: true }, [deviceId]);
}

describe("POST /api/v1/sync", () => {
  test("5 rows are inserted and read back value for value", async () => {
    const d = device();
    const rows = [1, 2, 3, 4, 5].map((id) => rt(id));
    rows[2] = rt(3, { unit: null, profile_id: null, data_source: null, drive_id: null });
    const res = await sync(d, "b-5", { realtime_data: { lastSyncedId: 0, rows } });
    expect(res.status).toBe(200);
    const receipt = await res.json();
    expect(receipt).toMatchObject({
      status: "ok",
      batchId: "b-5",
      tablesProcessed: { realtime_data: { inserted: 5, updated: 0, errors: 0 } },
      driveDataReceived: false,
      autoAnalysisTriggered: false,
    });
    expect(new Date(receipt.syncedAt).toISOString()).toBe(receipt.syncedAt);

    const back = await stored("realtime_data", d, "source_id, timestamp, parameter_name, value, unit, profile_id, data_source, drive_id, sync_batch_id");
    expect(back.map((r: any) => ({ ...r, source_id: Number(r.source_id) }))).toEqual(
      rows.map((r) => ({
        source_id: r.id,
        timestamp: String(r.timestamp),
        parameter_name: r.parameter_name,
        value: r.value,
        unit: r.unit,
        profile_id: r.profile_id,
        data_source: r.data_source,
        drive_id: r.drive_id,
        sync_batch_id: "b-5",
      })),
    );
  });

  test("server-set provenance: synced_at is the receipt's time and source_device the sender", async () => {
    const d = device();
    const receipt = await (await sync(d, "b-prov", { realtime_data: { rows: [rt(1)] } })).json();
    const [row] = await t.db.query("SELECT source_device, UNIX_TIMESTAMP(synced_at) AS at FROM realtime_data WHERE source_device = ?", [d]);
    expect(row.source_device).toBe(d);
    expect(new Date(Number(row.at) * 1000).toISOString()).toBe(receipt.syncedAt);
  });

  test("an empty table gives a 0/0 receipt", async () => {
    const res = await sync(device(), "b-empty", { realtime_data: { lastSyncedId: 0, rows: [] }, alert_log: { rows: [] } });
    expect(res.status).toBe(200);
    expect((await res.json()).tablesProcessed).toEqual({
      realtime_data: { inserted: 0, updated: 0, errors: 0 },
      alert_log: { inserted: 0, updated: 0, errors: 0 },
    });
  });

  test("a replay updates in place: the second call reports updated = n, inserted = 0, and row counts do not change", async () => {
    const d = device();
    const rows = Array.from({ length: 50 }, (_, i) => rt(i + 1));
    const first = await (await sync(d, "b-replay", { realtime_data: { rows } })).json();
    expect(first.tablesProcessed.realtime_data).toEqual({ inserted: 50, updated: 0, errors: 0 });
    const again = await (await sync(d, "b-replay", { realtime_data: { rows } })).json();
    expect(again.tablesProcessed.realtime_data).toEqual({ inserted: 0, updated: 50, errors: 0 });
    // Overlap: a later batch resends 41..50 and adds 51..60.
    const overlap = Array.from({ length: 20 }, (_, i) => rt(41 + i));
    const third = await (await sync(d, "b-overlap", { realtime_data: { rows: overlap } })).json();
    expect(third.tablesProcessed.realtime_data).toEqual({ inserted: 10, updated: 10, errors: 0 });
    const [{ n }] = await t.db.query("SELECT COUNT(*) AS n FROM realtime_data WHERE source_device = ?", [d]);
    expect(Number(n)).toBe(60);
  });

  test("counts stay exact when a batch's ids are not contiguous", async () => {
    const d = device();
    await sync(d, "b-gaps-1", { realtime_data: { rows: [rt(1), rt(5), rt(9)] } });
    const res = await (await sync(d, "b-gaps-2", { realtime_data: { rows: [rt(5), rt(6), rt(9), rt(100)] } })).json();
    expect(res.tablesProcessed.realtime_data).toEqual({ inserted: 2, updated: 2, errors: 0 });
  });

  test("counts stay exact when a batch spans several write slices and half of it already exists", async () => {
    const d = device();
    const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => rt(from + i));
    await sync(d, "b-big-1", { realtime_data: { rows: range(1, 3000) } });
    const res = await (await sync(d, "b-big-2", { realtime_data: { rows: range(1501, 4500) } })).json();
    expect(res.tablesProcessed.realtime_data).toEqual({ inserted: 1500, updated: 1500, errors: 0 });
    const [{ n }] = await t.db.query("SELECT COUNT(*) AS n FROM realtime_data WHERE source_device = ?", [d]);
    expect(Number(n)).toBe(4500);
  });

  test("two devices with the same source ids never collide", async () => {
    const a = device();
    const b = device();
    await sync(a, "b-a", { realtime_data: { rows: [rt(1, { value: 1 })] } });
    const res = await (await sync(b, "b-b", { realtime_data: { rows: [rt(1, { value: 2 })] } })).json();
    expect(res.tablesProcessed.realtime_data).toEqual({ inserted: 1, updated: 0, errors: 0 });
    expect((await stored("realtime_data", a, "value"))[0].value).toBe(1);
    expect((await stored("realtime_data", b, "value"))[0].value).toBe(2);
  });

  test("driveDataReceived is true when connection_log contains drive_end, false otherwise", async () => {
    const d = device();
    const event = (id: number, event_type: string) => ({ id, timestamp: "2026-04-19 08:00:00", event_type, mac_address: null, success: 1, error_message: null, retry_count: 0 });
    const start = await (await sync(d, "b-start", { connection_log: { rows: [event(1, "drive_start")] } })).json();
    expect(start.driveDataReceived).toBe(false);
    const end = await (await sync(d, "b-end", { connection_log: { rows: [event(2, "drive_end")] } })).json();
    expect(end.driveDataReceived).toBe(true);
  });

  test("profiles and vehicle_info are upserted by their text keys", async () => {
    const d = device();
    const profile = (name: string) => ({ id: "daily", name, description: null, polling_interval_ms: 1000, created_at: "2026-04-19 08:00:00", updated_at: "2026-04-19 09:00:00" });
    const vehicle = (engine: string) => ({
      vin: "4A3AK54F8WE122916", make: "MITSUBISHI", model: "Eclipse", year: 1998, engine, fuel_type: "Gasoline", transmission: "Manual",
      drive_type: "FWD", body_class: "Coupe", plant_city: "Normal", plant_country: "USA", raw_api_response: "{}",
      created_at: "2026-04-19 08:00:00", updated_at: "2026-04-19 08:00:00",
    });
    const first = await (await sync(d, "b-text-1", { profiles: { rows: [profile("Daily"), { ...profile("Track"), id: "performance" }] }, vehicle_info: { rows: [vehicle("4G63")] } })).json();
    expect(first.tablesProcessed).toEqual({ profiles: { inserted: 2, updated: 0, errors: 0 }, vehicle_info: { inserted: 1, updated: 0, errors: 0 } });
    const second = await (await sync(d, "b-text-2", { profiles: { rows: [profile("Daily driver")] }, vehicle_info: { rows: [vehicle("4G63T")] } })).json();
    expect(second.tablesProcessed).toEqual({ profiles: { inserted: 0, updated: 1, errors: 0 }, vehicle_info: { inserted: 0, updated: 1, errors: 0 } });
    expect(await stored("profiles", d, "source_id, name")).toEqual([
      { source_id: "daily", name: "Daily driver" },
      { source_id: "performance", name: "Track" },
    ]);
    expect(await stored("vehicle_info", d, "source_id, engine")).toEqual([{ source_id: "4A3AK54F8WE122916", engine: "4G63T" }]);
  });

  test("calibration_sessions are keyed by session_id, and a later end_time updates the row", async () => {
    const d = device();
    const session = (end_time: string | null) => ({ session_id: 7, start_time: "2026-04-19 08:00:00", end_time, notes: "idle check", profile_id: "daily", created_at: "2026-04-19 08:00:00" });
    await sync(d, "b-cal-1", { calibration_sessions: { rows: [session(null)] } });
    const res = await (await sync(d, "b-cal-2", { calibration_sessions: { rows: [session("2026-04-19 08:30:00")] } })).json();
    expect(res.tablesProcessed.calibration_sessions).toEqual({ inserted: 0, updated: 1, errors: 0 });
    expect(await stored("calibration_sessions", d, "source_id, end_time")).toEqual([{ source_id: 7n, end_time: "2026-04-19 08:30:00.000000" }]);
  });

  test("timestamps keep their microseconds, and all three Pi formats are stored as UTC", async () => {
    const d = device();
    const rows = [
      rt(1, { timestamp: "2026-04-19 07:18:50.697867" }),
      rt(2, { timestamp: "2026-04-19 12:17:09" }),
      rt(3, { timestamp: "2026-04-19T13:48:05Z" }),
      rt(4, { timestamp: "2026-04-19T13:48:05.5+02:00" }),
    ];
    expect((await sync(d, "b-ts", { realtime_data: { rows } })).status).toBe(200);
    expect((await stored("realtime_data", d, "timestamp")).map((r: any) => r.timestamp)).toEqual([
      "2026-04-19 07:18:50.697867",
      "2026-04-19 12:17:09.000000",
      "2026-04-19 13:48:05.000000",
      "2026-04-19 11:48:05.500000",
    ]);
  });

  test("numbers are stored exactly as sent, whatever mix of integral, fractional and null values a batch has", async () => {
    const d = device();
    const values = [0, 912.5, 0.1, 1e-7, 123456789.12345679, -273.15, 1.7976931348623157e308, 5e-324, 3, 2 ** 53 - 1];
    const rows = values.map((value, i) => rt(i + 1, { value, drive_id: i % 2 ? null : 2_147_483_647, unit: i % 3 ? "°C" : null }));
    expect((await sync(d, "b-num", { realtime_data: { rows } })).status).toBe(200);
    const back = await stored("realtime_data", d, "value, drive_id, unit");
    expect(back.map((r: any) => r.value)).toEqual(values);
    expect(back.map((r: any) => r.drive_id)).toEqual(rows.map((r) => r.drive_id));
    expect(back.map((r: any) => r.unit)).toEqual(rows.map((r) => r.unit));
  });

  test("every mirrored table accepts a full row", async () => {
    const d = device();
    const ts = "2026-04-19 08:00:00";
    const res = await sync(d, "b-all", {
      statistics: { rows: [{ id: 1, parameter_name: "RPM", analysis_date: ts, profile_id: "daily", max_value: 6400.5, min_value: 700, avg_value: 2100, mode_value: null, std_1: 1200, std_2: 2400, outlier_min: -300, outlier_max: 4500, sample_count: 533, created_at: ts, data_source: "real", drive_id: 2 }] },
      ai_recommendations: { rows: [{ id: 1, timestamp: ts, recommendation: "Check the O2 sensor", priority_rank: 2, is_duplicate_of: null, profile_id: "daily", created_at: ts }] },
      alert_log: { rows: [{ id: 1, timestamp: ts, alert_type: "RPM_HIGH", parameter_name: "RPM", value: 6600, threshold: 6500, profile_id: "daily", drive_id: 2 }] },
      connection_log: { rows: [{ id: 1, timestamp: ts, event_type: "connect_attempt", mac_address: "/dev/rfcomm0", success: 0, error_message: "timeout", retry_count: 2, data_source: "real", drive_id: null }] },
    });
    expect(res.status).toBe(200);
    const { tablesProcessed } = await res.json();
    for (const table of ["statistics", "ai_recommendations", "alert_log", "connection_log"]) {
      expect(tablesProcessed[table]).toEqual({ inserted: 1, updated: 0, errors: 0 });
    }
    expect(await stored("connection_log", d, "mac_address, success, error_message, retry_count")).toEqual([
      { mac_address: "/dev/rfcomm0", success: 0, error_message: "timeout", retry_count: 2 },
    ]);
  });

  test("driveCounter is stored on the device row and never goes backwards", async () => {
    const d = device();
    const lastDrive = async () => Number((await t.db.query("SELECT last_drive_id FROM devices WHERE device_id = ?", [d]))[0].last_drive_id);
    await sync(d, "b-dc-1", { realtime_data: { rows: [] } }, { driveCounter: { lastDriveId: 7 } });
    expect(await lastDrive()).toBe(7);
    await sync(d, "b-dc-2", { realtime_data: { rows: [] } }, { driveCounter: { lastDriveId: 5 } });
    expect(await lastDrive()).toBe(7);
    await sync(d, "b-dc-3", { realtime_data: { rows: [] } });
    expect(await lastDrive()).toBe(7);
    await sync(d, "b-dc-4", { realtime_data: { rows: [] } }, { driveCounter: { lastDriveId: 9 } });
    expect(await lastDrive()).toBe(9);
  });

  test("a sync updates the device's last_seen", async () => {
    const d = device();
    const receipt = await (await sync(d, "b-seen", { realtime_data: { rows: [rt(1)] } })).json();
    const [row] = await t.db.query("SELECT UNIX_TIMESTAMP(last_seen) AS at FROM devices WHERE device_id = ?", [d]);
    expect(new Date(Number(row.at) * 1000).toISOString()).toBe(receipt.syncedAt);
  });
});

describe("sync_history", () => {
  const history = async (batchId: string) => {
    const [row] = await t.db.pool.query({ sql: "SELECT * FROM sync_history WHERE batch_id = ?", dateStrings: true }, [batchId]);
    // MariaDB's JSON is LONGTEXT (a string); MySQL 8's comes back parsed.
    return row && { ...row, tables_synced: typeof row.tables_synced === "string" ? JSON.parse(row.tables_synced) : row.tables_synced };
  };

  test("a successful batch is recorded with its tables, counts and times from one clock", async () => {
    const d = device();
    await sync(d, "h-ok", { realtime_data: { rows: [rt(1), rt(2)] }, alert_log: { rows: [] } });
    const row = await history("h-ok");
    expect(row).toMatchObject({ batch_id: "h-ok", device_id: d, rows_inserted: 2, rows_updated: 0, status: "success" });
    expect(row.tables_synced).toEqual({
      realtime_data: { inserted: 2, updated: 0, status: "success", attempts: 1 },
      alert_log: { inserted: 0, updated: 0, status: "success", attempts: 1 },
    });
    expect(row.completed_at >= row.started_at).toBe(true);
  });

  test("tables sent one per POST under one batchId (the Python client) merge into one success row", async () => {
    const d = device();
    await sync(d, "h-merge", { realtime_data: { rows: [rt(1), rt(2)] } });
    await sync(d, "h-merge", { statistics: { rows: [] } });
    await sync(d, "h-merge", { realtime_data: { rows: [rt(2), rt(3)] } });
    const row = await history("h-merge");
    expect(row).toMatchObject({ rows_inserted: 3, rows_updated: 1, status: "success" });
    expect(row.tables_synced.realtime_data).toEqual({ inserted: 3, updated: 1, status: "success", attempts: 2 });
  });

  test("a batchId already used by another device is refused with 409 and changes nothing", async () => {
    const a = device();
    await sync(a, "h-owned", { realtime_data: { rows: [rt(1)] } });
    const b = device();
    const res = await sync(b, "h-owned", { realtime_data: { rows: [rt(1)] } });
    expect(res.status).toBe(409);
    expect(await res.json()).toEqual({ detail: "batchId h-owned was already used by another device", batchId: "h-owned" });
    expect(await stored("realtime_data", b, "source_id")).toEqual([]);
  });

  test("atomicity: a valid table plus a table that fails in the database persists nothing, answers 500 and records failed", async () => {
    const d = device();
    // A constraint only the database knows about makes alert_log fail after realtime_data was written.
    await t.db.query("ALTER TABLE alert_log ADD CONSTRAINT test_threshold_cap CHECK (threshold < 1000000)");
    try {
      const res = await sync(d, "h-fail", {
        realtime_data: { rows: [rt(1), rt(2), rt(3)] },
        alert_log: { rows: [{ id: 1, timestamp: "2026-04-19 08:00:00", alert_type: "X", parameter_name: "RPM", value: 1, threshold: 5e6, profile_id: null, drive_id: null }] },
      });
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({ detail: "Sync failed", batchId: "h-fail" });
      expect(await stored("realtime_data", d, "source_id")).toEqual([]);
      expect(await stored("alert_log", d, "source_id")).toEqual([]);
      const row = await history("h-fail");
      expect(row).toMatchObject({ device_id: d, status: "failed", rows_inserted: 0, rows_updated: 0 });
      expect(row.tables_synced).toEqual({
        realtime_data: { inserted: 0, updated: 0, status: "failed", attempts: 1 },
        alert_log: { inserted: 0, updated: 0, status: "failed", attempts: 1 },
      });
    } finally {
      await t.db.query("ALTER TABLE alert_log DROP CONSTRAINT test_threshold_cap");
    }
    // The same batch retried after the cause is gone succeeds and the history says so.
    const retry = await sync(d, "h-fail", { realtime_data: { rows: [rt(1), rt(2), rt(3)] } });
    expect(retry.status).toBe(200);
    expect(await history("h-fail")).toMatchObject({ status: "partial", rows_inserted: 3 });
    expect((await history("h-fail")).tables_synced.realtime_data).toEqual({ inserted: 3, updated: 0, status: "success", attempts: 2 });
  });
});
