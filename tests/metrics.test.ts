/**
 * GET /metrics: who may read it, the Prometheus text format, and that the
 * counters move with real syncs and backups, the histogram labels routes by
 * pattern, and the database gauges read analysis_jobs and sync_history at
 * scrape time (with a pinned clock), or are left out when the database is down.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import { createApp } from "../functions/index.ts";
import { newDeviceKey } from "../lib/http/auth.ts";
import { createDb } from "../lib/db/pools.ts";
import { createLogger } from "../lib/http/logger.ts";
import { testApp, testConfig, type TestApp } from "./helpers/app.ts";

const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
const clock = { now: () => new Date("2026-11-22T10:00:00.000Z") };
let t: TestApp;
let backupDir: string;

beforeAll(async () => {
  backupDir = mkdtempSync(join(tmpdir(), "obd2-metrics-test-"));
  t = await testApp({ BACKUP_DIR: backupDir }, { clock });
  t.app.get("/api/v1/test-item/:id", (c) => c.json({ id: c.req.param("id") }));
});

afterAll(async () => {
  await t.close();
  rmSync(backupDir, { recursive: true, force: true });
});

type Sample = { name: string; labels: Record<string, string>; value: number };

function parse(text: string): Sample[] {
  return text
    .split("\n")
    .filter((line) => line && !line.startsWith("#"))
    .map((line) => {
      const [, name, labels = "", value] = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line)!;
      return { name: name!, labels: Object.fromEntries([...labels.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]])), value: Number(value) };
    });
}

/** The samples of one scrape with the admin key. */
async function scrape(): Promise<Sample[]> {
  const res = await t.call("/metrics");
  expect(res.status).toBe(200);
  return parse(await res.text());
}

