/**
 * The agent's status report (POST/GET /api/v1/devices/{deviceId}/status,
 * real MariaDB): stored in place of the last one with its totals, bounded,
 * refused whole when malformed, and kept to the device's own key.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { REPORT_LIMITS } from "../client/status-report.ts";
import { MAX_ERROR, MAX_SAMPLE, MAX_TABLES } from "../lib/dashboard/device-status.ts";
import { API_KEY, issueKey, testApp, type TestApp } from "./helpers/app.ts";

let t: TestApp;
let keyA: string;

beforeAll(async () => {
  t = await testApp();
  keyA = await issueKey(t, "pi-a");
  await issueKey(t, "pi-b");
});
afterAll(() => t.close());

describe("POST /api/v1/devices/{deviceId}/status", () => {
  const report = {
    agentVersion: "0.1.0",
    tables: [
      { table: "realtime_data", pending: 1200, oldestUnsynced: "2026-11-22T09:00:00.000Z", quarantined: 1, lastError: null, lastSyncedAt: "2026-11-22T08:00:00.000Z" },
      { table: "dtc_log", pending: 3, oldestUnsynced: "2026-11-22T08:30:00+01:00", quarantined: 0, lastError: "server answered 422", lastSyncedAt: null },
      { table: "alert_log", pending: 0, oldestUnsynced: null, quarantined: 0, lastError: null, lastSyncedAt: null },
    ],
    quarantine: [{ table: "realtime_data", key: "41", error: "table realtime_data row 0 column timestamp: must be a datetime", at: "2026-11-22T08:00:00.000Z" }],
  };

  test("a report should be stored in place of the last one, with its totals, and read back", async () => {
    const post = await t.call("/api/v1/devices/pi-a/status", { key: keyA, json: { ...report, agentVersion: "0.0.9" } });
    expect(post.status).toBe(200);
    const res = await t.call("/api/v1/devices/pi-a/status", { key: keyA, json: report });
    const stored = await res.json();
    expect(stored).toMatchObject({ deviceId: "pi-a", agentVersion: "0.1.0", pendingRows: 1203, quarantinedRows: 1, oldestUnsynced: "2026-11-22T07:30:00.000Z" });
    const back = await t.call("/api/v1/devices/pi-a/status", { key: keyA });
    expect(await back.json()).toEqual(stored);
    expect(Number((await t.db.query("SELECT COUNT(*) AS n FROM device_status WHERE device_id = 'pi-a'"))[0].n)).toBe(1);
  });

  test("the agent's limits should be the server's", () => {
    expect(REPORT_LIMITS).toEqual({ tables: MAX_TABLES, sample: MAX_SAMPLE, text: MAX_ERROR, key: 128 });
  });

  test("an oversized or malformed report should be refused whole, naming what is wrong", async () => {
    const cases: [unknown, string][] = [
      [{ ...report, tables: Array.from({ length: MAX_TABLES + 1 }, () => report.tables[2]) }, "tables"],
      [{ ...report, quarantine: Array.from({ length: MAX_SAMPLE + 1 }, () => report.quarantine[0]) }, "quarantine"],
      [{ ...report, tables: [{ ...report.tables[0], lastError: "x".repeat(MAX_ERROR + 1) }] }, "tables[0].lastError"],
      [{ ...report, tables: [{ ...report.tables[0], table: "Robert'); DROP TABLE" }] }, "tables[0].table"],
      [{ ...report, tables: [{ ...report.tables[0], pending: -1 }] }, "tables[0].pending"],
      [{ ...report, tables: [{ ...report.tables[0], oldestUnsynced: "last tuesday" }] }, "tables[0].oldestUnsynced"],
      [{ tables: [], quarantine: [] }, "agentVersion"],
    ];
    for (const [body, path] of cases) {
      const res = await t.call("/api/v1/devices/pi-b/status", { json: body });
      const answer = await res.json();
      expect({ path, status: res.status, paths: answer.errors.map((e: { path: string }) => e.path) }).toEqual({ path, status: 422, paths: [path] });
    }
    expect((await t.call("/api/v1/devices/pi-b/status")).status).toBe(404);
    const huge = await t.app.request("/api/v1/devices/pi-b/status", { method: "POST", headers: { "x-api-key": API_KEY, "content-type": "application/json" }, body: "x".repeat(200_000) });
    expect(huge.status).toBe(413);
  });

  test("a device key should not report for another device", async () => {
    expect((await t.call("/api/v1/devices/pi-b/status", { key: keyA, json: report })).status).toBe(403);
  });
});

