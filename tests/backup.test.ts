/**
 * POST /api/v1/backup and GET /api/v1/backups against real files in a temp
 * BACKUP_DIR, a real MariaDB (for device keys), and a real HTTP server where
 * streaming matters (chunked bodies, disconnects, early 413s).
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { createApp } from "../functions/index.ts";
import type { App } from "../lib/http/env.ts";
import { newDeviceKey } from "../lib/http/auth.ts";
import { sweepStaleUploads } from "../lib/backup/store.ts";
import { createLogger } from "../lib/http/logger.ts";
import { API_KEY, testApp, testConfig, type TestApp } from "./helpers/app.ts";

let base: TestApp;
beforeAll(async () => {
  base = await testApp();
});
afterAll(() => base.close());

type Fixture = { app: App; tmp: string; root: string; clock: { at: Date; now(): Date }; url: string };
const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** An app with its own temp BACKUP_DIR (under `tmp`, so escapes are visible) and a pinned clock. */
function fixture(env: Record<string, string> = {}): Fixture {
  const tmp = mkdtempSync(join(tmpdir(), "obd2-backup-test-"));
  cleanups.push(() => rmSync(tmp, { recursive: true, force: true }));
  const root = join(tmp, "backups");
  const clock = { at: new Date("2026-11-22T10:00:00.000Z"), now: () => clock.at };
  const config = testConfig({ DATABASE_URL: base.db.url, BACKUP_DIR: root, BACKUP_RETENTION_COUNT: "30", MAX_BACKUP_SIZE_MB: "1", ...env });
  const app = createApp({ config, db: base.db, logger: createLogger(config), clock });
  return { app, tmp, root, clock, url: "" };
}

/** The same fixture, served over real HTTP on loopback. */
function served(env: Record<string, string> = {}): Fixture {
  const fx = fixture(env);
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: fx.app.fetch });
  cleanups.push(() => server.stop(true));
  return { ...fx, url: `http://127.0.0.1:${server.port}` };
}

type FormPart = { name: string; value: string | Uint8Array; filename?: string };
const BOUNDARY = "----obd2-test-boundary";

