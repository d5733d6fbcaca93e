/**
 * Hostile-input suite, /metrics: device ids made up with the admin key cannot
 * grow the registry. Per-device series exist only for devices with a key or a
 * successful sync, and for at most METRICS_MAX_DEVICES of them; the rest count
 * under device="(other)".
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newDeviceKey } from "../../lib/http/auth.ts";
import { testApp, type TestApp } from "../helpers/app.ts";

let t: TestApp;
let backups: string;
beforeAll(async () => {
  backups = mkdtempSync(join(tmpdir(), "obd2-hostile-metrics-"));
  t = await testApp({ METRICS_MAX_DEVICES: "3", BACKUP_DIR: backups });
});
afterAll(async () => {
  await t.close();
  rmSync(backups, { recursive: true, force: true });
});

const bad = { id: 1, timestamp: "2026-04-19 08:00:00", parameter_name: "RPM", value: "fast" };
const sync = (deviceId: string, rows: unknown[], key?: string) =>
  t.call("/api/v1/sync", { key, json: { deviceId, batchId: `${deviceId}-${rows.length}-${Math.random()}`, tables: { realtime_data: { rows } } } });
const devices = async () => {
  const text = await (await t.call("/metrics")).text();
  return [...new Set([...text.matchAll(/^obd2_(?:sync_batches_total|sync_rows_total|backups_total|device_last_sync_age_seconds)\{[^}]*device="([^"]*)"/gm)].map((m) => m[1]))].sort();
};
const count = async (device: string, result: string) =>
  Number(new RegExp(`^obd2_sync_batches_total\\{device="${device.replace(/[()]/g, "\\$&")}",result="${result}"\\} (\\d+)$`, "m").exec(await (await t.call("/metrics")).text())?.[1] ?? 0);

describe("per-device series", () => {
  test("200 refused syncs and backups for made-up device ids add no series: they count under (other)", async () => {
    for (let i = 0; i < 200; i++) expect((await sync(`made-up-${i}`, [bad])).status).toBe(422);
    const form = new FormData();
    form.set("type", "database");
    form.set("deviceId", "made-up-backup");
    form.set("file", new File([new Uint8Array([1])], "obd.db"));
    expect((await t.call("/api/v1/backup", { method: "POST", body: form })).status).toBe(200);
    expect(await devices()).toEqual(["(other)"]);
    expect(await count("(other)", "invalid")).toBe(200);
  });

  test("a device with a key gets its own series from its first request, and one that synced from its first success", async () => {
    const { key, hash } = newDeviceKey("pi-keyed");
    await t.db.prisma.devices.create({ data: { device_id: "pi-keyed", api_key_hash: hash } });
    expect((await sync("pi-keyed", [bad], key)).status).toBe(422);
    expect((await sync("pi-synced", [])).status).toBe(200);
    expect((await sync("pi-synced", [bad])).status).toBe(422);
    expect(await devices()).toEqual(["(other)", "pi-keyed", "pi-synced"]);
    expect(await count("pi-keyed", "invalid")).toBe(1);
    expect(await count("pi-synced", "invalid")).toBe(1);
  });

  test("beyond METRICS_MAX_DEVICES, even real devices count under (other)", async () => {
    for (const d of ["pi-3", "pi-4", "pi-5"]) expect((await sync(d, [])).status).toBe(200);
    expect(await devices()).toEqual(["(other)", "pi-3", "pi-keyed", "pi-synced"]);
    expect(await count("(other)", "ok")).toBe(2);
  });
});
