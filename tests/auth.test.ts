/**
 * X-API-Key: the admin key, per-device keys (salted hashes in `devices`),
 * requireDevice's 403, public routes, and the `npm run device` CLI run as a
 * subprocess against this file's database.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newDeviceKey, requireDevice } from "../lib/http/auth.ts";
import { API_KEY, testApp, type TestApp } from "./helpers/app.ts";

const ROOT = join(import.meta.dir, "..");
let t: TestApp;
let cwd: string;

beforeAll(async () => {
  t = await testApp();
  // The only device-scoped routes belong to other endpoints; this one exercises the real middleware and requireDevice.
  t.app.get("/api/v1/test-device/:id", (c) => {
    requireDevice(c, c.req.param("id"));
    return c.json({ ok: true, auth: c.var.auth });
  });
  cwd = mkdtempSync(join(tmpdir(), "obd2-auth-"));
});

afterAll(async () => {
  await t.close();
  rmSync(cwd, { recursive: true, force: true });
});

/** Stores a fresh key for `deviceId` the way the CLI does, and returns it. */
async function issueKey(deviceId: string): Promise<string> {
  const { key, hash } = newDeviceKey(deviceId);
  await t.db.prisma.devices.upsert({ where: { device_id: deviceId }, create: { device_id: deviceId, api_key_hash: hash }, update: { api_key_hash: hash } });
  return key;
}

async function asDevice(deviceId: string, key: string | null) {
  const res = await t.call(`/api/v1/test-device/${deviceId}`, { key });
  return { status: res.status, body: await res.json() };
}

describe("X-API-Key", () => {
  test("no key should return 401", async () => {
    expect(await asDevice("pi-1", null)).toEqual({ status: 401, body: { detail: "Missing API key" } });
  });

  test("a wrong key should return 401, whatever its length", async () => {
    for (const key of ["nope", "x".repeat(API_KEY.length), `${API_KEY}x`]) {
      expect(await asDevice("pi-1", key)).toEqual({ status: 401, body: { detail: "Invalid API key" } });
    }
  });

  test("the admin key should act for every device", async () => {
    for (const id of ["pi-1", "pi-2"]) {
      expect(await asDevice(id, API_KEY)).toEqual({ status: 200, body: { ok: true, auth: { kind: "admin" } } });
    }
  });

  test("a device key should act for its own device", async () => {
    const key = await issueKey("pi-own");
    expect(await asDevice("pi-own", key)).toEqual({ status: 200, body: { ok: true, auth: { kind: "device", deviceId: "pi-own" } } });
  });

  test("a device key should return 403 for another device", async () => {
    const key = await issueKey("pi-a");
    await issueKey("pi-b");
    expect(await asDevice("pi-b", key)).toEqual({ status: 403, body: { detail: "API key not valid for device pi-b" } });
  });

  test("a device id with dots should still authenticate", async () => {
    const key = await issueKey("pi.garage.2");
    expect(await asDevice("pi.garage.2", key)).toEqual({ status: 200, body: { ok: true, auth: { kind: "device", deviceId: "pi.garage.2" } } });
  });

  test("a device key with a wrong secret, or for an unknown device, should return 401", async () => {
    const key = await issueKey("pi-secret");
    const otherSecret = newDeviceKey("pi-secret").key;
    for (const bad of [otherSecret, key.replace("pi-secret.", "pi-unknown."), `${key}x`, ".secret", "pi secret.abc"]) {
      expect(await asDevice("pi-secret", bad)).toEqual({ status: 401, body: { detail: "Invalid API key" } });
    }
  });

  test("a revoked device key should return 401", async () => {
    const key = await issueKey("pi-revoked");
    await t.db.prisma.devices.update({ where: { device_id: "pi-revoked" }, data: { api_key_hash: null } });
    expect(await asDevice("pi-revoked", key)).toEqual({ status: 401, body: { detail: "Invalid API key" } });
  });

  test("only a salted hash of a device key should be stored", async () => {
    const key = await issueKey("pi-hash");
    const [row] = await t.db.query<{ api_key_hash: string }[]>("SELECT api_key_hash FROM devices WHERE device_id = ?", ["pi-hash"]);
    const secret = key.slice("pi-hash.".length);
    expect(row!.api_key_hash).toMatch(/^sha256\$[0-9a-f]{32}\$[0-9a-f]{64}$/);
    expect(row!.api_key_hash).not.toContain(secret);
    // The same key issued again hashes differently: the salt is fresh each time.
    const again = await issueKey("pi-hash");
    const [row2] = await t.db.query<{ api_key_hash: string }[]>("SELECT api_key_hash FROM devices WHERE device_id = ?", ["pi-hash"]);
    expect(row2!.api_key_hash).not.toBe(row!.api_key_hash);
    expect(again).not.toBe(key);
  });

  test("health, ping, the OpenAPI document and /docs should need no key", async () => {
    for (const path of ["/api/v1/health", "/api/v1/ping", "/api/v1/openapi.json", "/docs"]) {
      expect({ path, status: (await t.call(path, { key: null })).status }).toEqual({ path, status: 200 });
    }
  });

  test("an unknown route under /api without a key should return 401, not reveal a 404", async () => {
    const res = await t.call("/api/v1/no-such-route", { key: null });
    expect({ status: res.status, body: await res.json() }).toEqual({ status: 401, body: { detail: "Missing API key" } });
  });

  test("the header name should be case-insensitive over real HTTP", async () => {
    const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: t.app.fetch });
    try {
      for (const header of ["x-api-key", "X-Api-Key", "X-API-KEY"]) {
        const res = await fetch(`http://127.0.0.1:${server.port}/api/v1/test-device/pi-1`, { headers: { [header]: API_KEY } });
        expect({ header, status: res.status }).toEqual({ header, status: 200 });
      }
    } finally {
      server.stop(true);
    }
  });
});

