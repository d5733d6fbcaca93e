/**
 * `npm run bench:hostile`: what hostile load costs the real server, and
 * whether it still answers others promptly. Needs DATABASE_URL (a database it
 * may wipe and migrate). Each scenario gets a fresh server subprocess, so its
 * memory figures start from the same baseline:
 *
 * - empty-rows: one 9.9 MB /sync body of 3.3 million empty rows
 *   (`{"rows":[{},{},…]}`, compact JSON) from pi-a;
 * - burst: 20 concurrent 8 MB syncs from pi-a, then a one-row sync from pi-b;
 * - analyses: 30 concurrent /analyze calls from pi-a (over a drive of
 *   --readings readings; Ollama unreachable), then pi-b's /sync/state;
 * - held: 50 concurrent 9.5 MB syncs from 10 devices.
 *
 * Throughout, a second client pings GET /api/v1/ping every 50 ms. Server RSS
 * is sampled from /proc, from a baseline taken after warm-up requests (a
 * valid and a refused sync, a device key's lookup), so what the figures show
 * is the scenario, not code loaded for the first time. Each scenario
 * prints one line of figures; the last line gathers the headline ones. On a
 * shared machine, read the pings next to idle_ping_*: the same pings to the
 * idle server just before, which show what the scheduler alone costs.
 */
import { parseArgs } from "node:util";
import * as mariadb from "mariadb";
import { newDeviceKey } from "../lib/http/auth.ts";
import { loadDatabaseUrl } from "../lib/config.ts";
import { connectionOptions } from "../lib/db/pools.ts";
import { migrate } from "../lib/db/migrate.ts";
import { TABLES } from "../lib/tables.ts";
import { rssMb, startServer, watchPeakRss, type BenchServer } from "./server.ts";

const { values: args } = parseArgs({ options: { readings: { type: "string", default: "300000" }, only: { type: "string" } } });
const READINGS = Number(args.readings);
const url = loadDatabaseUrl();
if (!url) {
  console.error("Error: bench:hostile needs DATABASE_URL (a database it may wipe and migrate)");
  process.exit(2);
}
const API_KEY = "bench-hostile-admin-key-0123456789";
const DEVICES = ["pi-a", "pi-b"] as const;
const START = new Date("2026-04-19T08:00:00Z");

await migrate(url);
const conn = await mariadb.createConnection(connectionOptions(url));
const keys: Record<string, string> = {};

async function wipe() {
  for (const t of TABLES) await conn.query(`TRUNCATE TABLE \`${t.name}\``);
  for (const t of ["sync_history", "analysis_history", "analysis_jobs", "devices"]) await conn.query(`DELETE FROM \`${t}\``);
  for (const device of DEVICES) {
    const { key, hash } = newDeviceKey(device);
    keys[device] = key;
    await conn.query("INSERT INTO devices (device_id, api_key_hash) VALUES (?, ?)", [device, hash]);
  }
}

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))] ?? 0;
const max = (xs: number[]) => xs.reduce((m, x) => Math.max(m, x), 0);
const tally = (statuses: number[]) =>
  Object.entries(statuses.reduce<Record<number, number>>((t, s) => ({ ...t, [s]: (t[s] ?? 0) + 1 }), {}))
    .map(([s, n]) => `${s}x${n}`)
    .join(",");

type Answer = { status: number; ms: number; body: string };

async function post(base: string, path: string, key: string, body: Uint8Array<ArrayBuffer> | string): Promise<Answer> {
  const t0 = performance.now();
  try {
    const res = await fetch(`${base}${path}`, { method: "POST", headers: { "x-api-key": key, "content-type": "application/json" }, body });
    const text = await res.text();
    return { status: res.status, ms: performance.now() - t0, body: text };
  } catch (err) {
    return { status: 0, ms: performance.now() - t0, body: String(err) };
  }
}

async function get(base: string, path: string, key: string): Promise<Answer> {
  const t0 = performance.now();
  const res = await fetch(`${base}${path}`, { headers: { "x-api-key": key } });
  return { status: res.status, ms: performance.now() - t0, body: await res.text() };
}

