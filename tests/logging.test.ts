/**
 * Request logging: one pino JSON line per request with its id, method, path,
 * status and duration, and no API key anywhere in the output (200, 401, 500,
 * and a key in the query string). Pretty output for a terminal (NODE_ENV
 * unset) and in development.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Writable } from "node:stream";
import { join } from "node:path";
import pino from "pino";
import { newDeviceKey, requireDevice } from "../lib/http/auth.ts";
import { API_KEY, testApp, type TestApp } from "./helpers/app.ts";

const ROOT = join(import.meta.dir, "..");
let output = "";
let t: TestApp;
let deviceKey: string;

beforeAll(async () => {
  const sink = new Writable({
    write(chunk, _encoding, done) {
      output += chunk.toString();
      done();
    },
  });
  t = await testApp({}, { logger: pino({ level: "info" }, sink) });
  t.app.get("/api/v1/test-device/:id", (c) => {
    requireDevice(c, c.req.param("id"));
    return c.json({ ok: true });
  });
  t.app.get("/api/v1/test-boom", () => {
    throw new Error("boom");
  });
  const issued = newDeviceKey("pi-log");
  await t.db.prisma.devices.create({ data: { device_id: "pi-log", api_key_hash: issued.hash } });
  deviceKey = issued.key;
});

afterAll(() => t.close());

/** Makes one request and returns its response and the log lines it wrote. */
async function logged(path: string, key: string | null) {
  const before = output.length;
  const res = await t.call(path, { key });
  const lines = output.slice(before).trimEnd().split("\n").map((l) => JSON.parse(l));
  return { res, lines };
}

test("each request should write one line with reqId, method, path, status and duration", async () => {
  const { res, lines } = await logged("/api/v1/test-device/pi-log", API_KEY);
  expect(res.status).toBe(200);
  expect(lines).toHaveLength(1);
  const [line] = lines;
  expect(line).toMatchObject({ level: 30, msg: "request", method: "GET", path: "/api/v1/test-device/pi-log", status: 200 });
  expect(line.reqId).toBe(res.headers.get("x-request-id")!);
  expect(line.reqId).toMatch(/\S{8,}/);
  expect(typeof line.durationMs).toBe("number");
  expect(line.durationMs).toBeGreaterThanOrEqual(0);
});

test("requests should get different ids", async () => {
  const a = await logged("/api/v1/ping", null);
  const b = await logged("/api/v1/ping", null);
  expect(a.lines[0].reqId).not.toBe(b.lines[0].reqId);
});

test("a 500 should log the error and the request line under the same reqId", async () => {
  const { res, lines } = await logged("/api/v1/test-boom", deviceKey);
  expect({ status: res.status, body: await res.json() }).toEqual({ status: 500, body: { detail: "Internal server error" } });
  expect(lines.map((l) => [l.level, l.msg, l.status])).toEqual([
    [50, "unhandled error", undefined],
    [30, "request", 500],
  ]);
  expect(lines[0].err.message).toBe("boom");
  expect(lines[0].reqId).toBe(lines[1].reqId);
});

test("no API key should appear in the logs, on success, 401, 403, 500 or in a query string", async () => {
  const secret = deviceKey.slice("pi-log.".length);
  const requests: [string, string | null][] = [
    ["/api/v1/test-device/pi-log", API_KEY],
    ["/api/v1/test-device/pi-log", deviceKey],
    ["/api/v1/test-device/pi-other", deviceKey],
    ["/api/v1/test-device/pi-log", `${API_KEY}-wrong`],
    ["/api/v1/test-device/pi-log", `${deviceKey}-wrong`],
    ["/api/v1/test-boom", API_KEY],
    [`/api/v1/test-device/pi-log?api_key=${encodeURIComponent(API_KEY)}&key=${secret}`, null],
  ];
  const statuses = [];
  for (const [path, key] of requests) statuses.push((await logged(path, key)).res.status);
  expect(statuses).toEqual([200, 200, 403, 401, 401, 500, 401]);
  expect(output).not.toContain(API_KEY);
  expect(output).not.toContain(secret);
});

test("output should be JSON lines, pretty on a terminal when NODE_ENV is unset, and always pretty with NODE_ENV=development", () => {
  const script = `import { createLogger } from ${JSON.stringify(join(ROOT, "lib/http/logger.ts"))};
createLogger({ LOG_LEVEL: "info", NODE_ENV: process.env.MODE || undefined }).info({ apiKey: "sekret-key" }, "hello");`;
  const bun = join(ROOT, "node_modules/.bin/bun");
  const env = (mode: string) => ({ PATH: process.env.PATH, MODE: mode });
  const piped = (mode: string) => Bun.spawnSync([bun, "-e", script], { cwd: "/", env: env(mode) }).stdout.toString();
  // util-linux `script` gives the logger a terminal for stdout.
  const onTerminal = (mode: string) =>
    Bun.spawnSync(["script", "-qefc", `${bun} -e '${script.replaceAll("'", "'\\''")}'`, "/dev/null"], { cwd: "/", env: env(mode) }).stdout.toString().replaceAll("\r\n", "\n");
  const json = { level: 30, msg: "hello", apiKey: "[redacted]" };
  const pretty = /^\S*\[\d\d:\d\d:\d\d\.\d{3}\] \S*INFO\S* \(\d+\): \S*hello\S*\n {4}\S*apiKey\S*: "\[redacted\]"\n$/;
  for (const mode of ["", "production", "test"]) expect(JSON.parse(piped(mode))).toMatchObject(json);
  for (const mode of ["production", "test"]) expect(JSON.parse(onTerminal(mode))).toMatchObject(json);
  expect(onTerminal("")).toMatch(pretty);
  expect(piped("development")).toMatch(pretty);
});