/** A multipart/form-data body written by hand, so tests choose the order and the raw filename bytes. */
function multipart(parts: FormPart[]): Uint8Array<ArrayBuffer> {
  const pieces: Buffer[] = [];
  for (const p of parts) {
    const filename = p.filename === undefined ? "" : `; filename="${p.filename.replace(/(["\\])/g, "\\$1")}"`;
    pieces.push(Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${p.name}"${filename}\r\n\r\n`), Buffer.from(p.value), Buffer.from("\r\n"));
  }
  pieces.push(Buffer.from(`--${BOUNDARY}--\r\n`));
  return new Uint8Array(Buffer.concat(pieces));
}

const fields = (deviceId = "pi-1", type = "database") => [
  { name: "deviceId", value: deviceId },
  { name: "type", value: type },
];
const fileOf = (content: string | Uint8Array, filename = "obd.db"): FormPart => ({ name: "file", value: content, filename });

function upload(fx: Fixture, parts: FormPart[], key: string | null = API_KEY) {
  const headers: Record<string, string> = { "content-type": `multipart/form-data; boundary=${BOUNDARY}` };
  if (key) headers["x-api-key"] = key;
  return fx.app.request("/api/v1/backup", { method: "POST", headers, body: multipart(parts) });
}

const sha256 = (data: string | Uint8Array) => createHash("sha256").update(data).digest("hex");

/** Every file under `dir`, as paths relative to it, sorted. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return (readdirSync(dir, { recursive: true }) as string[]).filter((p) => statSync(join(dir, p)).isFile()).sort();
}

/** Waits for a condition the server reaches on its own (no timing is asserted; the test timeout bounds it). */
async function until(condition: () => boolean) {
  while (!condition()) await sleep(10);
}

async function deviceKey(deviceId: string): Promise<string> {
  const { key, hash } = newDeviceKey(deviceId);
  await base.db.query("INSERT INTO devices (device_id, api_key_hash) VALUES (?, ?)", [deviceId, hash]);
  cleanups.push(() => base.db.query("DELETE FROM devices WHERE device_id = ?", [deviceId]));
  return key;
}

describe("storing", () => {
  test("an upload should be stored under its device and type with the clock's UTC time in its name", async () => {
    const fx = fixture();
    const res = await upload(fx, [...fields(), fileOf("sqlite bytes")]);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      status: "ok",
      filename: "obd-2026-11-22T10-00-00-000.db",
      storedAt: "2026-11-22T10:00:00.000Z",
      sizeBytes: 12,
      sha256: sha256("sqlite bytes"),
    });
    expect(filesUnder(fx.root)).toEqual(["pi-1/database/obd-2026-11-22T10-00-00-000.db", "pi-1/database/obd-2026-11-22T10-00-00-000.db.sha256"]);
    expect(readFileSync(join(fx.root, "pi-1/database/obd-2026-11-22T10-00-00-000.db"), "utf8")).toBe("sqlite bytes");
    expect(readFileSync(join(fx.root, "pi-1/database/obd-2026-11-22T10-00-00-000.db.sha256"), "utf8")).toBe(`${sha256("sqlite bytes")}\n`);
  });

  test("a compound extension should stay whole", async () => {
    const fx = fixture();
    const res = await upload(fx, [...fields("pi-1", "logs"), fileOf("gz", "obd.db.gz")]);
    expect((await res.json()).filename).toBe("obd-2026-11-22T10-00-00-000.db.gz");
    expect(filesUnder(fx.root)).toContain("pi-1/logs/obd-2026-11-22T10-00-00-000.db.gz");
  });

  test("a file sent before its fields should be stored the same way, leaving nothing in .incoming", async () => {
    const fx = fixture();
    const res = await upload(fx, [fileOf("file first", "settings.json"), { name: "type", value: "config" }, { name: "deviceId", value: "pi-1" }]);
    expect(res.status).toBe(200);
    expect(filesUnder(fx.root)).toEqual(["pi-1/config/settings-2026-11-22T10-00-00-000.json", "pi-1/config/settings-2026-11-22T10-00-00-000.json.sha256"]);
  });

  test("uploads in the same millisecond should each keep their own file", async () => {
    const fx = fixture();
    // Two at once: as many as one device may have in progress.
    const contents = ["one", "two"];
    const bodies = await Promise.all(contents.map(async (c) => (await upload(fx, [...fields(), fileOf(c)])).json()));
    const names = bodies.map((b) => b.filename).sort();
    expect(names).toEqual(["obd-2026-11-22T10-00-00-000-1.db", "obd-2026-11-22T10-00-00-000.db"]);
    for (const b of bodies) expect(sha256(readFileSync(join(fx.root, "pi-1/database", b.filename)))).toBe(b.sha256);
    expect(new Set(bodies.map((b) => b.sha256)).size).toBe(2);
  });

  test("a matching sha256 should be accepted, in either case", async () => {
    const fx = fixture();
    const res = await upload(fx, [...fields(), { name: "sha256", value: sha256("data").toUpperCase() }, fileOf("data")]);
    expect(res.status).toBe(200);
    expect((await res.json()).sha256).toBe(sha256("data"));
  });

  test("a real client's FormData over HTTP should be stored", async () => {
    const fx = served();
    const form = new FormData();
    form.set("deviceId", "pi-1");
    form.set("type", "database");
    form.set("file", new Blob([new Uint8Array(300_000).fill(7)]), "obd.db");
    const res = await fetch(`${fx.url}/api/v1/backup`, { method: "POST", headers: { "x-api-key": API_KEY }, body: form });
    expect(res.status).toBe(200);
    expect((await res.json()).sizeBytes).toBe(300_000);
    expect(statSync(join(fx.root, "pi-1/database/obd-2026-11-22T10-00-00-000.db")).size).toBe(300_000);
  });
});

