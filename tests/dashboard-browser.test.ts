/**
 * The dashboard in a real browser: Debian's chromium (playwright-core) on the
 * app served on loopback, on a real MariaDB fed by two simulated Pis through
 * the real agent. Every page's numbers are checked against the database; no
 * request may leave 127.0.0.1 and the console must stay clean; a failing
 * test leaves a screenshot in the run's temp dir.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { appendFileSync, readFileSync } from "node:fs";
import { LTTB } from "downsample";
import type { Browser } from "playwright-core";
import { bytes } from "../functions/pages/components/format.tsx";
import { listBackups } from "../lib/backup/store.ts";
import { freePort } from "../lib/db/mariadb-server.ts";
import { ADMIN_KEY, chromiumAvailable, launchBrowser, signIn, startDashboard, visit, type Dashboard, type Visit } from "./helpers/browser.ts";
import { sqliteExec, tempDir } from "./helpers/client-agent.ts";
import { ENTRIES, health, killStarted, start } from "./helpers/server-process.ts";

const run = chromiumAvailable();
let dash: Dashboard;
let browser: Browser;
let evil: ReturnType<typeof Bun.serve>;

beforeAll(async () => {
  if (!run) return;
  dash = await startDashboard([
    {
      deviceId: "pi-a",
      simulate: { drives: 2, minutes: 3, overheat: { drive: 2, atMinute: 1, minutes: 2, peakC: 118 } },
      // A reading the server refuses: the agent quarantines it and reports it.
      prepare: (db) => sqliteExec(db, "INSERT INTO realtime_data (timestamp, parameter_name, value, unit) VALUES ('not a time', 'RPM', 900, 'rpm')"),
    },
    { deviceId: "pi-b", simulate: { drives: 1, minutes: 2, seed: 7 } },
  ]);
  browser = await launchBrowser();
  // Another origin on the same host (a different port): the page a forged form comes from.
  evil = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => new Response(forgery(new URL(req.url).searchParams), { headers: { "content-type": "text/html" } }) });
});

afterAll(async () => {
  if (!run) return;
  await killStarted();
  await browser?.close();
  evil?.stop(true);
  await dash?.stop();
});

/** A page on another origin that posts a form to the dashboard as soon as it loads. */
function forgery(q: URLSearchParams): string {
  const fields = [...q.entries()].filter(([k]) => k !== "action").map(([k, v]) => `<input name="${k}" value="${v}">`);
  return `<!doctype html><form id="f" method="post" action="${dash.url}${q.get("action")}">${fields.join("")}</form><script>document.getElementById("f").submit()</script>`;
}

const inBrowser = (name: string, fn: (v: Visit) => Promise<void>, timezoneId?: string) =>
  visit(browser, { baseUrl: dash.url, dir: dash.tmp.dir, name, timezoneId, onFailure: dash.keep }, fn);

const q = (sql: string, values: unknown[] = []) => dash.db.query(sql, values);
const n = (v: unknown) => Number(v);
/** The number a page shows in `[data-field=…]` (Count's data-value) inside `scope`. */
const shown = async (v: Visit, scope: string, field: string) => n(await v.page.locator(`${scope} [data-field="${field}"]`).first().getAttribute("data-value"));

