/**
 * For the dashboard's browser tests: a real server on loopback (the app
 * in-process on a real port, or an entry as a subprocess) on this file's test
 * database, fed by simulated Pis through the real agent (push, backup, and
 * its status report); Debian's chromium driven by playwright-core; and a page
 * wrapper that records every request and console error, fails the test when
 * a request leaves 127.0.0.1 or the console shows an error, and saves a
 * screenshot in the run's temp dir when the test fails (the dir is then kept).
 */
import { expect } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { statusReport, sendStatus } from "../../client/status-report.ts";
import { openDb } from "../../client/sqlite.ts";
import type { SimulateOptions } from "../../scripts/simulate/index.ts";
import { API_KEY, issueKey } from "./app.ts";
import { piDatabase, runAgent, startServer, tempDir, type TempDir } from "./client-agent.ts";

const CHROMIUM = "/usr/bin/chromium";
/** As root in a sandbox with no network: no sandbox, no GPU, and none of Chromium's own calls home. */
const FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/** Whether browser tests can run here; CI installs chromium (.ci/run), so there a missing one fails instead. */
export function chromiumAvailable(): boolean {
  const here = existsSync(CHROMIUM);
  if (!here && !process.env.CI) console.warn(`skipping browser tests: ${CHROMIUM} is not installed (apt-get install -y chromium)`);
  return here || Boolean(process.env.CI);
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
}

type Pi = { deviceId: string; key: string; db: string };

export type Dashboard = Awaited<ReturnType<typeof startServer>> & {
  tmp: TempDir;
  backupDir: string;
  pis: Record<string, Pi>;
  /** Keep the temp dir (a test failed and left its screenshot there). */
  keep(): void;
};

/** Runs the agent for `pi`, failing with its output unless it exits as expected. */
async function agent(server: { url: string }, pi: Pi, cwd: string, args: string[], expectCode = 0) {
  const run = await runAgent([...args, "--db", pi.db, "--server", server.url, "--device-id", pi.deviceId], { cwd, env: { COMPANION_API_KEY: pi.key } });
  if (run.code !== expectCode) throw new Error(`obd2-sync ${args.join(" ")} for ${pi.deviceId} exited ${run.code}:\n${run.stdout}\n${run.stderr}`);
  return run;
}

/** The agent's status report, sent as the agent will send it after each push. */
async function reportStatus(server: { url: string }, pi: Pi) {
  const db = openDb(pi.db, { readonly: true });
  let report;
  try {
    report = statusReport(db);
  } finally {
    db.close();
  }
  const sent = await sendStatus({ serverUrl: server.url, apiKey: pi.key, deviceId: pi.deviceId, timeoutMs: 10_000 }, report);
  if (sent !== true) throw new Error(`status report for ${pi.deviceId} refused: ${sent}`);
  return report;
}

/**
 * The app on a real port with each device's simulated drives pushed by the
 * agent with its own device key, a database backup uploaded, and its status
 * reported. `prepare` may change a Pi's file before its push.
 */
export async function startDashboard(
  devices: { deviceId: string; simulate: Omit<SimulateOptions, "out">; prepare?: (dbPath: string) => void; pushExit?: number }[],
): Promise<Dashboard> {
  const tmp = tempDir("obd2-dashboard-");
  const backupDir = tmp.path("backups");
  const server = await startServer({ BACKUP_DIR: backupDir });
  let keep = false;
  const pis: Record<string, Pi> = {};
  for (const d of devices) {
    const pi: Pi = { deviceId: d.deviceId, key: await issueKey(server, d.deviceId), db: tmp.path(`${d.deviceId}.db`) };
    pis[d.deviceId] = pi;
    piDatabase(pi.db, d.simulate);
    d.prepare?.(pi.db);
    // A quarantined row (what `prepare` usually adds) makes push exit 1: something was left unsynced.
    await agent(server, pi, tmp.dir, ["push"], d.pushExit ?? (d.prepare ? 1 : 0));
    await agent(server, pi, tmp.dir, ["backup"]);
    await reportStatus(server, pi);
  }
  return {
    ...server,
    tmp,
    backupDir,
    pis,
    keep: () => (keep = true),
    async stop() {
      await server.stop();
      if (keep) console.error(`kept ${tmp.dir} (screenshots of failed tests)`);
      else tmp.remove();
    },
  };
}

export const ADMIN_KEY = API_KEY;

const isLocal = (url: string) => {
  const u = new URL(url);
  return u.protocol === "data:" || u.protocol === "about:" || u.hostname === "127.0.0.1";
};

export type Visit = {
  page: Page;
  context: BrowserContext;
  /** Every URL the page requested. */
  requests: string[];
  /** Console errors and uncaught page errors. */
  problems: string[];
  /** Console errors the test expects (a 404 it asked for), so they do not fail it. */
  expectProblem(pattern: RegExp): void;
};

/**
 * Runs `fn` with a fresh browser context on `baseUrl` (in `timezoneId`,
 * default UTC). Afterwards no request may have left 127.0.0.1 and the
 * console must be free of unexpected errors. On any failure a full-page
 * screenshot goes to `dir`/<name>.png.
 */
export async function visit(browser: Browser, o: { baseUrl: string; dir: string; name: string; timezoneId?: string; onFailure?: () => void }, fn: (v: Visit) => Promise<void>): Promise<void> {
  const context = await browser.newContext({ baseURL: o.baseUrl, timezoneId: o.timezoneId ?? "UTC", acceptDownloads: true });
  const requests: string[] = [];
  const problems: string[] = [];
  const expected: RegExp[] = [];
  context.on("request", (r) => requests.push(r.url()));
  // Nothing may leave the box: such a request is recorded (and fails the test), never sent.
  await context.route("**/*", (route) => (isLocal(route.request().url()) ? route.continue() : route.abort()));
  const page = await context.newPage();
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(m.text());
  });
  page.on("pageerror", (err) => problems.push(String(err)));
  try {
    await fn({ page, context, requests, problems, expectProblem: (p) => expected.push(p) });
    expect(requests.filter((u) => !isLocal(u))).toEqual([]);
    expect(problems.filter((p) => !expected.some((e) => e.test(p)))).toEqual([]);
  } catch (err) {
    const shot = join(o.dir, `${o.name.replace(/[^\w.-]+/g, "_").slice(0, 80)}.png`);
    await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
    console.error(`screenshot of the failed page: ${shot}`);
    o.onFailure?.();
    throw err;
  } finally {
    await context.close();
  }
}

/** Signs in on /login with `key`, and waits for the page it leads to. */
export async function signIn(page: Page, key: string, path = "/") {
  await page.goto(`/login?next=${encodeURIComponent(path)}`);
  await page.fill("input[name=key]", key);
  await Promise.all([page.waitForURL((u) => u.pathname + u.search === path), page.click("button[type=submit]")]);
}
