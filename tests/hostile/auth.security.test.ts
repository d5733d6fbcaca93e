/**
 * Hostile-input suite, keys and identities: a device key is valid for its
 * exact device id only (not for case variants of it, in auth or in backup
 * paths), and another device's records are indistinguishable from missing ones.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newDeviceKey } from "../../lib/http/auth.ts";
import { testApp, type TestApp } from "../helpers/app.ts";

let t: TestApp;
let backups: string;
let keyA: string;

beforeAll(async () => {
  backups = mkdtempSync(join(tmpdir(), "obd2-hostile-auth-"));
  t = await testApp({ BACKUP_DIR: backups });
  const issued = newDeviceKey("pi-a");
  await t.db.prisma.devices.create({ data: { device_id: "pi-a", api_key_hash: issued.hash } });
  keyA = issued.key;
});
afterAll(async () => {
  await t.close();
  rmSync(backups, { recursive: true, force: true });
});

const secretOf = (key: string) => key.slice(key.lastIndexOf(".") + 1);
const rt = (id: number) => ({ id, timestamp: "2026-04-19 08:00:00", parameter_name: "RPM", value: 900 });

function backupForm(deviceId: string) {
  const form = new FormData();
  form.set("type", "database");
  form.set("deviceId", deviceId);
  form.set("file", new File([new Uint8Array([1, 2, 3])], "obd.db"));
  return form;
}

describe("another device's analysis", () => {
  test("answers 404 exactly as a missing id does, so ids cannot be enumerated", async () => {
    const other = await t.db.prisma.analysis_history.create({
      data: { device_id: "pi-b", drive_start: new Date("2026-04-19T08:00:00Z"), drive_end: new Date("2026-04-19T09:00:00Z"), model: "m", status: "completed" },
    });
    const id = Number(other.analysis_id);
    const theirs = await t.call(`/api/v1/analyses/${id}`, { key: keyA });
    const missing = await t.call(`/api/v1/analyses/${id + 1000}`, { key: keyA });
    expect({ status: theirs.status, body: await theirs.json() }).toEqual({ status: 404, body: { detail: `Analysis ${id} not found` } });
    expect({ status: missing.status, body: await missing.json() }).toEqual({ status: 404, body: { detail: `Analysis ${id + 1000} not found` } });
    expect((await t.call(`/api/v1/analyses/${id}`)).status).toBe(200);
  });
});

describe("a device key under a case variant of its device id", () => {
  test("is refused with 401 on every route, and stores nothing", async () => {
    for (const variant of ["PI-A", "Pi-A", "pi-A"]) {
      const key = `${variant}.${secretOf(keyA)}`;
      const synced = await t.call("/api/v1/sync", { key, json: { deviceId: variant, batchId: `v-${variant}`, tables: { realtime_data: { rows: [rt(1)] } } } });
      expect({ variant, status: synced.status, body: await synced.json() }).toEqual({ variant, status: 401, body: { detail: "Invalid API key" } });
      const backup = await t.call("/api/v1/backup", { key, method: "POST", body: backupForm(variant) });
      expect({ variant, status: backup.status }).toEqual({ variant, status: 401 });
      const state = await t.call(`/api/v1/sync/state?deviceId=${variant}`, { key });
      expect({ variant, status: state.status }).toEqual({ variant, status: 401 });
    }
    expect(Number((await t.db.query("SELECT COUNT(*) AS n FROM realtime_data"))[0].n)).toBe(0);
    expect(existsSync(backups) ? readdirSync(backups).filter((d) => d.toLowerCase() === "pi-a") : []).toEqual([]);
  });

  test("the exact id still works, and its backups go to its own directory only", async () => {
    const res = await t.call("/api/v1/backup", { key: keyA, method: "POST", body: backupForm("pi-a") });
    expect(res.status).toBe(200);
    expect(readdirSync(backups).filter((d) => !d.startsWith("."))).toEqual(["pi-a"]);
  });
});
