/**
 * Hostile-input suite, /sync, the happy side: inputs an audit used to break
 * things that are legitimate and must be stored exactly as sent. Keys that
 * differ only by case, a trailing space or an accent are different keys;
 * device ids likewise; a drive counter past 2^31 fits.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { testApp, type TestApp } from "../helpers/app.ts";

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t.close());

const AT = "2026-04-19 08:00:00";
const profile = (id: string, name = id) => ({ id, name, created_at: AT, updated_at: AT });
const vehicle = (vin: string) => ({ vin, make: "Mitsubishi", created_at: AT, updated_at: AT });
const rt = (id: number) => ({ id, timestamp: AT, parameter_name: "RPM", value: 900 });

const sync = (deviceId: string, batchId: string, tables: Record<string, { rows: unknown[] }>, extra = {}) =>
  t.call("/api/v1/sync", { json: { deviceId, batchId, tables, ...extra } });
const keys = async (table: string, device: string) =>
  (await t.db.query(`SELECT source_id FROM \`${table}\` WHERE source_device = ? ORDER BY id`, [device])).map((r: { source_id: string }) => r.source_id);

describe("exact text keys", () => {
  test("profile ids that differ only by case or a trailing space are stored as separate rows", async () => {
    const res = await sync("pi-keys", "keys-1", { profiles: { rows: [profile("dupcase"), profile("DUPCASE"), profile("padkey"), profile("padkey ")] } });
    expect(res.status).toBe(200);
    expect((await res.json()).tablesProcessed.profiles).toEqual({ inserted: 4, updated: 0, errors: 0 });
    expect(await keys("profiles", "pi-keys")).toEqual(["dupcase", "DUPCASE", "padkey", "padkey "]);
  });

  test("vins that differ only by an accent are stored as separate rows, and resending one updates only it", async () => {
    expect((await (await sync("pi-vin", "vin-1", { vehicle_info: { rows: [vehicle("vine1"), vehicle("viné1")] } })).json()).tablesProcessed.vehicle_info).toEqual({
      inserted: 2,
      updated: 0,
      errors: 0,
    });
    const again = await sync("pi-vin", "vin-2", { vehicle_info: { rows: [{ ...vehicle("viné1"), make: "Dodge" }] } });
    expect((await again.json()).tablesProcessed.vehicle_info).toEqual({ inserted: 0, updated: 1, errors: 0 });
    const rows = await t.db.query("SELECT source_id, make FROM vehicle_info WHERE source_device = 'pi-vin' ORDER BY id");
    expect(rows).toEqual([
      { source_id: "vine1", make: "Mitsubishi" },
      { source_id: "viné1", make: "Dodge" },
    ]);
  });

  test("device ids that differ only by case are two devices: neither sees nor overwrites the other's rows", async () => {
    expect((await sync("pi-case", "case-lower", { realtime_data: { rows: [rt(1), rt(2)] } })).status).toBe(200);
    const upper = await sync("PI-CASE", "case-upper", { realtime_data: { rows: [rt(1)] } });
    expect((await upper.json()).tablesProcessed.realtime_data).toEqual({ inserted: 1, updated: 0, errors: 0 });
    expect(await keys("realtime_data", "pi-case")).toEqual([1, 2].map(BigInt));
    expect(await keys("realtime_data", "PI-CASE")).toEqual([1n]);
    const devices = await t.db.query("SELECT device_id FROM devices WHERE device_id IN ('pi-case', 'PI-CASE') ORDER BY device_id");
    expect(devices.map((d: { device_id: string }) => d.device_id)).toEqual(["PI-CASE", "pi-case"]);
    const state = await (await t.call("/api/v1/sync/state?deviceId=PI-CASE")).json();
    expect(state.tables.realtime_data).toEqual({ maxSourceId: 1 });
  });

  test("batch ids that differ only by case are two batches, each of its own device", async () => {
    expect((await sync("pi-batch-a", "Batch-X", { realtime_data: { rows: [rt(1)] } })).status).toBe(200);
    const other = await sync("pi-batch-b", "batch-x", { realtime_data: { rows: [rt(1)] } });
    expect(other.status).toBe(200);
    const history = await t.db.query("SELECT batch_id, device_id FROM sync_history WHERE batch_id IN ('Batch-X', 'batch-x') ORDER BY device_id");
    expect(history).toEqual([
      { batch_id: "Batch-X", device_id: "pi-batch-a" },
      { batch_id: "batch-x", device_id: "pi-batch-b" },
    ]);
  });
});

describe("values that fit", () => {
  test("a drive counter past 2^31 is stored, and never moves backwards", async () => {
    const big = 2 ** 40 + 3;
    expect((await sync("pi-drive", "drive-1", { realtime_data: { rows: [] } }, { driveCounter: { lastDriveId: big } })).status).toBe(200);
    expect((await sync("pi-drive", "drive-2", { realtime_data: { rows: [] } }, { driveCounter: { lastDriveId: 5 } })).status).toBe(200);
    const state = await (await t.call("/api/v1/sync/state?deviceId=pi-drive")).json();
    expect(state.lastDriveId).toBe(big);
  });
});
