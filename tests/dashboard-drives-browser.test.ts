/**
 * The drives in a real browser: the /drives list, /trends, the overview's
 * last drive, feed and analysis wording, and the drive page,  (Debian's chromium via playwright-core) on
 * the app served on loopback, fed by simulated Pis through the real agent,
 * with the analysis worker summarising the drives: the page's numbers
 * against the database, the charts drawn and zoomed (a finer series fetched,
 * the window's statistics following), markers, the CSV, re-analyse and its
 * CSRF check, and a device session's 404s. The drive API's validation is
 * here too, on the same data.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser } from "playwright-core";
import { startAnalysisWorker, type AnalysisWorker } from "../lib/analysis/worker.ts";
import { TrimMapBuilder, TRIM_PARAMETERS } from "../lib/drives/fuel-trim-map.ts";
import { createLogger } from "../lib/http/logger.ts";
import { sqliteExec } from "./helpers/client-agent.ts";
import { ADMIN_KEY, chromiumAvailable, launchBrowser, signIn, startDashboard, visit, type Dashboard, type Visit } from "./helpers/browser.ts";

const run = chromiumAvailable();
let dash: Dashboard;
let browser: Browser;
let worker: AnalysisWorker;
let evil: ReturnType<typeof Bun.serve>;
/** pi-a's first drive (closed by the second's start, so summarised): 30 minutes, more readings a parameter than the 1,500 points a chart asks for. */
let drive: { id: number; ref: bigint; start: string; end: string };

const q = (sql: string, values: unknown[] = []) => dash.db.query(sql, values);
const sqlTime = (iso: string) => iso.replace("T", " ").replace("Z", "");

beforeAll(async () => {
  if (!run) return;
  dash = await startDashboard([
    { deviceId: "pi-a", simulate: { drives: 2, minutes: 30, current: true, overheat: { drive: 1, atMinute: 5, minutes: 4, peakC: 117 } } },
    {
      deviceId: "pi-b",
      simulate: { drives: 1, minutes: 2, seed: 7 },
      // What a newer Pi may have: a column and a table the server does not know, which it keeps.
      prepare: (db) =>
        sqliteExec(db, "ALTER TABLE realtime_data ADD COLUMN boost_kpa REAL; UPDATE realtime_data SET boost_kpa = 101; CREATE TABLE knock_log (id INTEGER PRIMARY KEY, timestamp TEXT, count INTEGER); INSERT INTO knock_log (timestamp, count) VALUES ('2026-04-19 08:00:01', 2), ('2026-04-19 08:00:02', 1);"),
      pushExit: 0,
    },
    // Six short drives, each closed by its drive_end; the fourth overheats, which the trends flag.
    { deviceId: "pi-c", simulate: { drives: 6, minutes: 3, seed: 3, overheat: { drive: 4, atMinute: 1, minutes: 1.5, peakC: 119 } } },
  ]);
  // The worker summarises each closed drive at once (production waits DRIVE_SETTLE_SECONDS for a quiet device); Ollama is away.
  worker = startAnalysisWorker({ db: dash.db, config: { ...dash.config, DRIVE_SETTLE_SECONDS: 0, ANALYSIS_POLL_SECONDS: 0.05, ANALYSIS_RETRY_SECONDS: 0.05 }, logger: createLogger({ ...dash.config, LOG_LEVEL: "error" }) });
  for (const until = Date.now() + 60_000; ; await Bun.sleep(100)) {
    const [row] = await q("SELECT id, drive_id, DATE_FORMAT(drive_start, '%Y-%m-%dT%H:%i:%s.%fZ') AS s, DATE_FORMAT(drive_end, '%Y-%m-%dT%H:%i:%s.%fZ') AS e FROM drives WHERE source_device = 'pi-a' AND summarized_at IS NOT NULL ORDER BY drive_start LIMIT 1");
    if (row) {
      drive = { id: Number(row.drive_id), ref: BigInt(row.id), start: row.s, end: row.e };
      break;
    }
    if (Date.now() > until) throw new Error("pi-a's first drive was never summarised");
  }
  for (const until = Date.now() + 60_000; ; await Bun.sleep(100)) {
    const [c] = await q("SELECT COUNT(*) AS n FROM drives WHERE source_device = 'pi-c' AND summarized_at IS NOT NULL");
    if (Number(c.n) === 6) break;
    if (Date.now() > until) throw new Error("pi-c's drives were never summarised");
  }
  // Summarised: from here on the jobs stay as they are (queued, Ollama away), so the tests can set them up.
  await worker.stop();
  browser = await launchBrowser();
  evil = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: () =>
      new Response(`<!doctype html><form id="f" method="post" action="${dash.url}/drives/pi-a/${drive.id}/analyze"><input name="_csrf" value="guessed"></form><script>document.getElementById("f").submit()</script>`, {
        headers: { "content-type": "text/html" },
      }),
  });
});

