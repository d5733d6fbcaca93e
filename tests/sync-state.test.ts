/** GET /api/v1/sync/state against real MariaDB, seeded through POST /api/v1/sync. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { newDeviceKey } from "../lib/http/auth.ts";
import { testApp, type TestApp } from "./helpers/app.ts";

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t.close());

const reading = (id: number) => ({ id, timestamp: "2026-04-19 08:00:00.5", parameter_name: "RPM", value: 900 + id, unit: "rpm", drive_id: 2 });
const session = (session_id: number) => ({ session_id, start_time: "2026-04-19 08:00:00", created_at: "2026-04-19 08:00:00" });
const alert = (id: number) => ({ id, timestamp: "2026-04-19 08:00:01", alert_type: "redline", parameter_name: "RPM", value: 7100, threshold: 7000 });

async function sync(deviceId: string, tables: Record<string, { rows: unknown[] }>, lastDriveId?: number) {
  const res = await t.call("/api/v1/sync", { json: { deviceId, batchId: `${deviceId}-${Object.keys(tables).map((k) => k.slice(0, 6)).join("-")}`, tables, driveCounter: lastDriveId === undefined ? undefined : { lastDriveId } } });
  expect(res.status).toBe(200);
}

const state = (query: string, key?: string | null) => t.call(`/api/v1/sync/state${query}`, { key });

async function issueKey(deviceId: string): Promise<string> {
  const { key, hash } = newDeviceKey(deviceId);
  await t.db.prisma.devices.upsert({ where: { device_id: deviceId }, create: { device_id: deviceId, api_key_hash: hash }, update: { api_key_hash: hash } });
  return key;
}

const nulls = {
  realtime_data: null, statistics: null, ai_recommendations: null, connection_log: null, alert_log: null, calibration_sessions: null,
  dtc_log: null, dtc_freeze_frame: null, drive_summary: null, battery_health_log: null,
};
const summary = (drive_id: number) => ({ drive_id, drive_start_timestamp: "2026-04-19T08:00:00Z" });
const tablesOf = (max: Partial<Record<keyof typeof nulls, number | null>>) =>
  Object.fromEntries(Object.entries({ ...nulls, ...max }).map(([table, maxSourceId]) => [table, { maxSourceId }]));

describe("GET /api/v1/sync/state", () => {
  test("after a sync it should return each integer-keyed table's highest Pi id for the device and its drive counter", async () => {
    await sync("state-a", { realtime_data: { rows: [reading(3), reading(12), reading(7)] }, calibration_sessions: { rows: [session(4)] }, alert_log: { rows: [alert(9)] }, drive_summary: { rows: [summary(5)] } }, 5);
    // Another device's higher ids are not this device's.
    await sync("state-b", { realtime_data: { rows: [reading(500)] }, statistics: { rows: [] } }, 40);
    const res = await state("?deviceId=state-a");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ deviceId: "state-a", tables: tablesOf({ realtime_data: 12, calibration_sessions: 4, alert_log: 9, drive_summary: 5 }), lastDriveId: 5 });
  });

  test("a device with nothing stored should get nulls", async () => {
    const res = await state("?deviceId=state-empty");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ deviceId: "state-empty", tables: tablesOf({}), lastDriveId: null });
  });

  test("a device key should read its own device's state", async () => {
    const key = await issueKey("state-own");
    await sync("state-own", { connection_log: { rows: [{ id: 31, timestamp: "2026-04-19 08:00:00", event_type: "drive_start", success: 1 }] } });
    const res = await state("?deviceId=state-own", key);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ deviceId: "state-own", tables: tablesOf({ connection_log: 31 }), lastDriveId: null });
  });

  test("no key should return 401", async () => {
    const res = await state("?deviceId=state-a", null);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ detail: "Missing API key" });
  });

  test("a wrong key should return 401", async () => {
    const res = await state("?deviceId=state-a", "not-a-key");
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ detail: "Invalid API key" });
  });

  test("a device key for another device should return 403", async () => {
    const key = await issueKey("state-other");
    const res = await state("?deviceId=state-a", key);
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ detail: "API key not valid for device state-a" });
  });

  const invalid: [string, string, string][] = [
    ["a missing deviceId", "", "deviceId: is required"],
    ["an invalid deviceId", "?deviceId=bad%20id", "deviceId: must be 1-64 characters of A-Z, a-z, 0-9, _ . -"],
    ["a deviceId starting with a dot", "?deviceId=..", "deviceId: must not start with '.'"],
  ];
  for (const [name, query, message] of invalid) {
    test(`${name} should return 422`, async () => {
      const res = await state(query);
      expect(res.status).toBe(422);
      expect(await res.json()).toEqual({ detail: `Validation failed: ${message}`, errors: [{ path: "deviceId", message }] });
    });
  }
});
