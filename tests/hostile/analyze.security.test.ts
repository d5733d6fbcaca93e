/**
 * Hostile-input suite, /analyze under load: one device runs one analysis at
 * a time (the rest get 429 with Retry-After, never 500), and while it runs,
 * other devices are answered.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startFakeOllama, type FakeOllama } from "../helpers/fake-ollama.ts";
import { testApp, type TestApp } from "../helpers/app.ts";

let t: TestApp;
let ollama: FakeOllama;
beforeAll(async () => {
  // An Ollama that accepts the question and never answers: the analysis holds its place until its timeout.
  ollama = startFakeOllama({ hang: true });
  t = await testApp({ OLLAMA_BASE_URL: ollama.url, ANALYSIS_TIMEOUT_SECONDS: "1" });
  const rows = Array.from({ length: 600 }, (_, i) => ({ id: i + 1, timestamp: `2026-04-19 08:${String(Math.floor(i / 10)).padStart(2, "0")}:${String((i % 10) * 6).padStart(2, "0")}`, parameter_name: "RPM", value: 800 + i }));
  expect((await t.call("/api/v1/sync", { json: { deviceId: "pi-a", batchId: "drive", tables: { realtime_data: { rows } } } })).status).toBe(200);
});
afterAll(async () => {
  ollama.stop();
  await t.close();
});

const window = { driveStartTime: "2026-04-19T08:00:00Z", driveEndTime: "2026-04-19T09:00:00Z" };

describe("30 concurrent analyses from one device", () => {
  test("run one at a time: the rest get 429 with Retry-After, none 500, and another device is answered meanwhile", async () => {
    const analyses = Array.from({ length: 30 }, () => t.call("/api/v1/analyze", { json: { deviceId: "pi-a", ...window } }));
    // While pi-a's one analysis waits for Ollama:
    const state = await t.call("/api/v1/sync/state?deviceId=pi-b");
    expect(state.status).toBe(200);
    const other = await t.call("/api/v1/analyze", { json: { deviceId: "pi-b", ...window } });
    expect(other.status).toBe(200); // pi-b has no readings: "no data", without asking Ollama

    const answers = await Promise.all(analyses);
    const statuses = answers.map((r) => r.status).sort();
    expect(statuses).toEqual([...Array(29).fill(429), 504]);
    for (const r of answers.filter((a) => a.status === 429)) {
      expect(r.headers.get("retry-after")).toBe("5");
      expect((await r.json()).detail).toBe("Server busy: device pi-a already has 1 analysis in progress, as many as one device may; retry after 5 s");
    }
    // Only the analysis that ran was recorded.
    expect(Number((await t.db.query("SELECT COUNT(*) AS n FROM analysis_history WHERE device_id = 'pi-a'"))[0].n)).toBe(1);
  });
});
