/**
 * Graceful shutdown of the real server processes (Bun and Node entries): a
 * /sync in flight at SIGTERM finishes with its receipt and all its rows, a
 * new connection after SIGTERM is refused, and a request still unfinished at
 * the drain deadline is cut off, leaving none of its rows, while the process
 * still exits 0.
 *
 * The request is written by hand on a raw socket, so the test decides exactly
 * when the rest of its body goes out: after the signal.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../lib/db/mariadb-server.ts";
import { freshDatabase, type TestDb } from "./helpers/db.ts";
import { ENTRIES, health, killStarted, start, type Running } from "./helpers/server-process.ts";

const API_KEY = "shutdown-test-key-0123456789";
const DEVICE = "pi-shutdown";
const cleanups: (() => unknown)[] = [];

afterAll(async () => {
  await killStarted();
  for (const clean of cleanups.reverse()) await clean();
});

type Server = Running & { port: number; db: TestDb };

/** The entry on a fresh, migrated database that already knows the device; resolves once health answers. */
async function serve(cmd: string[], env: Record<string, string> = {}): Promise<Server> {
  const db = await freshDatabase();
  cleanups.push(db.drop);
  await db.query("INSERT INTO devices (device_id) VALUES (?)", [DEVICE]);
  const dir = mkdtempSync(join(tmpdir(), "obd2-shutdown-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const running = start(cmd, dir, {
    DATABASE_URL: db.url,
    API_KEY,
    PORT: String(port),
    OLLAMA_BASE_URL: `http://127.0.0.1:${await freePort()}`,
    BACKUP_DIR: join(dir, "backups"),
    ...env,
  });
  await health(port, running);
  return { ...running, port, db };
}

/** A sync of `rows` realtime_data rows, as the bytes of its JSON body. */
function syncBody(batchId: string, rows: number): Buffer {
  const data = Array.from({ length: rows }, (_, i) => ({
    id: i + 1,
    timestamp: `2026-11-22 08:${String(Math.floor(i / 6000) % 60).padStart(2, "0")}:${String(Math.floor(i / 100) % 60).padStart(2, "0")}.${String(i % 100).padStart(6, "0")}`,
    parameter_name: "RPM",
    value: 800 + (i % 5000),
    unit: "rpm",
    profile_id: "daily",
    data_source: "real",
    drive_id: 1,
  }));
  return Buffer.from(JSON.stringify({ deviceId: DEVICE, batchId, tables: { realtime_data: { rows: data } } }));
}

type Exchange = { socket: Socket; /** Everything the server sent, once it closed the connection. */ reply: Promise<string> };

/** Opens a connection and sends a POST /api/v1/sync head and `firstPart` of the body; the caller sends the rest. */
async function beginSync(port: number, body: Buffer, firstPart: Buffer): Promise<Exchange> {
  const socket = connect(port, "127.0.0.1");
  const chunks: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => chunks.push(chunk));
  const reply = new Promise<string>((resolve) => socket.on("close", () => resolve(Buffer.concat(chunks).toString())));
  socket.on("error", () => {}); // a cut connection shows as an empty or partial reply
  const head = `POST /api/v1/sync HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: ${API_KEY}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
  await new Promise<void>((resolve, reject) => socket.write(Buffer.concat([Buffer.from(head), firstPart]), (err) => (err ? reject(err) : resolve())));
  return { socket, reply };
}

/**
 * Proves the server accepted the connection opened before: it answers a
 * ping on a later one, and connections are accepted in order.
 */
async function accepted(port: number) {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/ping`);
  expect(res.status).toBe(200);
}

/** Waits for a log line the server writes on its own (the test timeout bounds it). */
async function logged(server: Running, msg: string) {
  while (!server.output().includes(`"msg":"${msg}"`)) {
    if (server.proc.exitCode !== null) throw new Error(`exited before logging "${msg}":\n${server.output()}`);
    await Bun.sleep(10);
  }
}