afterAll(async () => {
  if (!run) return;
  await worker?.stop();
  await browser?.close();
  evil?.stop(true);
  await dash?.stop();
});

const inBrowser = (name: string, fn: (v: Visit) => Promise<void>) => visit(browser, { baseUrl: dash.url, dir: dash.tmp.dir, name, onFailure: dash.keep }, fn);
const drivePath = () => `/drives/pi-a/${drive.id}`;

/** Per parameter, the count of pi-a's readings between from and to (ISO), as the database has them. */
async function counts(from: string, to: string): Promise<Record<string, number>> {
  const rows = await q(
    "SELECT parameter_name AS p, COUNT(*) AS n FROM realtime_data WHERE source_device = 'pi-a' AND timestamp BETWEEN ? AND ? GROUP BY parameter_name",
    [sqlTime(from), `${sqlTime(to)}999`],
  );
  return Object.fromEntries(rows.map((r: any) => [r.p, Number(r.n)]));
}

/** The counts the page's statistics table shows, per parameter. */
async function shownCounts(v: Visit): Promise<Record<string, number>> {
  const rows = await v.page.locator("#window-stats tbody tr").evaluateAll((trs) =>
    trs.map((tr) => [tr.getAttribute("data-parameter"), Number(tr.querySelector('[data-field="count"]')!.textContent)] as const),
  );
  return Object.fromEntries(rows);
}

const chartState = (v: Visit) => v.page.evaluate(() => (window as any).obd2.drive as { chartDrawMs: number | null; markersDrawn: number; loads: number });