describe.skipIf(!run)("the dashboard in chromium", () => {
  test("without a session every page should lead to /login and show no device", async () => {
    await inBrowser("no session", async (v) => {
      for (const path of ["/", "/backups", "/sync-history", "/?device=pi-a"]) {
        await v.page.goto(path);
        expect(new URL(v.page.url()).pathname + new URL(v.page.url()).search).toBe(`/login?next=${encodeURIComponent(path)}`);
        const text = await v.page.locator("body").innerText();
        expect(text).not.toContain("pi-a");
        expect(text).not.toContain("pi-b");
      }
      const api = await v.context.request.get("/api/v1/devices/pi-a/status");
      expect(api.status()).toBe(401);
    });
  });

  test("a wrong key should be refused, the admin key should sign in, and signing out should end the session", async () => {
    await inBrowser("sign in", async (v) => {
      await v.page.goto("/login");
      await v.page.fill("input[name=key]", "this-is-not-the-key-000");
      v.expectProblem(/status of 401/);
      await Promise.all([v.page.waitForLoadState("load"), v.page.click("button[type=submit]")]);
      expect(await v.page.locator('[data-field="problem"]').innerText()).toContain("not valid");
      await signIn(v.page, ADMIN_KEY, "/sync-history");
      expect(await v.page.locator('[data-field="who"]').innerText()).toBe("admin");
      const cookie = (await v.context.cookies()).find((c) => c.name === "obd2_session")!;
      expect({ httpOnly: cookie.httpOnly, sameSite: cookie.sameSite, secure: cookie.secure, path: cookie.path }).toEqual({ httpOnly: true, sameSite: "Strict", secure: false, path: "/" });
      // Scripts cannot read it.
      expect(await v.page.evaluate(() => document.cookie)).not.toContain("obd2_session");
      await Promise.all([v.page.waitForURL((u) => u.pathname === "/login"), v.page.click("text=Sign out")]);
      await v.page.goto("/");
      expect(new URL(v.page.url()).pathname).toBe("/login");
    });
  });

  test("the overview should show each device's numbers as the database has them, times in the browser's zone", async () => {
    // Tokyo has no daylight saving: its day starts at 15:00 UTC the day before.
    const now = Date.now();
    const tokyo = new Date(now + 9 * 3600_000);
    const midnight = Date.UTC(tokyo.getUTCFullYear(), tokyo.getUTCMonth(), tokyo.getUTCDate()) - 9 * 3600_000;
    // A batch that finished a minute before Tokyo's midnight counts in all, but not today.
    const yesterday = new Date(midnight - 60_000).toISOString().replace("T", " ").replace("Z", "");
    await q("INSERT INTO sync_history (batch_id, device_id, started_at, completed_at, tables_synced, rows_inserted, rows_updated, status) VALUES ('tokyo-yesterday', 'pi-a', ?, ?, '{}', 7, 0, 'success')", [yesterday, yesterday]);
    await inBrowser(
      "overview",
      async (v) => {
        await signIn(v.page, ADMIN_KEY);
        // The first page set the tz cookie; the next one counts "today" in Tokyo.
        await v.page.reload();
        for (const device of ["pi-a", "pi-b"]) {
          const card = `article[data-device="${device}"]`;
          const [sums] = await q(
            "SELECT SUM(rows_inserted + rows_updated) AS total, SUM(CASE WHEN completed_at >= ? THEN rows_inserted + rows_updated ELSE 0 END) AS today FROM sync_history WHERE device_id = ?",
            [new Date(midnight).toISOString().replace("T", " ").replace("Z", ""), device],
          );
          const [status] = await q("SELECT pending_rows, quarantined_rows FROM device_status WHERE device_id = ?", [device]);
          const [jobs] = await q("SELECT COUNT(*) AS n FROM analysis_jobs WHERE device_id = ? AND state = 'pending'", [device]);
          const [backup] = await listBackups(dash.backupDir, { deviceId: device, type: "database" });
          expect({
            device,
            today: await shown(v, card, "rows-today"),
            total: await shown(v, card, "rows-total"),
            pending: await shown(v, card, "pending"),
            quarantined: await shown(v, card, "quarantined"),
            queued: await shown(v, card, "queue-pending"),
            backup: await v.page.locator(`${card} [data-field="backup-size"]`).innerText(),
            verified: await v.page.locator(`${card} [data-field="last-backup"]`).innerText(),
          }).toEqual({
            device,
            today: n(sums.today),
            total: n(sums.total),
            pending: n(status.pending_rows),
            quarantined: n(status.quarantined_rows),
            queued: n(jobs.n),
            backup: bytes(backup!.sizeBytes),
            verified: expect.stringContaining("verified") as unknown as string,
          });
        }
        expect(await shown(v, 'article[data-device="pi-a"]', "rows-total")).toBe((await shown(v, 'article[data-device="pi-a"]', "rows-today")) + 7);
        expect(await shown(v, 'article[data-device="pi-a"]', "quarantined")).toBe(1);
        // The feed: pi-a's overheat alerts and both devices' syncs.
        const [alerts] = await q("SELECT COUNT(*) AS n FROM alert_log WHERE source_device = 'pi-a'");
        expect(n(alerts.n)).toBeGreaterThan(0);
        expect(await v.page.locator('ul.feed li[data-kind="alert"][data-device="pi-a"]').count()).toBe(n(alerts.n));
        // pi-b's push sent a batch per table: one sync in the feed, with all their rows.
        const [b] = await q("SELECT SUM(rows_inserted) AS inserted, COUNT(*) AS batches FROM sync_history WHERE device_id = 'pi-b'");
        expect(n(b.batches)).toBeGreaterThan(1);
        const syncsB = v.page.locator('ul.feed li[data-kind="sync"][data-device="pi-b"]');
        expect(await syncsB.count()).toBe(1);
        expect(await syncsB.innerText()).toContain(`${n(b.inserted).toLocaleString("en-US")} rows inserted`);
        // A time in Tokyo's clock, with UTC in its tooltip.
        const time = v.page.locator('article[data-device="pi-b"] [data-field="last-sync"] time');
        const utc = new Date((await time.getAttribute("datetime"))!);
        expect(await time.getAttribute("title")).toBe(`${utc.toISOString().slice(0, 19).replace("T", " ")} UTC`);
        const h = (utc.getUTCHours() + 9) % 24;
        const clock = `${h % 12 || 12}:${String(utc.getUTCMinutes()).padStart(2, "0")}:${String(utc.getUTCSeconds()).padStart(2, "0")} ${h < 12 ? "AM" : "PM"}`;
        expect(await time.innerText()).toContain(clock);
        expect(await v.page.locator('[data-field="mysql"]').innerText()).toBe("up");
        expect(await v.page.locator('[data-field="ollama"]').innerText()).toBe("down");
      },
      "Asia/Tokyo",
    );
    await q("DELETE FROM sync_history WHERE batch_id = 'tokyo-yesterday'");
  });

  test("the backups page should list each backup with its size, sha256 and check, and download the same bytes", async () => {
    await inBrowser("backups", async (v) => {
      await signIn(v.page, ADMIN_KEY, "/backups");
      for (const device of ["pi-a", "pi-b"]) {
        const stored = await listBackups(dash.backupDir, { deviceId: device });
        const rows = v.page.locator(`section[data-device="${device}"] tr[data-backup]`);
        expect(await rows.count()).toBe(stored.length);
        for (const [i, b] of stored.entries()) {
          const row = rows.nth(i);
          expect({
            name: await row.getAttribute("data-backup"),
            size: n(await row.locator('[data-field="size"]').getAttribute("data-value")),
            sha256: await row.locator('[data-field="sha256"]').innerText(),
            verified: await row.locator('[data-field="verified"]').innerText(),
          }).toEqual({ name: b.filename, size: b.sizeBytes, sha256: b.sha256!, verified: "verified at upload" });
        }
      }
      const [download] = await Promise.all([v.page.waitForEvent("download"), v.page.locator('section[data-device="pi-b"] [data-field="download"]').first().click()]);
      const [b] = await listBackups(dash.backupDir, { deviceId: "pi-b" });
      expect(download.suggestedFilename()).toBe(b!.filename);
      const file = readFileSync((await download.path())!);
      expect(createHash("sha256").update(file).digest("hex")).toBe(b!.sha256!);
    });
  });

  test("Verify should re-read a backup on disk: a changed file shows a digest mismatch", async () => {
    const [b] = await listBackups(dash.backupDir, { deviceId: "pi-b", type: "database" });
    await inBrowser("verify", async (v) => {
      await signIn(v.page, ADMIN_KEY, "/backups");
      const row = () => v.page.locator(`tr[data-backup="${b!.filename}"]`);
      await Promise.all([v.page.waitForURL((u) => u.searchParams.get("device") === "pi-b"), row().locator("button", { hasText: "Verify" }).click()]);
      expect(await row().locator('[data-field="verified"]').innerText()).toStartWith("verified on disk");
      appendFileSync(`${dash.backupDir}/pi-b/database/${b!.filename}`, "bit rot");
      await Promise.all([v.page.waitForLoadState("load"), row().locator("button", { hasText: "Verify" }).click()]);
      expect(await row().locator('[data-field="verified"]').innerText()).toStartWith("digest mismatch");
      const [check] = await q("SELECT matched, method FROM backup_checks WHERE filename = ?", [b!.filename]);
      expect({ matched: n(check.matched), method: check.method }).toEqual({ matched: 0, method: "rehash" });
    });
  });

  test("sync history should list the batches as sync_history has them, and the Pi's quarantined row with the server's reason", async () => {
    await inBrowser("sync history", async (v) => {
      await signIn(v.page, ADMIN_KEY, "/sync-history?device=pi-a");
      const batches: { batch_id: string; status: string; rows_inserted: number; rows_updated: number }[] = await q(
        "SELECT batch_id, status, rows_inserted, rows_updated FROM sync_history WHERE device_id = 'pi-a' ORDER BY started_at DESC, batch_id DESC LIMIT 50",
      );
      const rows = v.page.locator("tr[data-batch]");
      expect(await rows.count()).toBe(batches.length);
      for (const [i, b] of batches.entries()) {
        const row = rows.nth(i);
        expect({
          batch: await row.getAttribute("data-batch"),
          status: await row.locator('[data-field="status"]').innerText(),
          inserted: (await row.locator('[data-field="inserted"]').innerText()).replaceAll(",", ""),
          updated: (await row.locator('[data-field="updated"]').innerText()).replaceAll(",", ""),
        }).toEqual({ batch: b.batch_id, status: b.status, inserted: String(b.rows_inserted), updated: String(b.rows_updated) });
      }
      const quarantine = v.page.locator('[data-device="pi-a"] table[data-field="quarantine"] tbody tr');
      expect(await quarantine.count()).toBe(1);
      const cells = await quarantine.locator("td").allInnerTexts();
      expect(cells[0]).toBe("realtime_data");
      expect(cells[2]).toContain("timestamp");
    });
  });

  test("a device's session should see only its device; another device's pages and data are 404", async () => {
    const [other] = await listBackups(dash.backupDir, { deviceId: "pi-b", type: "database" });
    await inBrowser("device session", async (v) => {
      await signIn(v.page, dash.pis["pi-a"]!.key);
      expect(await v.page.locator('[data-field="who"]').innerText()).toBe("device pi-a");
      expect(await v.page.locator("article[data-device]").evaluateAll((els) => els.map((e) => e.getAttribute("data-device")))).toEqual(["pi-a"]);
      expect(await v.page.locator('ul.feed li[data-device="pi-b"]').count()).toBe(0);
      v.expectProblem(/status of 404/);
      for (const path of ["/?device=pi-b", "/backups?device=pi-b", "/sync-history?device=pi-b"]) {
        const res = await v.page.goto(path);
        expect({ path, status: res!.status() }).toEqual({ path, status: 404 });
        expect(await v.page.locator("body").innerText()).not.toContain("pi-b");
      }
      const w = "from=2026-04-19T00:00:00Z&to=2026-04-20T00:00:00Z";
      for (const path of [
        "/api/v1/devices/pi-b/status",
        `/api/v1/devices/pi-b/series?${w}`,
        `/api/v1/devices/pi-b/readings.csv?${w}`,
        `/api/v1/backups/pi-b/database/${other!.filename}`,
        "/api/v1/backups?deviceId=pi-b",
        "/api/v1/analyses?deviceId=pi-b",
      ]) {
        const res = await v.context.request.get(path);
        expect({ path, status: res.status() }).toEqual({ path, status: 404 });
      }
      for (const path of ["/api/v1/devices/pi-a/status", `/api/v1/devices/pi-a/series?${w}`, "/api/v1/backups"]) {
        expect({ path, status: (await v.context.request.get(path)).status() }).toEqual({ path, status: 200 });
      }
      const listed = (await (await v.context.request.get("/api/v1/backups")).json()) as { backups: { deviceId: string }[] };
      expect(new Set(listed.backups.map((b) => b.deviceId))).toEqual(new Set(["pi-a"]));
    });
  });

  test("the CSRF check should refuse a forged form from another origin and a post without its token", async () => {
    const [b] = await listBackups(dash.backupDir, { deviceId: "pi-a", type: "database" });
    await inBrowser("csrf", async (v) => {
      await signIn(v.page, ADMIN_KEY);
      v.expectProblem(/status of 403/);
      const forge = async (params: Record<string, string>) => {
        await v.page.goto(`http://127.0.0.1:${evil.port}/?${new URLSearchParams(params)}`);
        await v.page.waitForURL((u) => u.origin === dash.url);
        return v.page.locator('[data-field="refused"]').innerText();
      };
      expect(await forge({ action: "/logout" })).toContain("Cross-site request refused");
      expect(await forge({ action: "/backups/verify", deviceId: "pi-a", type: "database", filename: b!.filename, _csrf: "guessed" })).toContain("Cross-site request refused");
      // Still signed in, and nothing was checked.
      await v.page.goto("/");
      expect(await v.page.locator('[data-field="who"]').innerText()).toBe("admin");
      expect(await q("SELECT * FROM backup_checks WHERE filename = ? AND method = 'rehash'", [b!.filename])).toEqual([]);
      // From the dashboard's own page but without the token: refused too.
      const bare = await v.page.evaluate(async () => (await fetch("/logout", { method: "POST", body: new URLSearchParams({ x: "1" }) })).status);
      expect(bare).toBe(403);
      // The API by cookie: the page script's helper adds the token; a bare fetch does not.
      const report = { agentVersion: "browser", tables: [], quarantine: [] };
      const statuses = await v.page.evaluate(async (body) => {
        const post = (f: typeof fetch) => f("/api/v1/devices/pi-b/status", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
        const api = (window as unknown as { obd2: { api: typeof fetch } }).obd2.api;
        return [(await post(fetch)).status, (await post(api)).status];
      }, report);
      expect(statuses).toEqual([403, 200]);
    });
  });

  test("the CSV of a window should hold exactly its readings, and the series should be the reference LTTB of them", async () => {
    const [first] = await q("SELECT DATE_FORMAT(MIN(timestamp), '%Y-%m-%dT%H:%i:%s.%fZ') AS a, DATE_FORMAT(MAX(timestamp), '%Y-%m-%dT%H:%i:%s.%fZ') AS b FROM realtime_data WHERE source_device = 'pi-a' AND drive_id = 1");
    const w = `from=${first.a}&to=${first.b}`;
    await inBrowser("csv and series", async (v) => {
      await signIn(v.page, ADMIN_KEY);
      const csv = await (await v.context.request.get(`/api/v1/devices/pi-a/readings.csv?${w}`)).text();
      const lines = csv.trimEnd().split("\r\n");
      const db: any[] = await q(
        `SELECT DATE_FORMAT(timestamp, '%Y-%m-%dT%H:%i:%s.%fZ') AS ts, parameter_name, value, unit, profile_id, drive_id, data_source, source_id FROM realtime_data
         WHERE source_device = 'pi-a' AND timestamp BETWEEN ? AND ? ORDER BY timestamp, parameter_name, value, id`,
        [first.a.replace("T", " ").replace("Z", ""), first.b.replace("T", " ").replace("Z", "")],
      );
      expect(lines[0]).toBe("timestamp,parameter_name,value,unit,profile_id,drive_id,data_source,source_id");
      expect(lines.slice(1)).toEqual(db.map((r) => [r.ts, r.parameter_name, r.value, r.unit ?? "", r.profile_id ?? "", r.drive_id ?? "", r.data_source ?? "", r.source_id].join(",")));
      const rows: { us: bigint; value: number }[] = await q(
        `SELECT TIMESTAMPDIFF(MICROSECOND, '1970-01-01', timestamp) AS us, value FROM realtime_data WHERE source_device = 'pi-a' AND parameter_name = 'RPM'
         AND timestamp BETWEEN ? AND ? ORDER BY timestamp, value, id`,
        [first.a.replace("T", " ").replace("Z", ""), first.b.replace("T", " ").replace("Z", "")],
      );
      const series = (await (await v.context.request.get(`/api/v1/devices/pi-a/series?${w}&parameters=RPM&points=40`)).json()) as { series: { RPM: { t: number[]; v: number[] } } };
      const reference = (LTTB(rows.map((r) => [Number(r.us) / 1000, r.value]), 40) as [number, number][]).map(([t, y]) => [Math.round(t), y]);
      expect(rows.length).toBeGreaterThan(40);
      expect(series.series.RPM.t.map((t, i) => [t, series.series.RPM.v[i]])).toEqual(reference);
    });
  });

  test("a failing browser test should leave a full-page screenshot in its temp dir", async () => {
    const dir = tempDir("obd2-screenshot-");
    try {
      const failing = visit(browser, { baseUrl: dash.url, dir: dir.dir, name: "deliberately failing" }, async (v) => {
        await v.page.goto("/login");
        throw new Error("the test failed");
      });
      await expect(failing).rejects.toThrow("the test failed");
      const png = readFileSync(dir.path("deliberately_failing.png"));
      expect(png.subarray(1, 4).toString()).toBe("PNG");
    } finally {
      dir.remove();
    }
  });

  test("the Node entry should serve the same dashboard", async () => {
    const port = await freePort();
    const server = start(ENTRIES["the Node entry"], dash.tmp.dir, {
      DATABASE_URL: dash.db.url,
      API_KEY: ADMIN_KEY,
      PORT: String(port),
      BACKUP_DIR: dash.backupDir,
      OLLAMA_BASE_URL: "http://127.0.0.1:9",
      LOG_LEVEL: "warn",
    });
    await health(port, server);
    await visit(browser, { baseUrl: `http://127.0.0.1:${port}`, dir: dash.tmp.dir, name: "node entry", onFailure: dash.keep }, async (v) => {
      await signIn(v.page, ADMIN_KEY);
      const [sums] = await q("SELECT SUM(rows_inserted + rows_updated) AS total FROM sync_history WHERE device_id = 'pi-b'");
      expect(await shown(v, 'article[data-device="pi-b"]', "rows-total")).toBe(n(sums.total));
      const css = await v.context.request.get((await v.page.locator('link[rel="stylesheet"]').getAttribute("href"))!);
      expect(css.headers()["cache-control"]).toBe("public, max-age=31536000, immutable");
    });
    server.proc.kill("SIGTERM");
    expect(await server.exited).toBe(0);
  });
});
