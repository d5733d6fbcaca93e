/**
 * `npm run bench:dashboard`: how fast the dashboard's data answers, on a
 * realtime_data of at least a million rows. Needs DATABASE_URL (a database it
 * may wipe and migrate). It writes 30 one-hour drives and a 4-hour drive
 * (13 parameters a second each: 187,200 readings) for one device and a
 * 4-hour drive for another, with OBD-quantised values, then times, each the
 * median of 5 runs in this process: the 4-hour drive's series (13
 * parameters, 1,500 points each) and its gzip size, a zoomed 10-minute
 * window, the CSV of the drive, and a month of one parameter (the streamed
 * two-pass path) with its RSS growth; then the drive page as a browser gets it
 * from the real server (drivePageFigures).
 * The fuel-trim map of the drive is timed in this process too.
 * The last line is `page_series_ms=<n> page_series_gzip_kb=<n> page_zoom_ms=<n> page_stats_ms=<n> page_stats_drive_ms=<n> page_html_ms=<n> chart_draw_ms=<n> trim_map_ms=<n> series_drive_ms=<n> series_drive_gzip_kb=<n> series_zoom_ms=<n> csv_rows_per_s=<n> series_month_ms=<n> series_month_rss_mb=<n>`.
 */
import { gzipSync } from "node:zlib";
import * as mariadb from "mariadb";
import { loadConfig } from "../lib/config.ts";
import { connectionOptions } from "../lib/db/pools.ts";
import { migrate } from "../lib/db/migrate.ts";
import { readTrimMap } from "../lib/drives/fuel-trim-map.ts";
import { readingsCsv } from "../lib/readings/csv.ts";
import { readSeries } from "../lib/readings/series.ts";
import { launchBrowser } from "../tests/helpers/browser.ts";
import { median as medianOf, rssMb, startServer, watchPeakRss } from "./server.ts";

const API_KEY = "bench-dashboard-admin-key-0123";
const url = loadConfig({ ...process.env, API_KEY }).DATABASE_URL;
if (!url) throw new Error("bench:dashboard needs DATABASE_URL (a database it may wipe and migrate)");
const DEVICE = "bench-dashboard";
const PARAMETERS = ["RPM", "SPEED", "COOLANT_TEMP", "ENGINE_LOAD", "MAF", "INTAKE_TEMP", "THROTTLE_POS", "O2_B1S1", "SHORT_FUEL_TRIM_1", "LONG_FUEL_TRIM_1", "TIMING_ADVANCE", "INTAKE_PRESSURE", "CONTROL_MODULE_VOLTAGE"];
// A level, a swing, and the step the OBD encoding gives each parameter (RPM in quarters, trims in 100/128 %, ...).
const LEVEL = [2500, 60, 90, 40, 20, 35, 25, 0.5, 1, 2, 15, 60, 14.1];
const SWING = [1500, 40, 8, 30, 15, 10, 20, 0.4, 4, 1, 10, 40, 0.3];
const STEP = [0.25, 1, 1, 100 / 255, 0.01, 1, 100 / 255, 0.005, 100 / 128, 100 / 128, 0.5, 1, 0.001];
const DRIVE = { start: Date.UTC(2026, 3, 25, 8), seconds: 4 * 3600 };
const MEDIAN_OF = 5;
const median = (run: () => Promise<unknown>) => medianOf(run, MEDIAN_OF);

await migrate(url);
const pool = mariadb.createPool({ ...connectionOptions(url), connectionLimit: 3 });

let id = 0;
async function drive(device: string, start: number, seconds: number) {
  const insert = "INSERT INTO realtime_data (source_id, source_device, synced_at, sync_batch_id, timestamp, parameter_name, value, unit) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
  let rows: unknown[][] = [];
  for (let s = 0; s < seconds; s++) {
    for (let p = 0; p < PARAMETERS.length; p++) {
      // The Pi polls one PID after another, 70 ms apart.
      const at = new Date(start + s * 1000 + p * 70).toISOString().replace("T", " ").replace("Z", "");
      const raw = LEVEL[p]! + SWING[p]! * Math.sin(s / 300 + p) + (SWING[p]! / 10) * Math.sin(s * 1.7 + p * p);
      const value = Math.round((Math.round(raw / STEP[p]!) * STEP[p]!) * 1e6) / 1e6;
      rows.push([++id, device, "2026-04-25 12:00:00", "bench", at, PARAMETERS[p], value, "u"]);
    }
    if (rows.length >= 10_000) {
      await pool.batch(insert, rows);
      rows = [];
    }
  }
  if (rows.length) await pool.batch(insert, rows);
}