describe.skipIf(!run)("the drive page in chromium", () => {
  test("should show the drive's numbers as the database has them, draw its panels with markers, and say it waits for Ollama", async () => {
    await inBrowser("drive page", async (v) => {
      await signIn(v.page, ADMIN_KEY, drivePath());
      await v.page.waitForFunction(() => (window as any).obd2.drive.chartDrawMs !== null);
      const [row] = await q("SELECT readings FROM drives WHERE id = ?", [drive.ref]);
      expect(Number(await v.page.locator('[data-field="readings"]').getAttribute("data-value"))).toBe(Number(row.readings));
      expect(await shownCounts(v)).toEqual(await counts(drive.start, drive.end));
      // Four panels: RPM/SPEED/THROTTLE, coolant/intake, trims, voltage; each a canvas.
      const panels = await v.page.locator("#charts .chart").evaluateAll((els) => els.map((e) => e.getAttribute("data-parameters")));
      expect(panels).toEqual(["RPM,SPEED,THROTTLE_POS", "COOLANT_TEMP,INTAKE_TEMP", "SHORT_FUEL_TRIM_1,LONG_FUEL_TRIM_1", "CONTROL_MODULE_VOLTAGE"]);
      expect(await v.page.locator("#charts canvas").count()).toBe(4);
      // The overheat's alerts are in the drive, listed and marked on the time axis.
      const [alerts] = await q("SELECT COUNT(*) AS n FROM alert_log WHERE source_device = 'pi-a' AND timestamp BETWEEN ? AND ?", [sqlTime(drive.start), `${sqlTime(drive.end)}999`]);
      expect(Number(alerts.n)).toBeGreaterThan(0);
      expect(await v.page.locator('#events li[data-kind="alert"]').count()).toBe(Math.min(200, Number(alerts.n)));
      expect((await chartState(v)).markersDrawn).toBeGreaterThan(0);
      expect(await v.page.locator('[data-field="findings"] li[data-code="coolant_overtemp"]').innerText()).toContain("°C");
      expect(await v.page.locator('[data-field="analysis-status"]').innerText()).toContain("waiting for Ollama");
    });
  });

  test("dragging across a chart should fetch the window at full resolution and recompute its statistics", async () => {
    await inBrowser("zoom", async (v) => {
      const answers: Promise<{ url: URL; body: any }>[] = [];
      v.page.on("response", (r) => {
        if (r.url().includes("/series?")) answers.push(r.json().then((body) => ({ url: new URL(r.url()), body })));
      });
      await signIn(v.page, ADMIN_KEY, drivePath());
      await v.page.waitForFunction(() => (window as any).obd2.drive.chartDrawMs !== null);
      const whole = (await answers[0]!).body;
      const span = (s: { t: number[] }) => (s.t.at(-1)! - s.t[0]!) / 1000;
      // More readings than points: the whole drive is downsampled.
      expect(whole.series.RPM.t.length).toBeLessThanOrEqual(1500);
      const rpmCount = (await counts(drive.start, drive.end)).RPM!;
      expect(rpmCount).toBeGreaterThan(1500);
      const box = (await v.page.locator("#charts .chart .u-over").first().boundingBox())!;
      const loads = (await chartState(v)).loads;
      await v.page.mouse.move(box.x + box.width * 0.4, box.y + box.height / 2);
      await v.page.mouse.down();
      await v.page.mouse.move(box.x + box.width * 0.55, box.y + box.height / 2, { steps: 5 });
      await v.page.mouse.up();
      await v.page.waitForFunction((n) => (window as any).obd2.drive.loads > n, loads);
      const zoomed = await answers.at(-1)!;
      expect(zoomed.url.searchParams.get("from")).toBeTruthy();
      expect(zoomed.url.searchParams.get("to")).toBeTruthy();
      const { from, to } = zoomed.body;
      const inWindow = await counts(from, to);
      // Every reading of the window: finer than the whole drive's series.
      expect(zoomed.body.series.RPM.t.length).toBe(inWindow.RPM);
      expect(zoomed.body.series.RPM.t.length / span(zoomed.body.series.RPM)).toBeGreaterThan(whole.series.RPM.t.length / span(whole.series.RPM));
      expect(await shownCounts(v)).toEqual(inWindow);
      expect(await v.page.locator("#window-label").innerText()).toContain("window");
      // Zooming out brings the whole drive back, as first read: its statistics are the page's, not asked again.
      await v.page.click("#zoom-reset");
      await v.page.waitForFunction((n) => (window as any).obd2.drive.loads > n + 1, loads);
      expect(await shownCounts(v)).toEqual(await counts(drive.start, drive.end));
      expect(await v.page.locator("#window-label").innerText()).toBe("whole drive");
      expect(v.requests.filter((u) => u.includes("/stats") && !u.includes("from="))).toEqual([]);
      const rpm = await v.page.evaluate(() => (window as any).obd2.drive.charts[0].data[1].filter((x: unknown) => x != null).length);
      expect(rpm).toBe(whole.series.RPM.v.filter((x: unknown) => x !== null).length);
    });
  });

  test("the CSV should hold exactly the drive's readings, and the fuel-trim map the drive's warm closed-loop samples", async () => {
    await inBrowser("csv and trims", async (v) => {
      await signIn(v.page, ADMIN_KEY, drivePath());
      const res = await v.context.request.get(`${drivePath()}.csv`);
      expect(res.headers()["content-disposition"]).toBe(`attachment; filename="pi-a-drive-${drive.id}.csv"`);
      const lines = (await res.text()).trimEnd().split("\r\n");
      const db: any[] = await dash.db.pool.execute(
        `SELECT DATE_FORMAT(timestamp, '%Y-%m-%dT%H:%i:%s.%fZ') AS ts, parameter_name, value FROM realtime_data
         WHERE source_device = 'pi-a' AND timestamp BETWEEN ? AND ? ORDER BY timestamp, parameter_name, value, id`,
        [sqlTime(drive.start), `${sqlTime(drive.end)}999`],
      );
      expect(lines.length - 1).toBe(db.length);
      expect(lines.slice(1).map((l) => l.split(",").slice(0, 3).join(","))).toEqual(db.map((r) => `${r.ts},${r.parameter_name},${r.value}`));
      // The map against the rows fed through the map's rules here, from the database.
      const rows: any[] = await dash.db.pool.execute(
        `SELECT parameter_name, TIMESTAMPDIFF(MICROSECOND, '1970-01-01', timestamp) / 1000e0 AS t, value FROM realtime_data
         WHERE source_device = 'pi-a' AND timestamp BETWEEN ? AND ? AND parameter_name IN (${TRIM_PARAMETERS.map(() => "?").join(",")}) ORDER BY timestamp, parameter_name, value, id`,
        [sqlTime(drive.start), `${sqlTime(drive.end)}999`, ...TRIM_PARAMETERS],
      );
      const b = new TrimMapBuilder();
      for (const r of rows) b.push(r.parameter_name, r.t, r.value);
      const expected = b.map();
      expect(expected.samples).toBeGreaterThan(0);
      const cells = await v.page.locator("#trim-map td[data-count]").evaluateAll((tds) =>
        tds.map((td) => ({ rpm: Number(td.getAttribute("data-rpm")), load: Number(td.getAttribute("data-load")), count: Number(td.getAttribute("data-count")), mean: Number(td.getAttribute("data-mean")) })),
      );
      const key = (c: { rpm: number; load: number }) => `${c.load}:${c.rpm}`;
      expect(new Map(cells.map((c) => [key(c), [c.count, c.mean]]))).toEqual(new Map(expected.cells.map((c) => [key({ rpm: c.rpm[0], load: c.load[0] }), [c.count, c.meanPct]])));
    });
  });

  test("re-analyse should queue the drive's analysis; a forged form from another origin should be refused", async () => {
    await q("UPDATE analysis_jobs SET state = 'completed' WHERE drive_ref = ?", [drive.ref]);
    await inBrowser("reanalyse", async (v) => {
      await signIn(v.page, ADMIN_KEY, drivePath());
      v.expectProblem(/status of 403/);
      await v.page.goto(`http://127.0.0.1:${evil.port}/`);
      await v.page.waitForURL((u) => u.origin === dash.url);
      expect(await v.page.locator('[data-field="refused"]').innerText()).toContain("refused");
      expect((await q("SELECT state FROM analysis_jobs WHERE drive_ref = ?", [drive.ref]))[0].state).toBe("completed");
      await v.page.goto(drivePath());
      await Promise.all([v.page.waitForURL((u) => u.search === "?analysis=queued"), v.page.click('[data-field="reanalyse"]')]);
      expect(await v.page.locator('[data-field="notice"]').innerText()).toContain("queued");
      expect((await q("SELECT state FROM analysis_jobs WHERE drive_ref = ?", [drive.ref]))[0].state).toBe("pending");
    });
  });

  test("a device session should get 404 for another device's drive page, series, statistics and CSV", async () => {
    await inBrowser("device session", async (v) => {
      await signIn(v.page, dash.pis["pi-b"]!.key);
      v.expectProblem(/status of 404/);
      for (const path of [drivePath(), `${drivePath()}.csv`, `/api/v1${drivePath()}/series`, `/api/v1${drivePath()}/stats`]) {
        expect({ path, status: (await v.context.request.get(path)).status() }).toEqual({ path, status: 404 });
      }
      const [own] = await q("SELECT drive_id FROM drives WHERE source_device = 'pi-b' LIMIT 1");
      expect((await v.context.request.get(`/api/v1/drives/pi-b/${own.drive_id}/series`)).status()).toBe(200);
    });
  });
});