/** The value of the sample named `name` with exactly these labels; undefined when there is none. */
function value(samples: Sample[], name: string, labels: Record<string, string>): number | undefined {
  const key = JSON.stringify(Object.entries(labels).sort());
  return samples.find((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === key)?.value;
}

const rt = (id: number, over: Record<string, unknown> = {}) => ({
  id,
  timestamp: `2026-11-22 08:00:${String(id % 60).padStart(2, "0")}.000000`,
  parameter_name: "RPM",
  value: 800 + id,
  unit: "rpm",
  profile_id: "daily",
  data_source: "real",
  drive_id: 1,
  ...over,
});

const connect = (id: number) => ({
  id,
  timestamp: "2026-11-22 07:59:00",
  event_type: "connect_attempt",
  mac_address: "/dev/rfcomm0",
  success: 1,
  error_message: null,
  retry_count: 0,
  data_source: "real",
  drive_id: null,
});

const sync = (deviceId: string, batchId: string, tables: Record<string, { rows: unknown[] }>) =>
  t.call("/api/v1/sync", { json: { deviceId, batchId, tables } });

describe("access", () => {
  test("no key should return 401", async () => {
    const res = await t.call("/metrics", { key: null });
    expect({ status: res.status, body: await res.json() }).toEqual({ status: 401, body: { detail: "Missing API key" } });
  });

  test("a wrong key should return 401", async () => {
    const res = await t.call("/metrics", { key: "not-the-admin-key-at-all" });
    expect({ status: res.status, body: await res.json() }).toEqual({ status: 401, body: { detail: "Invalid API key" } });
  });

  test("a device key should return 403", async () => {
    const { key, hash } = newDeviceKey("pi-metrics-key");
    await t.db.prisma.devices.create({ data: { device_id: "pi-metrics-key", api_key_hash: hash } });
    const res = await t.call("/metrics", { key });
    expect({ status: res.status, body: await res.json() }).toEqual({ status: 403, body: { detail: "Metrics need the admin API key" } });
  });

  test("the admin key should return the Prometheus text format, with the process metrics", async () => {
    const res = await t.call("/metrics");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe(CONTENT_TYPE);
    const text = await res.text();
    expect(text).toContain("# TYPE obd2_sync_batches_total counter");
    expect(text).toContain("# TYPE obd2_http_request_duration_seconds histogram");
    expect(text).toContain("# TYPE obd2_analysis_jobs gauge");
    expect(parse(text).map((s) => s.name)).toContain("process_cpu_user_seconds_total");
  });

  test("with METRICS_PUBLIC=true no key should return 200", async () => {
    const config = testConfig({ DATABASE_URL: t.db.url, METRICS_PUBLIC: "true" });
    const app = createApp({ config, db: t.db, logger: createLogger(config) });
    const res = await app.request("/metrics");
    expect({ status: res.status, type: res.headers.get("content-type") }).toEqual({ status: 200, type: CONTENT_TYPE });
  });
});

describe("counters", () => {
  test("syncs should count batches by result and rows by device, table and op", async () => {
    const d = "pi-metrics-sync";
    const tables = { realtime_data: { rows: [rt(1), rt(2), rt(3)] }, connection_log: { rows: [connect(1)] } };
    expect((await sync(d, "m-1", tables)).status).toBe(200);
    expect((await sync(d, "m-1", tables)).status).toBe(200); // a replay updates in place
    expect((await sync(d, "m-bad", { realtime_data: { rows: [rt(4, { value: "fast" })] } })).status).toBe(422);

    const samples = await scrape();
    const rows = (table: string, op: string) => value(samples, "obd2_sync_rows_total", { device: d, table, op });
    expect({
      ok: value(samples, "obd2_sync_batches_total", { device: d, result: "ok" }),
      invalid: value(samples, "obd2_sync_batches_total", { device: d, result: "invalid" }),
      failed: value(samples, "obd2_sync_batches_total", { device: d, result: "failed" }),
      realtimeInserted: rows("realtime_data", "inserted"),
      realtimeUpdated: rows("realtime_data", "updated"),
      connectionInserted: rows("connection_log", "inserted"),
      connectionUpdated: rows("connection_log", "updated"),
    }).toEqual({ ok: 2, invalid: 1, failed: undefined, realtimeInserted: 3, realtimeUpdated: 3, connectionInserted: 1, connectionUpdated: 1 });
  });

  test("a stored backup should count once with its bytes, by device and type", async () => {
    // Per-device series are for real devices: this one has synced.
    expect((await sync("pi-metrics-backup", "mb-1", { realtime_data: { rows: [] } })).status).toBe(200);
    const form = new FormData();
    form.append("deviceId", "pi-metrics-backup");
    form.append("type", "database");
    form.append("file", new File(["sqlite bytes"], "obd.db"));
    const res = await t.call("/api/v1/backup", { method: "POST", body: form });
    expect(res.status).toBe(200);
    const refused = new FormData();
    refused.append("deviceId", "pi-metrics-backup");
    refused.append("type", "database");
    refused.append("file", new File(["x"], "obd.exe"));
    expect((await t.call("/api/v1/backup", { method: "POST", body: refused })).status).toBe(422);

    const samples = await scrape();
    const labels = { device: "pi-metrics-backup", type: "database" };
    expect({ count: value(samples, "obd2_backups_total", labels), bytes: value(samples, "obd2_backup_bytes_total", labels) }).toEqual({ count: 1, bytes: 12 });
  });

  test("the request histogram should label the route pattern, never the raw path", async () => {
    expect((await t.call("/api/v1/test-item/abc-123")).status).toBe(200);
    expect((await t.call("/api/v1/test-item/xyz-789")).status).toBe(200);
    expect((await t.call("/api/v1/no-such/thing-42")).status).toBe(404);
    expect((await t.call("/api/v1/test-item/abc", { key: null })).status).toBe(401);

    const samples = await scrape();
    const count = (labels: Record<string, string>) => value(samples, "obd2_http_request_duration_seconds_count", labels);
    expect({
      ok: count({ method: "GET", route: "/api/v1/test-item/:id", status: "200" }),
      refused: count({ method: "GET", route: "/api/v1/test-item/:id", status: "401" }),
      unmatched: count({ method: "GET", route: "unmatched", status: "404" }),
    }).toEqual({ ok: 2, refused: 1, unmatched: 1 });
    const routes = samples.filter((s) => s.name.startsWith("obd2_http_request_duration_seconds")).map((s) => s.labels.route);
    expect(routes.filter((r) => /abc|xyz|thing-42/.test(r ?? ""))).toEqual([]);
  });
});

describe("database gauges", () => {
  test("analysis jobs should be counted by state, all four present", async () => {
    const insert = (drive: number, state: string) =>
      t.db.query(
        `INSERT INTO analysis_jobs (device_id, drive_start, drive_end, batch_id, state, run_after) VALUES ('pi-metrics-jobs', ?, ?, 'b', ?, '2026-11-22 09:00:00')`,
        [`2026-11-2${drive} 08:00:00`, `2026-11-2${drive} 09:00:00`, state],
      );
    await insert(1, "pending");
    await insert(2, "pending");
    await insert(3, "failed");
    const samples = await scrape();
    expect(samples.filter((s) => s.name === "obd2_analysis_jobs")).toEqual([
      { name: "obd2_analysis_jobs", labels: { state: "pending" }, value: 2 },
      { name: "obd2_analysis_jobs", labels: { state: "running" }, value: 0 },
      { name: "obd2_analysis_jobs", labels: { state: "completed" }, value: 0 },
      { name: "obd2_analysis_jobs", labels: { state: "failed" }, value: 1 },
    ]);
    expect(samples.filter((s) => s.name === "obd2_analysis_queue_size")).toEqual([{ name: "obd2_analysis_queue_size", labels: {}, value: 2 }]);
  });

  test("a device's last-sync age should be the clock's now minus its latest successful sync", async () => {
    const history = (batch: string, device: string, completedAt: string, status: string) =>
      t.db.query(
        `INSERT INTO sync_history (batch_id, device_id, started_at, completed_at, tables_synced, status) VALUES (?, ?, ?, ?, '{}', ?)`,
        [batch, device, completedAt, completedAt, status],
      );
    await history("age-1", "pi-metrics-age", "2026-11-22 09:00:00.000", "success");
    await history("age-2", "pi-metrics-age", "2026-11-22 09:58:00.000", "success");
    await history("age-3", "pi-metrics-age", "2026-11-22 09:59:30.000", "failed");
    await history("age-4", "pi-metrics-never", "2026-11-22 09:59:00.000", "failed");
    const samples = await scrape();
    expect({
      age: value(samples, "obd2_device_last_sync_age_seconds", { device: "pi-metrics-age" }),
      neverSucceeded: value(samples, "obd2_device_last_sync_age_seconds", { device: "pi-metrics-never" }),
    }).toEqual({ age: 120, neverSucceeded: undefined });
  });

  test("with the database down, a scrape should still answer with the in-process metrics and log why", async () => {
    let logs = "";
    const sink = new Writable({
      write(chunk, _encoding, done) {
        logs += chunk.toString();
        done();
      },
    });
    const db = createDb(t.db.url, { connectionLimit: 1 });
    await db.close();
    const config = testConfig({ DATABASE_URL: t.db.url });
    const app = createApp({ config, db, logger: pino({ level: "info" }, sink) });
    const res = await app.request("/metrics", { headers: { "x-api-key": config.API_KEY } });
    expect(res.status).toBe(200);
    const names = parse(await res.text()).map((s) => s.name);
    expect(names).toContain("process_cpu_user_seconds_total");
    expect(names).not.toContain("obd2_analysis_jobs");
    // An unknown queue is left out, never shown as 0.
    expect(names).not.toContain("obd2_analysis_queue_size");
    const warnings = logs.trimEnd().split("\n").map((l) => JSON.parse(l)).filter((l) => l.level === 40).map((l) => l.msg).sort();
    expect(warnings).toEqual(["metrics: could not read analysis jobs", "metrics: could not read last syncs", "metrics: could not read the analysis queue"]);
  });
});
