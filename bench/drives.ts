/**
 * `npm run bench:drives`: what drives cost (lib/drives/, lib/analysis/history.ts).
 * Uses DATABASE_URL (a database it may wipe and migrate) or, without one, a
 * throwaway MariaDB of its own on a free port. It times, in this process:
 * - the summary of a 4-hour drive (13 parameters at 1 Hz: 187,200 readings),
 *   as the worker computes and stores it, with the RSS growth while it runs;
 * - GET /api/v1/drives over a device with 1,000 summarised drives, a full
 *   page (200) and the default one (50), the median of 20 requests through
 *   the app;
 * - the history of a drive with 20 prior drives (baselines, anomalies and
 *   trends from their stored summaries), the median of 20;
 * - the dashboard's /drives over those 1,000 drives (the default page of 50,
 *   and all 1,000 on one page) and /trends (its 500 points), signed in.
 * The last line is `summary_4h_ms=<n> summary_rss_growth_mb=<n> drives_list_200_ms=<n> drives_list_50_ms=<n> history_20_ms=<n> drives_page_50_ms=<n> drives_page_1000_ms=<n> trends_page_ms=<n>`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp } from "../functions/index.ts";
import { loadConfig } from "../lib/config.ts";
import { createDb } from "../lib/db/pools.ts";
import { provisionDatabase, startMariaDb } from "../lib/db/mariadb-server.ts";
import { migrate } from "../lib/db/migrate.ts";
import { driveById } from "../lib/drives/list.ts";
import { tendDrives } from "../lib/drives/summary.ts";
import { readHistory } from "../lib/analysis/history.ts";
import { createLogger } from "../lib/http/logger.ts";
import { sqlTimestamp } from "../lib/time.ts";
import { median as medianOf, rssMb, watchPeakRss } from "./server.ts";

const API_KEY = "bench-drives-admin-key-0123";
const DEVICE = "bench-drives";
const PARAMETERS = ["RPM", "SPEED", "COOLANT_TEMP", "ENGINE_LOAD", "MAF", "INTAKE_TEMP", "THROTTLE_POS", "O2_B1S1", "SHORT_FUEL_TRIM_1", "LONG_FUEL_TRIM_1", "TIMING_ADVANCE", "INTAKE_PRESSURE", "CONTROL_MODULE_VOLTAGE"];
const LEVEL = [2500, 60, 90, 40, 20, 35, 25, 0.5, 1, 2, 15, 60, 14.1];
const SWING = [1500, 40, 8, 30, 15, 10, 20, 0.4, 4, 1, 10, 40, 0.3];
// Before the 1,000 drives below, so the first pages list only analysed drives.
const LONG = { start: Date.UTC(2023, 5, 1, 8), seconds: 4 * 3600 };
const MEDIAN_OF = 20;
const median = (run: () => Promise<unknown>) => medianOf(run, MEDIAN_OF);

let stopServer: (() => Promise<void>) | undefined;
let url = loadConfig({ ...process.env, API_KEY }).DATABASE_URL;
if (!url) {
  const dir = mkdtempSync(join(tmpdir(), "obd2-bench-drives-"));
  const server = await startMariaDb({ dataDir: join(dir, "data"), extraArgs: ["--innodb-flush-log-at-trx-commit=0", "--innodb-buffer-pool-size=256M"] });
  url = await provisionDatabase(server, { db: "obd2_bench", user: "obd2_bench", password: "obd2-bench-password" });
  stopServer = async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
await migrate(url);
const config = loadConfig({ API_KEY, DATABASE_URL: url, LOG_LEVEL: "silent", DRIVE_SETTLE_SECONDS: "0" }, "/nonexistent");
const db = createDb(url, { connectionLimit: 3 });
const logger = createLogger(config);


try {
  for (const table of ["realtime_data", "drives", "analysis_history", "analysis_jobs", "devices"]) {
    await db.pool.query(`DELETE FROM ${table} WHERE ${table === "realtime_data" || table === "drives" ? "source_device" : "device_id"} = ?`, [DEVICE]);
  }
  await db.pool.query("INSERT INTO devices (device_id, last_seen) VALUES (?, '2026-06-01 00:00:00')", [DEVICE]);

  // The 4-hour drive: its readings, and its row as /sync leaves it (closed by its drive_end, summary due).
  const insert = "INSERT INTO realtime_data (source_id, source_device, synced_at, sync_batch_id, timestamp, parameter_name, value, unit, drive_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 5000)";
  let rows: unknown[][] = [];
  let id = 0;
  for (let s = 0; s < LONG.seconds; s++) {
    for (let p = 0; p < PARAMETERS.length; p++) {
      const at = sqlTimestamp(new Date(LONG.start + s * 1000 + p * 70));
      rows.push([++id, DEVICE, "2026-06-01 12:00:00", "bench", at, PARAMETERS[p], LEVEL[p]! + SWING[p]! * Math.sin(s / 300 + p), "u"]);
    }
    if (rows.length >= 10_000) {
      await db.pool.batch(insert, rows);
      rows = [];
    }
  }
  if (rows.length) await db.pool.batch(insert, rows);
  const longEnd = sqlTimestamp(new Date(LONG.start + LONG.seconds * 1000 + 2000));
  await db.pool.query(
    `INSERT INTO drives (source_device, drive_id, drive_start, drive_end, closed_by, closed_at, last_reading_at, last_row_at, last_batch_id, summary_due)
     VALUES (?, 5000, ?, ?, 'drive_end', '2026-06-01 12:00:00', ?, '2026-06-01 12:00:00', 'bench', 2)`,
    [DEVICE, sqlTimestamp(new Date(LONG.start)), longEnd, longEnd],
  );

  Bun.gc(true);
  const baseline = rssMb(process.pid);
  const watch = watchPeakRss(process.pid);
  const began = performance.now();
  await tendDrives({ pool: db.pool, config, logger }, new Date("2026-06-02T00:00:00Z"));
  const summaryMs = performance.now() - began;
  const rssGrowth = watch.stop() - baseline;
  const [long] = await db.pool.query("SELECT readings, summary_due FROM drives WHERE source_device = ? AND drive_id = 5000", [DEVICE]);
  if (long.readings !== LONG.seconds * PARAMETERS.length || long.summary_due !== 0) throw new Error(`the 4-hour drive was not summarised: ${JSON.stringify(long)}`);
  console.log(`summarised ${long.readings} readings in ${Math.round(summaryMs)} ms`);

  // 1,000 summarised drives (a few years of a daily driver), every one analysed.
  const values: unknown[][] = [];
  for (let d = 1; d <= 1000; d++) {
    const start = Date.UTC(2024, 0, 1) + d * 86_400_000;
    const wobble = Math.sin(d);
    values.push([DEVICE, d, sqlTimestamp(new Date(start)), sqlTimestamp(new Date(start + 1_800_000)), 1 + wobble, 0.4 * wobble, 14.1 + 0.05 * wobble, 92 + 2 * wobble, 38 + 3 * wobble, 850 + 20 * wobble, 420 + 40 * wobble, 15 + 3 * wobble]);
  }
  await db.pool.batch(
    `INSERT INTO drives (source_device, drive_id, drive_start, drive_end, closed_by, last_row_at, last_batch_id, summary_due, summarized_at, readings, duration_s,
       distance_km, ltft_mean, stft_mean, mean_running_v, min_running_v, max_coolant_c, intake_p95_c, idle_rpm, warmup_s, start_coolant_c, alert_count, dtc_codes, data_source)
     VALUES (?, ?, ?, ?, 'drive_end', NOW(), 'bench', 0, NOW(), 23400, 1800, 24.5, ?, ?, ?, 13.9, ?, ?, ?, ?, ?, 0, '[]', 'real')`,
    values,
  );
  await db.pool.query(
    `INSERT INTO analysis_history (device_id, drive_start, drive_end, model, status, triggered_by, created_at)
     SELECT source_device, drive_start, drive_end, 'gemma2:2b', 'completed', 'auto', NOW() FROM drives WHERE source_device = ? AND drive_id <= 1000`,
    [DEVICE],
  );
  await db.pool.query(
    `UPDATE drives d JOIN analysis_history a ON a.device_id = d.source_device COLLATE utf8mb4_bin AND a.drive_start = d.drive_start SET d.analysis_id = a.analysis_id
     WHERE d.source_device = ?`,
    [DEVICE],
  );

  const app = createApp({ config, db, logger });
  const list = async (limit: number) => {
    const res = await app.request(`/api/v1/drives?deviceId=${DEVICE}&limit=${limit}`, { headers: { "x-api-key": API_KEY } });
    const body = (await res.json()) as { drives: { analysis: unknown }[] };
    if (res.status !== 200 || body.drives.length !== limit || !body.drives.every((d) => d.analysis)) throw new Error(`GET /api/v1/drives answered ${res.status}`);
  };
  await list(200);
  const list200 = await median(() => list(200));
  const list50 = await median(() => list(50));

  // The dashboard's /drives and /trends over the same 1,000 drives, as a signed-in browser gets them.
  const cookieOf = (res: Response) => res.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
  const login = await app.request("/login");
  const token = /name="_csrf" value="([^"]+)"/.exec(await login.text())![1]!;
  const signedIn = await app.request("/login", {
    method: "POST",
    headers: { cookie: cookieOf(login), origin: "http://localhost", host: "localhost", "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ key: API_KEY, _csrf: token, next: "/drives" }),
  });
  const session = cookieOf(signedIn);
  const render = async (path: string, rows: number) => {
    const res = await app.request(path, { headers: { cookie: session, host: "localhost" } });
    const html = await res.text();
    const shown = html.split("<tr data-").length - 1;
    if (res.status !== 200 || shown !== rows) throw new Error(`GET ${path} answered ${res.status} with ${shown} rows`);
  };
  await render(`/drives?device=${DEVICE}`, 50);
  const page50 = await median(() => render(`/drives?device=${DEVICE}`, 50));
  const page1000 = await median(() => render(`/drives?device=${DEVICE}&limit=1000`, 1000));
  const trends = await median(() => render(`/trends?device=${DEVICE}`, 500));
  console.log(`/drives renders 50 drives in ${page50.toFixed(1)} ms and all 1,000 in ${page1000.toFixed(1)} ms; /trends (500 drives) in ${trends.toFixed(1)} ms`);

  // The history of drive 1000: its 20 prior drives' stored summaries (the 4-hour drive's statistics stand in for its own).
  const drive = await driveById(db.pool, DEVICE, 1000);
  const stats = (await driveById(db.pool, DEVICE, 5000))!.stats!;
  let found = 0;
  const history = await median(async () => {
    const h = await readHistory(db.pool, { deviceId: DEVICE, start: drive!.start, driveRef: drive!.ref, dataSource: "real", stats });
    found = h.history.priorDrives;
  });
  if (found !== 20) throw new Error(`the history found ${found} prior drives, not 20`);

  console.log(
    `summary_4h_ms=${Math.round(summaryMs)} summary_rss_growth_mb=${rssGrowth.toFixed(1)} drives_list_200_ms=${list200.toFixed(1)} drives_list_50_ms=${list50.toFixed(1)} history_20_ms=${history.toFixed(1)} ` +
      `drives_page_50_ms=${page50.toFixed(1)} drives_page_1000_ms=${page1000.toFixed(1)} trends_page_ms=${trends.toFixed(1)}`,
  );
} finally {
  await db.close();
  await stopServer?.();
}