/** "refused" when nothing listens on the port any more, otherwise what happened to a ping. */
function newConnection(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.on("error", (err: NodeJS.ErrnoException) => resolve(err.code === "ECONNREFUSED" ? "refused" : `error ${err.code}`));
    socket.on("connect", () => {
      socket.end("GET /api/v1/ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
      socket.on("data", () => resolve("answered"));
      socket.on("close", () => resolve("accepted, then closed"));
    });
  });
}

/** Status and JSON body of a raw HTTP/1.1 reply (Content-Length or chunked); nulls for a connection cut without one. */
function parseReply(reply: string): { status: number | null; body: any } {
  if (!reply) return { status: null, body: null };
  const [head = "", rest = ""] = reply.split("\r\n\r\n", 2);
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
  let body = rest;
  if (/^transfer-encoding: chunked/im.test(head)) {
    body = "";
    for (let at = 0; ; ) {
      const eol = rest.indexOf("\r\n", at);
      const size = parseInt(rest.slice(at, eol), 16);
      if (!size) break;
      body += rest.slice(eol + 2, eol + 2 + size);
      at = eol + 2 + size + 2;
    }
  }
  return { status, body: JSON.parse(body) };
}

async function stored(db: TestDb, batchId: string) {
  const [{ n }] = await db.query("SELECT COUNT(*) AS n FROM realtime_data WHERE source_device = ? AND sync_batch_id = ?", [DEVICE, batchId]);
  const history = await db.query("SELECT status FROM sync_history WHERE batch_id = ?", [batchId]);
  return { rows: Number(n), history: history.map((h: { status: string }) => h.status) };
}

describe("graceful shutdown", () => {
  for (const [name, cmd] of Object.entries(ENTRIES)) {
    test(`${name}: a sync in flight at SIGTERM should finish with its receipt and every row; new connections are refused; exit 0`, async () => {
      const server = await serve(cmd);
      const body = syncBody("shutdown-inflight", 20_000);
      const half = Math.floor(body.length / 2);
      const sync = await beginSync(server.port, body, body.subarray(0, half));
      await accepted(server.port);

      server.proc.kill("SIGTERM");
      await logged(server, "shutting down: stopped accepting connections");
      expect(await newConnection(server.port)).toBe("refused");

      sync.socket.write(body.subarray(half));
      const reply = parseReply(await sync.reply);
      const code = await server.exited;
      // Never a partial batch: with a receipt all of it is stored, without one none of it.
      const got = await stored(server.db, "shutdown-inflight");
      if (reply.status === 200) expect(got).toEqual({ rows: 20_000, history: ["success"] });
      else expect(got.rows).toBe(0);
      // And since the request was in flight, the drain let it finish.
      expect({
        status: reply.status,
        receipt: reply.body?.tablesProcessed,
        code,
        drained: server.output().includes('"msg":"requests in flight finished"'),
      }).toEqual({ status: 200, receipt: { realtime_data: { inserted: 20_000, updated: 0, errors: 0 } }, code: 0, drained: true });
      for (const step of ["analysis worker stopped", "database pools closed", "stopped"]) expect(server.output()).toContain(`"msg":"${step}"`);
    }, 120_000);

    test(`${name}: a request unfinished at the drain deadline should be cut off, leaving none of its rows, and the process should exit 0`, async () => {
      const server = await serve(cmd, { SHUTDOWN_DRAIN_SECONDS: "0.5" });
      const body = syncBody("shutdown-cut", 100);
      const sync = await beginSync(server.port, body, body.subarray(0, body.length - 10));
      await accepted(server.port);

      server.proc.kill("SIGTERM");
      // The last 10 bytes never come; the connection is closed for it at the deadline.
      const reply = await sync.reply;
      const code = await server.exited;
      expect({ reply, code, cutOff: server.output().includes('"msg":"requests still in flight at the drain deadline; closing their connections"') }).toEqual({
        reply: "",
        code: 0,
        cutOff: true,
      });
      expect(await stored(server.db, "shutdown-cut")).toEqual({ rows: 0, history: [] });
    }, 120_000);
  }
});