describe("validation", () => {
  const invalid = (field: string, message: string) => ({ detail: `Validation failed: ${field}: ${message}`, errors: [{ path: field, message: `${field}: ${message}` }] });

  const cases: [string, FormPart[], number, unknown][] = [
    ["an extension that is not allowed", [...fields(), fileOf("x", "obd.exe")], 422, { detail: "File extension not allowed. Allowed: .db, .log, .json, .gz" }],
    ["no extension", [...fields(), fileOf("x", "obd")], 422, { detail: "File extension not allowed. Allowed: .db, .log, .json, .gz" }],
    ["a bad type", [...fields("pi-1", "photos"), fileOf("x")], 422, invalid("type", "must be one of database, logs, config")],
    ["an empty deviceId", [...fields(""), fileOf("x")], 422, invalid("deviceId", "must be 1-64 characters of A-Z, a-z, 0-9, _ . -")],
    ["a 65-character deviceId", [...fields("d".repeat(65)), fileOf("x")], 422, invalid("deviceId", "must be 1-64 characters of A-Z, a-z, 0-9, _ . -")],
    ["a missing deviceId", [{ name: "type", value: "logs" }, fileOf("x", "a.log")], 422, invalid("deviceId", "is required")],
    ["a missing file", fields(), 422, invalid("file", "is required")],
    ["a malformed sha256", [...fields(), { name: "sha256", value: "abc" }, fileOf("x")], 422, invalid("sha256", "must be 64 hex digits")],
    ["a deviceId sent twice", [...fields(), { name: "deviceId", value: "pi-2" }, fileOf("x")], 422, invalid("deviceId", "sent more than once")],
    ["two files", [...fields(), fileOf("x"), fileOf("y")], 422, invalid("file", "sent more than once")],
    ["a file in another field", [...fields(), { name: "data", value: "x", filename: "a.db" }], 422, invalid("data", 'unexpected file; the backup goes in the field "file"')],
    ["a 1 MB deviceId", [{ name: "deviceId", value: "d".repeat(1024 * 1024) }, fileOf("x")], 422, invalid("deviceId", "longer than 1024 bytes")],
  ];
  for (const [what, parts, status, body] of cases) {
    test(`${what} should return ${status} and store nothing`, async () => {
      const fx = fixture();
      const res = await upload(fx, parts);
      expect(await res.json()).toEqual(body as object);
      expect(res.status).toBe(status);
      expect(filesUnder(fx.root)).toEqual([]);
    });
  }

  test("a sha256 that does not match should return 422 naming both digests and discard the file", async () => {
    const fx = fixture();
    const wrong = sha256("something else");
    const res = await upload(fx, [...fields(), fileOf("data"), { name: "sha256", value: wrong }]);
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual({
      detail: `sha256 mismatch: the field says ${wrong}, the file received has ${sha256("data")}; it was discarded`,
      expected: wrong,
      actual: sha256("data"),
    });
    expect(filesUnder(fx.root)).toEqual([]);
  });

  test("a body that is not multipart should return 415", async () => {
    const fx = fixture();
    const res = await fx.app.request("/api/v1/backup", { method: "POST", headers: { "x-api-key": API_KEY, "content-type": "application/json" }, body: "{}" });
    expect(res.status).toBe(415);
    expect(await res.json()).toEqual({ detail: "Content-Type must be multipart/form-data with a boundary" });
  });

  test("a multipart body cut short should return 400 and store nothing", async () => {
    const fx = fixture();
    const body = multipart([...fields(), fileOf("x".repeat(5000))]).subarray(0, 3000);
    const res = await fx.app.request("/api/v1/backup", {
      method: "POST",
      headers: { "x-api-key": API_KEY, "content-type": `multipart/form-data; boundary=${BOUNDARY}` },
      body,
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ detail: 'Malformed multipart body: the body ends inside part "file"' });
    expect(filesUnder(fx.root)).toEqual([]);
  });
});