/** Runs `work` on a fresh server while pinging it and sampling its RSS. */
async function scenario<T>(name: string, work: (server: BenchServer) => Promise<T>, prepare?: () => Promise<void>) {
  await wipe();
  await prepare?.();
  const server = await startServer({ DATABASE_URL: url!, API_KEY, LOG_LEVEL: "fatal", OLLAMA_BASE_URL: "http://127.0.0.1:9" });
  try {
    // Warm up the paths the scenarios use (a valid sync, a refused one, a device key's lookup, which
    // loads Prisma's query compiler), so the baseline has their code loaded and compiled.
    await post(server.base, "/api/v1/sync", API_KEY, JSON.stringify({ deviceId: "warm-up", batchId: "warm-up", tables: { realtime_data: { rows: [row(1)] } } }));
    await post(server.base, "/api/v1/sync", API_KEY, JSON.stringify({ deviceId: "warm-up", batchId: "warm-up-bad", tables: { realtime_data: { rows: Array(5000).fill({}) } } }));
    for (const device of DEVICES) await get(server.base, `/api/v1/sync/state?deviceId=${device}`, keys[device]!);
    await Bun.sleep(500);
    const baseline = rssMb(server.pid);
    const ping = async (into: number[]) => {
      const t0 = performance.now();
      await fetch(`${server.base}/api/v1/ping`).then((r) => r.text());
      into.push(performance.now() - t0);
      await Bun.sleep(50);
    };
    // The same pings to the idle server first: on a shared machine, what the scheduler alone costs.
    const idle: number[] = [];
    while (idle.length < 40) await ping(idle);
    const peak = watchPeakRss(server.pid);
    const pings: number[] = [];
    let done = false;
    const pinging = (async () => {
      while (!done) await ping(pings);
    })();
    const t0 = performance.now();
    const result = await work(server).finally(() => (done = true));
    const seconds = (performance.now() - t0) / 1000;
    await pinging;
    const peakMb = peak.stop();
    await Bun.sleep(2000);
    const after = rssMb(server.pid);
    const figures = {
      seconds: seconds.toFixed(1),
      rss_baseline_mb: baseline.toFixed(0),
      rss_growth_mb: (peakMb - baseline).toFixed(0),
      rss_after_mb: after.toFixed(0),
      ping_max_ms: max(pings).toFixed(0),
      ping_p99_ms: quantile(pings, 0.99).toFixed(0),
      ping_p50_ms: quantile(pings, 0.5).toFixed(0),
      pings: pings.length,
      idle_ping_max_ms: max(idle).toFixed(0),
      idle_ping_p99_ms: quantile(idle, 0.99).toFixed(0),
    };
    return { result, figures, print: (extra: Record<string, unknown>) => console.log(`${name}: ${Object.entries({ ...extra, ...figures }).map(([k, v]) => `${k}=${v}`).join(" ")}`) };
  } finally {
    await server.stop();
  }
}

function row(id: number) {
  return { id, timestamp: new Date(START.getTime() + id * 100).toISOString().replace("T", " ").replace("Z", ""), parameter_name: "RPM", value: 800 + (id % 5000) / 3, unit: "rpm", profile_id: "daily", data_source: "real", drive_id: 1 };
}

/** A /sync body of realtime rows from `firstId` on, as close to `bytes` as whole rows allow. */
function syncBody(deviceId: string, batchId: string, firstId: number, bytes: number): Uint8Array<ArrayBuffer> {
  const head = `{"deviceId":${JSON.stringify(deviceId)},"batchId":${JSON.stringify(batchId)},"tables":{"realtime_data":{"rows":[`;
  const parts: string[] = [];
  let size = head.length + 4;
  for (let id = firstId; ; id++) {
    const json = JSON.stringify(row(id));
    if (size + json.length + 1 > bytes) break;
    parts.push(json);
    size += json.length + 1;
  }
  return new Uint8Array(Buffer.from(`${head}${parts.join(",")}]}}}`));
}

const headline: Record<string, unknown> = {};
const run = (name: string) => !args.only || args.only.split(",").includes(name);