try {
  // A second run on the same database keeps the rows the first wrote (writing them takes minutes).
  const expected = (30 * 3600 + DRIVE.seconds) * PARAMETERS.length;
  const [{ mine }] = await pool.query("SELECT COUNT(*) AS mine FROM realtime_data WHERE source_device = ?", [DEVICE]);
  if (Number(mine) !== expected) {
    await pool.query("DELETE FROM realtime_data WHERE source_device IN (?, ?)", [DEVICE, `${DEVICE}-other`]);
    const filling = performance.now();
    // Evenings of April; the month of one parameter is then more than a single pass holds.
    for (let d = 0; d < 30; d++) await drive(DEVICE, Date.UTC(2026, 3, 1 + d, 18), 3600);
    await drive(`${DEVICE}-other`, DRIVE.start, DRIVE.seconds);
    await drive(DEVICE, DRIVE.start, DRIVE.seconds);
    console.log(`filled ${id} rows in ${((performance.now() - filling) / 1000).toFixed(1)} s`);
  }
  const [{ n }] = await pool.query("SELECT COUNT(*) AS n FROM realtime_data");
  console.log(`realtime_data holds ${n} rows`);

  const whole = { deviceId: DEVICE, parameters: PARAMETERS, from: new Date(DRIVE.start), to: new Date(DRIVE.start + DRIVE.seconds * 1000), points: 1500 };
  let gzipKb = 0;
  const driveMs = await median(async () => {
    gzipKb = gzipSync(JSON.stringify({ series: await readSeries(pool, whole) })).length / 1024;
  });
  const zoomMs = await median(() => readSeries(pool, { ...whole, from: new Date(DRIVE.start + 7200_000), to: new Date(DRIVE.start + 7800_000) }));
  let csvRows = 0;
  const csvMs = await median(async () => {
    csvRows = 0;
    for await (const chunk of readingsCsv(pool, whole)) for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) csvRows++;
  });
  Bun.gc(true);
  const baseline = rssMb(process.pid);
  const watch = watchPeakRss(process.pid);
  const month = { ...whole, parameters: ["RPM"], from: new Date(Date.UTC(2026, 3, 1)), to: new Date(Date.UTC(2026, 4, 1)) };
  const monthMs = await median(() => readSeries(pool, month));
  const monthRss = watch.stop() - baseline;
  console.log(`drive: ${whole.parameters.length} parameters, ${(csvRows - 1).toLocaleString("en-US")} readings`);
  let trimSamples = 0;
  const trimMs = await median(async () => {
    trimSamples = (await readTrimMap(pool, whole)).samples;
  });
  console.log(`fuel-trim map of the drive: ${trimSamples.toLocaleString("en-US")} warm closed-loop samples in ${Math.round(trimMs)} ms`);

  const page = await drivePageFigures();
  console.log(
    `drive page over HTTP: series ${Math.round(page.seriesMs)} ms (${Math.round(page.seriesGzipKb)} KB gzip), zoomed ${Math.round(page.zoomMs)} ms, ` +
      `window statistics ${Math.round(page.statsMs)} ms (the whole drive's ${Math.round(page.driveStatsMs)} ms), the page ${Math.round(page.pageMs)} ms, charts drawn in ${Math.round(page.drawMs)} ms in Chromium`,
  );
  console.log(
    `page_series_ms=${Math.round(page.seriesMs)} page_series_gzip_kb=${Math.round(page.seriesGzipKb)} page_zoom_ms=${Math.round(page.zoomMs)} page_stats_ms=${Math.round(page.statsMs)} ` +
      `page_stats_drive_ms=${Math.round(page.driveStatsMs)} page_html_ms=${Math.round(page.pageMs)} chart_draw_ms=${Math.round(page.drawMs)} trim_map_ms=${Math.round(trimMs)} ` +
      `series_drive_ms=${Math.round(driveMs)} series_drive_gzip_kb=${Math.round(gzipKb)} series_zoom_ms=${Math.round(zoomMs)} csv_rows_per_s=${Math.round((csvRows - 1) / (csvMs / 1000))} ` +
      `series_month_ms=${Math.round(monthMs)} series_month_rss_mb=${monthRss.toFixed(1)}`,
  );
} finally {
  await pool.end();
}

