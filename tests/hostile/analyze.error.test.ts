/**
 * Hostile-input suite, /analyze, the error side: impossible times are a 422
 * naming the field (never a 500, never a 200 "no data"), and nothing is stored.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { testApp, type TestApp } from "../helpers/app.ts";

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t.close());

const analyze = async (json: Record<string, unknown>) => {
  const res = await t.call("/api/v1/analyze", { json: { deviceId: "pi-a", driveStartTime: "2026-04-19T08:00:00Z", driveEndTime: "2026-04-19T09:00:00Z", ...json } });
  return { status: res.status, body: await res.json() };
};
const analyses = async () => Number((await t.db.query("SELECT COUNT(*) AS n FROM analysis_history"))[0].n);

describe("POST /api/v1/analyze with an impossible time", () => {
  const beyond = "9999-12-31T23:30:00-01:00";
  for (const field of ["driveStartTime", "driveEndTime"]) {
    test(`${field} past 9999 in UTC gives 422 naming ${field}`, async () => {
      const { status, body } = await analyze({ [field]: beyond, ...(field === "driveStartTime" ? { driveEndTime: "9999-12-31T23:59:00Z" } : {}) });
      const message = `${field}: "${beyond}" is outside the years 1000-9999 in UTC (-01:00 makes it the year 10000)`;
      expect({ status, body }).toEqual({ status: 422, body: { detail: `Validation failed: ${message}`, errors: [{ path: field, message }] } });
      expect(await analyses()).toBe(0);
    });
  }

  test("an offset beyond ±14:00 gives 422 naming the field", async () => {
    const { status, body } = await analyze({ driveStartTime: "2026-04-19T08:00:00+99:99" });
    expect(status).toBe(422);
    expect(body.errors).toEqual([{ path: "driveStartTime", message: 'driveStartTime: "2026-04-19T08:00:00+99:99" is at UTC offset +99:99, beyond ±14:00' }]);
  });
});