describe("npm run device", () => {
  /** `bun scripts/device.ts …` on this file's database, from an empty directory (no .env). */
  function device(...args: string[]) {
    const run = Bun.spawnSync([join(ROOT, "node_modules/.bin/bun"), join(ROOT, "scripts/device.ts"), ...args], {
      cwd,
      env: { PATH: process.env.PATH, DATABASE_URL: t.db.url },
    });
    return { code: run.exitCode, stdout: run.stdout.toString(), stderr: run.stderr.toString() };
  }

  test("add should print a key that authenticates; re-adding rotates it; revoke makes it 401", async () => {
    const added = device("add", "pi-cli");
    expect(added.code).toBe(0);
    expect(added.stderr).toContain("Created device pi-cli.");
    const key = added.stdout.trim();
    expect(key).toMatch(/^pi-cli\.[A-Za-z0-9_-]{43}$/);
    expect(await asDevice("pi-cli", key)).toEqual({ status: 200, body: { ok: true, auth: { kind: "device", deviceId: "pi-cli" } } });

    const rotated = device("add", "pi-cli");
    expect(rotated.code).toBe(0);
    const newKey = rotated.stdout.trim();
    expect(newKey).not.toBe(key);
    expect(await asDevice("pi-cli", key)).toEqual({ status: 401, body: { detail: "Invalid API key" } });
    expect((await asDevice("pi-cli", newKey)).status).toBe(200);

    expect(device("revoke", "pi-cli")).toEqual({ code: 0, stdout: "", stderr: "Revoked the key of device pi-cli; only API_KEY can act for it now.\n" });
    expect(await asDevice("pi-cli", newKey)).toEqual({ status: 401, body: { detail: "Invalid API key" } });
    const [row] = await t.db.query<{ api_key_hash: string | null }[]>("SELECT api_key_hash FROM devices WHERE device_id = ?", ["pi-cli"]);
    expect(row).toEqual({ api_key_hash: null });
  });

  test("list should show every device and whether it has a key, never the hash", async () => {
    device("add", "pi-listed");
    await t.db.query("UPDATE devices SET display_name = 'Garage Pi', last_seen = '2026-11-20 08:15:00.000' WHERE device_id = 'pi-listed'");
    const listed = device("list", "--json");
    expect(listed.code).toBe(0);
    const devices = JSON.parse(listed.stdout) as { id: string; displayName: string | null; lastSeen: string | null; hasKey: boolean }[];
    expect(devices.find((d) => d.id === "pi-listed")).toEqual({ id: "pi-listed", displayName: "Garage Pi", lastSeen: "2026-11-20T08:15:00.000Z", hasKey: true });
    expect(devices.find((d) => d.id === "pi-revoked")).toEqual({ id: "pi-revoked", displayName: null, lastSeen: null, hasKey: false });

    const table = device("list");
    expect(table.stdout).toMatch(/^pi-listed\s+Garage Pi\s+2026-11-20T08:15:00.000Z\s+yes$/m);
    const hashes = await t.db.query<{ api_key_hash: string }[]>("SELECT api_key_hash FROM devices WHERE api_key_hash IS NOT NULL");
    for (const { api_key_hash } of hashes) {
      expect(listed.stdout + table.stdout).not.toContain(api_key_hash.split("$")[2]!);
    }
  });

  test("usage errors should say Error and Try, and exit 2", () => {
    const tryLine = "Try: npm run device -- --help\n";
    expect(device()).toEqual({ code: 2, stdout: "", stderr: `Error: missing command\n${tryLine}` });
    expect(device("remove", "pi-1")).toEqual({ code: 2, stdout: "", stderr: `Error: unknown command remove\n${tryLine}` });
    expect(device("add")).toEqual({ code: 2, stdout: "", stderr: `Error: add needs a device id\n${tryLine}` });
    expect(device("add", "pi 1")).toEqual({
      code: 2,
      stdout: "",
      stderr: `Error: invalid device id "pi 1": must be 1-64 characters of A-Z, a-z, 0-9, _ . -\n${tryLine}`,
    });
    expect(device("list", "--yaml")).toEqual({ code: 2, stdout: "", stderr: `Error: unexpected argument --yaml\n${tryLine}` });
  });

  test("revoking an unknown device should fail with exit 1", () => {
    expect(device("revoke", "pi-never")).toEqual({ code: 1, stdout: "", stderr: "Error: no device pi-never (see npm run device -- list)\n" });
  });
});