/**
 * The drive page as a browser gets it, from the real server (a subprocess)
 * over HTTP: the 4-hour drive recorded and summarised by the server's own
 * worker, then its series, a zoomed window and the window statistics by API
 * key, and the page and its charts in Chromium (drive.js measures from the
 * first chart's construction to the last chart's first draw).
 */
async function drivePageFigures() {
  const start = new Date(DRIVE.start).toISOString().replace("T", " ").replace("Z", "");
  const end = new Date(DRIVE.start + DRIVE.seconds * 1000).toISOString().replace("T", " ").replace("Z", "");
  for (const table of ["drives", "analysis_jobs", "analysis_history"]) await pool.query(`DELETE FROM ${table} WHERE ${table === "drives" ? "source_device" : "device_id"} = ?`, [DEVICE]);
  await pool.query(
    `INSERT INTO drives (source_device, drive_id, drive_start, drive_end, closed_by, closed_at, last_reading_at, last_row_at, last_batch_id, summary_due)
     VALUES (?, 1, ?, ?, 'drive_end', NOW(), ?, NOW(), 'bench', 2)`,
    [DEVICE, start, end, end],
  );
  // The dashboard shows the devices the server has heard of (a synced Pi always is).
  await pool.query("INSERT IGNORE INTO devices (device_id, last_seen) VALUES (?, NOW())", [DEVICE]);
  const server = await startServer({ DATABASE_URL: url!, API_KEY, DRIVE_SETTLE_SECONDS: "0", ANALYSIS_ENABLED: "false", ANALYSIS_POLL_SECONDS: "0.2" });
  try {
    for (let i = 0; !(await pool.query("SELECT summarized_at FROM drives WHERE source_device = ?", [DEVICE]))[0].summarized_at; i++) {
      if (i > 600) throw new Error("the server never summarised the drive");
      await Bun.sleep(100);
    }
    const api = `${server.base}/api/v1/drives/${DEVICE}/1`;
    const get = async (path: string) => {
      const res = await fetch(path, { headers: { "x-api-key": API_KEY } });
      if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
      return res.text();
    };
    let seriesGzipKb = 0;
    const seriesMs = await median(async () => {
      seriesGzipKb = gzipSync(await get(`${api}/series?parameters=${PARAMETERS.join(",")}&points=1500`)).length / 1024;
    });
    const zoom = `from=${new Date(DRIVE.start + 7200_000).toISOString()}&to=${new Date(DRIVE.start + 7800_000).toISOString()}`;
    const zoomMs = await median(() => get(`${api}/series?parameters=${PARAMETERS.join(",")}&points=1500&${zoom}`));
    const statsMs = await median(() => get(`${api}/stats?${zoom}`));
    // What zooming out asks for: the whole drive's statistics, from its 187,200 raw readings.
    const driveStatsMs = await median(() => get(`${api}/stats`));
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      await page.goto(`${server.base}/login?next=${encodeURIComponent(`/drives/${DEVICE}/1`)}`);
      await page.fill("input[name=key]", API_KEY);
      await Promise.all([page.waitForURL((u) => u.pathname === `/drives/${DEVICE}/1`), page.click("button[type=submit]")]);
      page.on("console", (m) => m.type() === "error" && console.error(`chromium: ${m.text()}`));
      const pages: number[] = [];
      const draws: number[] = [];
      for (let i = 0; i < MEDIAN_OF; i++) {
        const began = performance.now();
        await page.reload({ waitUntil: "domcontentloaded" });
        pages.push(performance.now() - began);
        await page.waitForFunction(() => (window as any).obd2.drive.chartDrawMs !== null, undefined, { timeout: 30_000 });
        draws.push(await page.evaluate(() => (window as any).obd2.drive.chartDrawMs as number));
      }
      const mid = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1]!;
      return { seriesMs, seriesGzipKb, zoomMs, statsMs, driveStatsMs, pageMs: mid(pages), drawMs: mid(draws) };
    } finally {
      await browser.close();
    }
  } finally {
    await server.stop();
  }
}