/** What a page's table shows per row: its data-drive and each data-field's data-value. */
const tableRows = (v: Visit, selector: string) =>
  v.page.locator(`${selector} tbody tr`).evaluateAll((trs) =>
    trs.map((tr) => ({
      device: tr.getAttribute("data-device"),
      drive: Number(tr.getAttribute("data-drive")),
      values: Object.fromEntries([...tr.querySelectorAll("[data-field][data-value]")].map((td) => [td.getAttribute("data-field"), td.getAttribute("data-value")])),
      anomaly: tr.getAttribute("data-anomaly") === "1",
      odd: [...tr.querySelectorAll('[data-anomaly="1"]')].map((td) => td.getAttribute("data-field")),
    })),
  );
const text = (x: unknown) => (x === null || x === undefined ? "" : String(x));

describe.skipIf(!run)("/drives, /trends and the overview in chromium", () => {
  test("/drives should list every drive newest first with the stored figures, filter by device and date, and page back", async () => {
    await inBrowser("drives list", async (v) => {
      await signIn(v.page, ADMIN_KEY, "/drives");
      const db = await q("SELECT source_device, drive_id, distance_km, max_coolant_c, min_running_v, alert_count FROM drives ORDER BY drive_start DESC, id DESC");
      const rows = await tableRows(v, '[data-field="drives"]');
      expect(rows.map((r) => [r.device, r.drive])).toEqual(db.map((d: any) => [d.source_device, Number(d.drive_id)]));
      expect(rows.map((r) => [r.values.distance, r.values["max-coolant"], r.values["min-voltage"], r.values.alerts])).toEqual(
        db.map((d: any) => [text(d.distance_km), text(d.max_coolant_c), text(d.min_running_v), text(d.alert_count)]),
      );
      await v.page.goto("/drives?device=pi-c&limit=4");
      const first = await tableRows(v, '[data-field="drives"]');
      expect(first.map((r) => r.device)).toEqual(["pi-c", "pi-c", "pi-c", "pi-c"]);
      await v.page.click('[data-field="older"]');
      const second = await tableRows(v, '[data-field="drives"]');
      const piC = db.filter((d: any) => d.source_device === "pi-c").map((d: any) => Number(d.drive_id));
      expect([...first, ...second].map((r) => r.drive)).toEqual(piC);
      // The simulated drives are on 2026-04-19 (UTC, the browser's zone here).
      await v.page.goto("/drives?device=pi-c&from=2026-04-19&to=2026-04-19");
      expect((await tableRows(v, '[data-field="drives"]')).length).toBe(6);
      await v.page.goto("/drives?device=pi-c&from=2026-04-20");
      expect(await v.page.locator('[data-field="no-drives"]').count()).toBe(1);
      // Each row leads to its drive's page.
      await v.page.goto("/drives?device=pi-a");
      await Promise.all([v.page.waitForURL((u) => u.pathname.startsWith("/drives/pi-a/")), v.page.locator('[data-field="drives"] tbody tr a').last().click()]);
    });
  });

  test("/trends should show each summarised drive's stored figures and mark the overheating drive", async () => {
    await inBrowser("trends", async (v) => {
      await signIn(v.page, ADMIN_KEY, "/trends?device=pi-c");
      const db = await q("SELECT drive_id, ltft_mean, max_coolant_c, warmup_s, mean_running_v FROM drives WHERE source_device = 'pi-c' ORDER BY drive_start");
      const rows = await tableRows(v, 'section[data-device="pi-c"] [data-field="trends"]');
      expect(rows.map((r) => [r.drive, r.values.ltftMean, r.values.maxCoolantC, r.values.warmUpS, r.values.meanRunningV])).toEqual(
        db.map((d: any) => [Number(d.drive_id), text(d.ltft_mean), text(d.max_coolant_c), text(d.warmup_s), text(d.mean_running_v)]),
      );
      const hottest = db.reduce((a: any, b: any) => (b.max_coolant_c > a.max_coolant_c ? b : a));
      expect(Number(hottest.max_coolant_c)).toBeGreaterThan(115);
      expect(rows.filter((r) => r.odd.includes("maxCoolantC")).map((r) => r.drive)).toEqual([Number(hottest.drive_id)]);
      // One chart per metric, drawn from the table.
      expect(await v.page.locator('section[data-device="pi-c"] .trend-charts .chart canvas').count()).toBe(5);
    });
  });

  test("the overview should show each device's last drive, drives and new DTCs in the feed, and waiting for Ollama, not failed", async () => {
    // An analysis that failed and whose job is queued again: what the worker leaves while Ollama is away.
    const [job] = await q("SELECT job_id, device_id, DATE_FORMAT(drive_start, '%Y-%m-%d %H:%i:%s.%f') AS s, DATE_FORMAT(drive_end, '%Y-%m-%d %H:%i:%s.%f') AS e FROM analysis_jobs WHERE device_id = 'pi-c' AND state = 'pending' LIMIT 1");
    const made = await q("INSERT INTO analysis_history (device_id, drive_start, drive_end, model, status, triggered_by, created_at, error_message) VALUES ('pi-c', ?, ?, 'gemma2:2b', 'failed', 'auto', NOW(), 'Ollama unavailable')", [job.s, job.e]);
    await q("UPDATE analysis_jobs SET analysis_id = ? WHERE job_id = ?", [made.insertId, job.job_id]);
    await inBrowser("overview drives", async (v) => {
      await signIn(v.page, ADMIN_KEY);
      const [last] = await q("SELECT drive_id FROM drives WHERE source_device = 'pi-c' ORDER BY drive_start DESC LIMIT 1");
      const card = v.page.locator('article[data-device="pi-c"]');
      expect(await card.locator('[data-field="last-drive"] a').getAttribute("href")).toBe(`/drives/pi-c/${last.drive_id}`);
      expect(await card.locator('[data-field="last-drive"]').innerText()).toContain("waiting for Ollama");
      expect(await card.locator('[data-field="last-analysis"]').innerText()).toContain("waiting for Ollama");
      expect(await card.locator('[data-field="queue"]').innerText()).not.toContain("failed");
      expect(await v.page.locator('[data-field="feed"] li[data-kind="drive"][data-device="pi-c"]').count()).toBeGreaterThan(0);
      expect(await v.page.locator('[data-field="feed"] li[data-kind="new DTC"][data-device="pi-a"]').count()).toBeGreaterThan(0);
    });
  });

  test("a device session should see only its own drives and trends, and get 404 for another device's", async () => {
    await inBrowser("drives device session", async (v) => {
      await signIn(v.page, dash.pis["pi-b"]!.key, "/drives");
      expect(new Set((await tableRows(v, '[data-field="drives"]')).map((r) => r.device))).toEqual(new Set(["pi-b"]));
      v.expectProblem(/status of 404/);
      for (const path of ["/drives?device=pi-a", "/trends?device=pi-a"]) {
        expect({ path, status: (await v.page.goto(path))!.status() }).toEqual({ path, status: 404 });
      }
    });
  });
});