describe("keys", () => {
  test("no key should return 401", async () => {
    const fx = fixture();
    const res = await upload(fx, [...fields(), fileOf("x")], null);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ detail: "Missing API key" });
    expect(filesUnder(fx.root)).toEqual([]);
  });

  for (const order of ["before", "after"]) {
    test(`another device's key should return 403 and store nothing (fields ${order} the file)`, async () => {
      const fx = fixture();
      const key = await deviceKey("pi-other");
      const res = await upload(fx, order === "before" ? [...fields("pi-1"), fileOf("x")] : [fileOf("x"), ...fields("pi-1")], key);
      expect(res.status).toBe(403);
      expect(await res.json()).toEqual({ detail: "API key not valid for device pi-1" });
      expect(filesUnder(fx.root)).toEqual([]);
    });
  }

  test("a device's own key should upload for it", async () => {
    const fx = fixture();
    const key = await deviceKey("pi-own");
    const res = await upload(fx, [...fields("pi-own"), fileOf("x")], key);
    expect(res.status).toBe(200);
    expect(filesUnder(fx.root)).toEqual(["pi-own/database/obd-2026-11-22T10-00-00-000.db", "pi-own/database/obd-2026-11-22T10-00-00-000.db.sha256"]);
  });
});

describe("path safety", () => {
  const target = "backups/pi-1/database/";
  const stored: [string, string][] = [
    ["../../etc/passwd.db", "passwd"],
    ["/etc/passwd.db", "passwd"],
    ["..\\..\\x.db", "x"],
    ["ob\0d.db", "ob_d"],
    ["..db", "backup"],
    ["-rf .db", "rf_"],
    [`${"a".repeat(10_000)}.db`, "a".repeat(100)],
  ];
  for (const [filename, stem] of stored) {
    test(`filename ${JSON.stringify(filename.slice(0, 40))} should be stored as ${stem.slice(0, 20)}… inside the target directory`, async () => {
      const fx = fixture();
      const res = await upload(fx, [...fields(), fileOf("x", filename)]);
      expect(res.status).toBe(200);
      const name = `${stem}-2026-11-22T10-00-00-000.db`;
      expect((await res.json()).filename).toBe(name);
      expect(filesUnder(fx.tmp)).toEqual([`${target}${name}`, `${target}${name}.sha256`]);
    });
  }

  test("filename ../../etc/passwd should return 422 and write nothing", async () => {
    const fx = fixture();
    const res = await upload(fx, [...fields(), fileOf("x", "../../etc/passwd")]);
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual({ detail: "File extension not allowed. Allowed: .db, .log, .json, .gz" });
    expect(filesUnder(fx.tmp)).toEqual([]);
  });

  const refused: [string, FormPart[], string, string][] = [
    ["deviceId ../x", fields("../x"), "deviceId", "must be 1-64 characters of A-Z, a-z, 0-9, _ . -"],
    ["deviceId ..", fields(".."), "deviceId", "must not start with '.'"],
    ["deviceId .incoming", fields(".incoming"), "deviceId", "must not start with '.'"],
    ["type ../x", fields("pi-1", "../x"), "type", "must be one of database, logs, config"],
  ];
  for (const [what, parts, field, message] of refused) {
    for (const order of ["before", "after"]) {
      test(`${what} sent ${order} the file should return 422 and write nothing`, async () => {
        const fx = fixture();
        const res = await upload(fx, order === "before" ? [...parts, fileOf("x")] : [fileOf("x"), ...parts]);
        expect(res.status).toBe(422);
        expect(await res.json()).toEqual({ detail: `Validation failed: ${field}: ${message}`, errors: [{ path: field, message: `${field}: ${message}` }] });
        expect(filesUnder(fx.tmp)).toEqual([]);
      });
    }
  }
});