if (run("empty-rows")) {
  const body = `{"deviceId":"pi-a","batchId":"m","tables":{"realtime_data":{"rows":[${Array(3_300_000).fill("{}").join(",")}]}}}`;
  const s = await scenario("empty-rows", (server) => post(server.base, "/api/v1/sync", keys["pi-a"]!, body));
  const answer = JSON.parse(s.result.body) as { errors?: unknown[]; detail?: string };
  const more = /\(and (\d+) more\)$/.exec(answer.detail ?? "")?.[1] ?? "0";
  s.print({ body_mb: (body.length / 1e6).toFixed(1), status: s.result.status, problems_listed: answer.errors?.length ?? 0, problems_more: more, response_kb: (s.result.body.length / 1024).toFixed(1) });
  Object.assign(headline, { empty_rows_status: s.result.status, empty_rows_rss_growth_mb: s.figures.rss_growth_mb, empty_rows_ping_max_ms: s.figures.ping_max_ms, empty_rows_ping_p99_ms: s.figures.ping_p99_ms, empty_rows_seconds: s.figures.seconds });
}

if (run("burst")) {
  const bodies = Array.from({ length: 20 }, (_, i) => syncBody("pi-a", `burst-${i}`, 1 + i * 100_000, 8 * 1024 * 1024));
  const s = await scenario("burst", async (server) => {
    const burst = bodies.map((b) => post(server.base, "/api/v1/sync", keys["pi-a"]!, b));
    await Bun.sleep(300);
    const other = await post(server.base, "/api/v1/sync", keys["pi-b"]!, JSON.stringify({ deviceId: "pi-b", batchId: "pi-b-1", tables: { realtime_data: { rows: [row(1)] } } }));
    return { other, burst: await Promise.all(burst) };
  });
  const { other, burst } = s.result;
  s.print({ pi_b_status: other.status, pi_b_ms: other.ms.toFixed(0), pi_a_statuses: tally(burst.map((a) => a.status)), pi_a_retry_after: burst.some((a) => a.status === 429) });
  Object.assign(headline, { burst_pi_b_status: other.status, burst_pi_b_ms: other.ms.toFixed(0), burst_pi_a: tally(burst.map((a) => a.status)) });
}

if (run("analyses")) {
  // One drive of READINGS readings for pi-a, written directly: the scenario is about reading them.
  const seed = async () => {
    const CHUNK = 10_000;
    for (let from = 0; from < READINGS; from += CHUNK) {
      const rows: unknown[][] = [];
      for (let i = from; i < Math.min(from + CHUNK, READINGS); i++) {
        rows.push([i + 1, "pi-a", "2026-04-19 12:00:00", "bench", new Date(START.getTime() + i * 100).toISOString().replace("T", " ").replace("Z", ""), "RPM", 800 + (i % 900), "rpm"]);
      }
      await conn.batch("INSERT INTO realtime_data (source_id, source_device, synced_at, sync_batch_id, timestamp, parameter_name, value, unit) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows);
    }
  };
  const s = await scenario("analyses", async (server) => {
    const window = JSON.stringify({ deviceId: "pi-a", driveStartTime: START.toISOString(), driveEndTime: new Date(START.getTime() + READINGS * 100 + 1000).toISOString() });
    const analyses = Array.from({ length: 30 }, () => post(server.base, "/api/v1/analyze", keys["pi-a"]!, window));
    await Bun.sleep(300);
    const state = await get(server.base, "/api/v1/sync/state?deviceId=pi-b", keys["pi-b"]!);
    return { state, analyses: await Promise.all(analyses) };
  }, seed);
  const { state, analyses } = s.result;
  s.print({ readings: READINGS, pi_b_state_status: state.status, pi_b_state_ms: state.ms.toFixed(0), analyze_statuses: tally(analyses.map((a) => a.status)) });
  Object.assign(headline, { analyses_pi_b_state_status: state.status, analyses_pi_b_state_ms: state.ms.toFixed(0), analyses_statuses: tally(analyses.map((a) => a.status)) });
}

if (run("held")) {
  const devices = Array.from({ length: 10 }, (_, d) => `held-${d}`);
  const bodies = Array.from({ length: 50 }, (_, i) => syncBody(devices[i % 10]!, `held-${i}`, 1 + i * 100_000, 9.5 * 1024 * 1024));
  const s = await scenario("held", (server) => Promise.all(bodies.map((b) => post(server.base, "/api/v1/sync", API_KEY, b))));
  s.print({ statuses: tally(s.result.map((a) => a.status)) });
  Object.assign(headline, { held_rss_growth_mb: s.figures.rss_growth_mb, held_statuses: tally(s.result.map((a) => a.status)), held_ping_max_ms: s.figures.ping_max_ms });
}

await conn.end();
console.log(Object.entries(headline).map(([k, v]) => `${k}=${v}`).join(" "));