describe.skipIf(!run)("the sync history in chromium", () => {
  test("should list the unmapped table and the unknown column the Pi's sync brought", async () => {
    await inBrowser("kept unknown", async (v) => {
      await signIn(v.page, ADMIN_KEY, "/sync-history");
      const table = v.page.locator('[data-field="unmapped-tables"] tr[data-device="pi-b"][data-table="knock_log"]');
      const [kept] = await q("SELECT COUNT(*) AS n FROM unmapped_rows WHERE source_device = 'pi-b' AND table_name = 'knock_log'");
      expect(Number(kept.n)).toBe(2);
      expect(Number(await table.locator('[data-field="rows"]').getAttribute("data-value"))).toBe(2);
      expect(await v.page.locator('[data-field="unknown-columns"] tr[data-device="pi-b"][data-table="realtime_data"][data-column="boost_kpa"]').count()).toBe(1);
      // pi-a brought nothing unknown.
      expect(await v.page.locator('[data-field="kept-unknown"] tr[data-device="pi-a"]').count()).toBe(0);
    });
  });
});

describe.skipIf(!run)("GET /api/v1/drives/{deviceId}/{driveId}/series and /stats", () => {
  const get = async (path: string) => {
    const res = await dash.app.request(path, { headers: { "x-api-key": ADMIN_KEY } });
    return { status: res.status, body: (await res.json()) as any };
  };

  test("should clamp a window to the drive, default to the drive's parameters, and name bad fields", async () => {
    const wide = await get(`/api/v1${drivePath()}/series?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&parameters=RPM&points=100`);
    expect(wide.status).toBe(200);
    expect([wide.body.from, wide.body.to]).toEqual([new Date(drive.start).toISOString(), new Date(drive.end).toISOString()]);
    expect(Object.keys(wide.body.series)).toEqual(["RPM"]);
    expect(wide.body.series.RPM.t.length).toBeLessThanOrEqual(100);
    const all = await get(`/api/v1${drivePath()}/series?points=100`);
    expect(Object.keys(all.body.series).sort()).toEqual(Object.keys(await counts(drive.start, drive.end)).sort());
    const stats = await get(`/api/v1${drivePath()}/stats`);
    expect(Object.fromEntries(stats.body.parameters.map((p: any) => [p.parameter, p.count]))).toEqual(await counts(drive.start, drive.end));
    for (const [query, field] of [
      ["points=5", "points"],
      ["from=yesterday", "from"],
      ["from=2100-01-01T00:00:00Z", "from"],
    ] as const) {
      const res = await get(`/api/v1${drivePath()}/series?${query}`);
      expect({ query, status: res.status }).toEqual({ query, status: 422 });
      expect(res.body.errors.map((e: any) => e.path)).toEqual([field]);
    }
    expect((await get("/api/v1/drives/pi-a/999999/series")).status).toBe(404);
    expect((await get("/api/v1/drives/pi-a/x/stats")).status).toBe(422);
  });
});