describe("streaming", () => {
  /** A raw HTTP/1.1 request on a socket, so the test controls exactly what is sent and when the connection drops. */
  function rawRequest(fx: Fixture, headers: Record<string, string | number>) {
    const url = new URL(fx.url);
    const socket = connect(Number(url.port), url.hostname);
    cleanups.push(() => void socket.destroy());
    const head = Object.entries({ host: url.host, "x-api-key": API_KEY, ...headers }).map(([k, v]) => `${k}: ${v}\r\n`);
    socket.write(`POST /api/v1/backup HTTP/1.1\r\n${head.join("")}\r\n`);
    let received = "";
    socket.on("data", (d) => (received += d.toString()));
    const closed = new Promise<void>((done) => socket.on("close", () => done()));
    return { socket, closed, received: () => received };
  }

  for (const order of ["fields first", "file first"]) {
    test(`a disconnect mid-upload (${order}) should leave no file and no temp file`, async () => {
      const fx = served();
      const body = multipart(order === "fields first" ? [...fields(), fileOf(new Uint8Array(600_000))] : [fileOf(new Uint8Array(600_000)), ...fields()]);
      const req = rawRequest(fx, { "content-type": `multipart/form-data; boundary=${BOUNDARY}`, "content-length": body.length });
      req.socket.write(body.subarray(0, body.length / 2));
      // The server has begun writing when its temp file exists; then the client goes away.
      await until(() => filesUnder(fx.root).some((p) => p.split("/").pop()!.startsWith(".upload-")));
      req.socket.destroy();
      await until(() => filesUnder(fx.root).length === 0);
      expect(filesUnder(fx.tmp)).toEqual([]);
    });
  }

  test("a chunked upload over the limit should get 413 and leave nothing on disk", async () => {
    const fx = served();
    const head = Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="deviceId"\r\n\r\npi-1\r\n--${BOUNDARY}\r\nContent-Disposition: form-data; name="type"\r\n\r\ndatabase\r\n--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.db"\r\n\r\n`);
    // Offers 2 GB, made up as it is pulled: the server must stop it long before.
    const chunk = new Uint8Array(64 * 1024);
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulled === 0) controller.enqueue(head);
        if (pulled >= 2 * 1024 ** 3) return controller.close();
        pulled += chunk.length;
        controller.enqueue(chunk);
      },
    });
    const res = await fetch(`${fx.url}/api/v1/backup`, {
      method: "POST",
      headers: { "x-api-key": API_KEY, "content-type": `multipart/form-data; boundary=${BOUNDARY}` },
      body,
      duplex: "half",
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ detail: "File too large. Max: 1MB" });
    expect(pulled).toBeLessThan(64 * 1024 ** 2);
    expect(filesUnder(fx.tmp)).toEqual([]);
  });

  test("a Content-Length clearly over the limit should get 413 before the body is sent", async () => {
    const fx = served();
    const req = rawRequest(fx, { "content-type": `multipart/form-data; boundary=${BOUNDARY}`, "content-length": 10 * 1024 * 1024 });
    await until(() => req.received().includes("\r\n\r\n{"));
    expect(req.received()).toStartWith("HTTP/1.1 413");
    expect(req.received()).toEndWith('{"detail":"File too large. Max: 1MB"}');
    expect(filesUnder(fx.tmp)).toEqual([]);
  });

  test("a file of exactly the limit should be stored and one byte more refused", async () => {
    const fx = fixture();
    const ok = await upload(fx, [...fields(), fileOf(new Uint8Array(1024 * 1024))]);
    expect(ok.status).toBe(200);
    fx.clock.at = new Date("2026-11-22T10:00:01.000Z");
    const over = await upload(fx, [...fields(), fileOf(new Uint8Array(1024 * 1024 + 1))]);
    expect(over.status).toBe(413);
    expect(await over.json()).toEqual({ detail: "File too large. Max: 1MB" });
    expect(filesUnder(fx.root)).toEqual(["pi-1/database/obd-2026-11-22T10-00-00-000.db", "pi-1/database/obd-2026-11-22T10-00-00-000.db.sha256"]);
  });
});

