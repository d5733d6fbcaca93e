/**
 * `npm run bench:dashboard`: how fast the dashboard's data answers, on a
 * realtime_data of at least a million rows. Needs DATABASE_URL (a database it
 * may wipe and migrate). It writes 30 one-hour drives and a 4-hour drive
 * (13 parameters a second each: 187,200 readings) for one device and a
 * 4-hour drive for another, with OBD-quantised values, then times, each the
 * median of 5 runs in this process: the 4-hour drive's series (13
 * parameters, 1,500 points each) and its gzip size, a zoomed 10-minute
 * window, the CSV of the drive, and a month of one parameter (the streamed
 * two-pass path) with its RSS growth.
 * The last line is `series_drive_ms=<n> series_drive_gzip_kb=<n> series_zoom_ms=<n> csv_rows_per_s=<n> series_month_ms=<n> series_month_rss_mb=<n>`.
 */
import { gzipSync } from "node:zlib";
import * as mariadb from "mariadb";
import { loadConfig } from "../lib/config.ts";
import { connectionOptions } from "../lib/db/pools.ts";
import { migrate } from "../lib/db/migrate.ts";
import { readingsCsv } from "../lib/readings/csv.ts";
import { readSeries } from "../lib/readings/series.ts";
import { median as medianOf, rssMb, watchPeakRss } from "./server.ts";

const url = loadConfig().DATABASE_URL;
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
  await pool.query("DELETE FROM realtime_data WHERE source_device IN (?, ?)", [DEVICE, `${DEVICE}-other`]);
  const filling = performance.now();
  // Evenings of April; the month of one parameter is then more than a single pass holds.
  for (let d = 0; d < 30; d++) await drive(DEVICE, Date.UTC(2026, 3, 1 + d, 18), 3600);
  await drive(`${DEVICE}-other`, DRIVE.start, DRIVE.seconds);
  await drive(DEVICE, DRIVE.start, DRIVE.seconds);
  const [{ n }] = await pool.query("SELECT COUNT(*) AS n FROM realtime_data");
  console.log(`filled ${id} rows in ${((performance.now() - filling) / 1000).toFixed(1)} s; realtime_data holds ${n}`);

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

  console.log(
    `series_drive_ms=${Math.round(driveMs)} series_drive_gzip_kb=${Math.round(gzipKb)} series_zoom_ms=${Math.round(zoomMs)} csv_rows_per_s=${Math.round((csvRows - 1) / (csvMs / 1000))} ` +
      `series_month_ms=${Math.round(monthMs)} series_month_rss_mb=${monthRss.toFixed(1)}`,
  );
} finally {
  await pool.end();
}