describe("rotation", () => {
  async function uploadAt(fx: Fixture, seconds: number, content = `backup at ${seconds}s`) {
    fx.clock.at = new Date(Date.UTC(2026, 10, 22, 10, 0, seconds));
    const res = await upload(fx, [...fields(), fileOf(content)]);
    expect(res.status).toBe(200);
    return (await res.json()).filename as string;
  }
  const dataFiles = (fx: Fixture) => filesUnder(join(fx.root, "pi-1/database")).filter((f) => f.endsWith(".db"));

  test("32 uploads with retention 30 should leave the newest 30, each with its sidecar", async () => {
    const fx = fixture({ BACKUP_RETENTION_COUNT: "30" });
    const names: string[] = [];
    for (let s = 0; s < 32; s++) names.push(await uploadAt(fx, s));
    expect(dataFiles(fx)).toEqual(names.slice(2).sort());
    expect(filesUnder(join(fx.root, "pi-1/database"))).toHaveLength(60);
  });

  test("retention 1 should keep just the newest", async () => {
    const fx = fixture({ BACKUP_RETENTION_COUNT: "1" });
    await uploadAt(fx, 1);
    await uploadAt(fx, 2);
    const newest = await uploadAt(fx, 3);
    expect(filesUnder(join(fx.root, "pi-1/database"))).toEqual([newest, `${newest}.sha256`]);
  });

  test("a single backup should never be rotated away", async () => {
    const fx = fixture({ BACKUP_RETENTION_COUNT: "1" });
    const only = await uploadAt(fx, 1);
    expect(dataFiles(fx)).toEqual([only]);
  });

  test("the file just stored should be kept even when the clock went back", async () => {
    const fx = fixture({ BACKUP_RETENTION_COUNT: "1" });
    await uploadAt(fx, 30);
    const justStored = await uploadAt(fx, 10);
    expect(dataFiles(fx)).toEqual([justStored]);
  });

  test("rotation should count per device and type", async () => {
    const fx = fixture({ BACKUP_RETENTION_COUNT: "1" });
    await uploadAt(fx, 1);
    await upload(fx, [...fields("pi-1", "logs"), fileOf("l", "a.log")]);
    await upload(fx, [...fields("pi-2"), fileOf("p")]);
    expect(filesUnder(fx.root).filter((f) => !f.endsWith(".sha256"))).toEqual([
      "pi-1/database/obd-2026-11-22T10-00-01-000.db",
      "pi-1/logs/a-2026-11-22T10-00-01-000.log",
      "pi-2/database/obd-2026-11-22T10-00-01-000.db",
    ]);
  });
});

describe("sweepStaleUploads", () => {
  test("should remove interrupted uploads' leftovers and leave real backups alone", async () => {
    const fx = fixture();
    const kept = (await (await upload(fx, [...fields(), fileOf("keep me")])).json()).filename;
    const dir = join(fx.root, "pi-1/database");
    mkdirSync(join(fx.root, ".incoming"));
    const stray = [
      join(fx.root, ".incoming/.upload-0123456789abcdef.tmp"),
      join(dir, ".upload-fedcba9876543210.tmp"),
      join(dir, ".upload-1111111111111111.sha256.tmp"),
      join(dir, "gone-2026-01-01T00-00-00-000.db.sha256"),
    ];
    for (const path of stray) writeFileSync(path, "partial");
    writeFileSync(join(dir, "notes.txt"), "not ours");

    expect(sweepStaleUploads(fx.root).sort()).toEqual([...stray].sort());
    expect(filesUnder(fx.root)).toEqual(["pi-1/database/notes.txt", `pi-1/database/${kept}`, `pi-1/database/${kept}.sha256`]);
  });

  test("should do nothing when the backup directory does not exist yet", () => {
    const fx = fixture();
    expect(sweepStaleUploads(fx.root)).toEqual([]);
  });
});

describe("listing", () => {
  async function store(fx: Fixture, at: string, deviceId: string, type: string, content: string, filename = "obd.db") {
    fx.clock.at = new Date(at);
    const res = await upload(fx, [...fields(deviceId, type), fileOf(content, filename)]);
    expect(res.status).toBe(200);
  }
  const list = (fx: Fixture, query = "", key = API_KEY) => fx.app.request(`/api/v1/backups${query}`, { headers: { "x-api-key": key } });

  async function seeded() {
    const fx = fixture();
    await store(fx, "2026-11-22T10:00:00.000Z", "pi-1", "database", "d1");
    await store(fx, "2026-11-22T11:00:00.000Z", "pi-1", "logs", "l1", "agent.log");
    await store(fx, "2026-11-22T12:00:00.000Z", "pi-2", "database", "d2");
    await store(fx, "2026-11-22T13:00:00.000Z", "pi-1", "database", "d3");
    return fx;
  }
  const entry = (deviceId: string, type: string, filename: string, storedAt: string, content: string) => ({
    deviceId,
    type,
    filename,
    sizeBytes: content.length,
    storedAt,
    sha256: sha256(content),
  });
  const d3 = entry("pi-1", "database", "obd-2026-11-22T13-00-00-000.db", "2026-11-22T13:00:00.000Z", "d3");
  const d2 = entry("pi-2", "database", "obd-2026-11-22T12-00-00-000.db", "2026-11-22T12:00:00.000Z", "d2");
  const l1 = entry("pi-1", "logs", "agent-2026-11-22T11-00-00-000.log", "2026-11-22T11:00:00.000Z", "l1");
  const d1 = entry("pi-1", "database", "obd-2026-11-22T10-00-00-000.db", "2026-11-22T10:00:00.000Z", "d1");

  test("every backup should be listed newest first with name, size, time and sha256", async () => {
    const fx = await seeded();
    const res = await list(fx);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ backups: [d3, d2, l1, d1] });
  });

  test("deviceId and type should filter the list", async () => {
    const fx = await seeded();
    expect(await (await list(fx, "?deviceId=pi-1")).json()).toEqual({ backups: [d3, l1, d1] });
    expect(await (await list(fx, "?deviceId=pi-1&type=database")).json()).toEqual({ backups: [d3, d1] });
    expect(await (await list(fx, "?type=database")).json()).toEqual({ backups: [d3, d2, d1] });
    expect(await (await list(fx, "?deviceId=pi-9")).json()).toEqual({ backups: [] });
  });

  test("a device key without deviceId should list only its own device", async () => {
    const fx = await seeded();
    const key = await deviceKey("pi-2");
    expect(await (await list(fx, "", key)).json()).toEqual({ backups: [d2] });
  });

  test("a device key listing another device should return 403", async () => {
    const fx = await seeded();
    const key = await deviceKey("pi-2");
    const res = await list(fx, "?deviceId=pi-1", key);
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ detail: "API key not valid for device pi-1" });
  });

  test("a bad type or deviceId in the query should return 422", async () => {
    const fx = fixture();
    const bad = await list(fx, "?type=photos");
    expect(bad.status).toBe(422);
    expect(await bad.json()).toEqual({
      detail: "Validation failed: type: must be one of database, logs, config",
      errors: [{ path: "type", message: "type: must be one of database, logs, config" }],
    });
    const escape = await list(fx, "?deviceId=..");
    expect(escape.status).toBe(422);
    expect(await escape.json()).toEqual({
      detail: "Validation failed: deviceId: must not start with '.'",
      errors: [{ path: "deviceId", message: "deviceId: must not start with '.'" }],
    });
  });

  test("an empty store should list nothing, and no key should return 401", async () => {
    const fx = fixture();
    expect(await (await list(fx)).json()).toEqual({ backups: [] });
    const res = await fx.app.request("/api/v1/backups");
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ detail: "Missing API key" });
  });

  test("files that are not backups should not be listed", async () => {
    const fx = await seeded();
    writeFileSync(join(fx.root, "pi-1/database/notes.txt"), "mine");
    writeFileSync(join(fx.root, "pi-1/database/.upload-0000000000000000.tmp"), "partial");
    expect(await (await list(fx, "?deviceId=pi-1&type=database")).json()).toEqual({ backups: [d3, d1] });
  });
});

test("the OpenAPI document should describe both routes, with the multipart body", async () => {
  const fx = fixture();
  const doc = (await (await fx.app.request("/api/v1/openapi.json")).json()) as any;
  const body = doc.paths["/api/v1/backup"].post.requestBody.content["multipart/form-data"].schema;
  expect(body.required.sort()).toEqual(["deviceId", "file", "type"]);
  expect(body.properties.file).toMatchObject({ type: "string", format: "binary" });
  expect(body.properties.type.enum).toEqual(["database", "logs", "config"]);
  expect(Object.keys(doc.paths["/api/v1/backup"].post.responses).sort()).toEqual(["200", "400", "401", "403", "413", "415", "422", "429", "507"]);
  expect(doc.paths["/api/v1/backups"].get.parameters.map((p: any) => p.name).sort()).toEqual(["deviceId", "type"]);
});
