/**
 * Backup downloads (GET /api/v1/backups/{deviceId}/{type}/{filename}, real
 * MariaDB and a temp BACKUP_DIR): the stored bytes streamed with their
 * digest, the upload's check recorded, and nothing served but a backup.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { issueKey, testApp, type TestApp } from "./helpers/app.ts";
import { tempDir, type TempDir } from "./helpers/client-agent.ts";

let t: TestApp;
let tmp: TempDir;
let keyA: string;

beforeAll(async () => {
  tmp = tempDir("obd2-backup-download-");
  t = await testApp({ BACKUP_DIR: tmp.path("backups") });
  keyA = await issueKey(t, "pi-a");
  await issueKey(t, "pi-b");
});
afterAll(async () => {
  await t.close();
  tmp.remove();
});

describe("GET /api/v1/backups/{deviceId}/{type}/{filename}", () => {
  let bytes: Buffer;
  let filename: string;

  beforeAll(async () => {
    bytes = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 31) % 256));
    const form = new FormData();
    form.set("deviceId", "pi-a");
    form.set("type", "database");
    form.set("sha256", createHash("sha256").update(bytes).digest("hex"));
    form.set("file", new Blob([new Uint8Array(bytes)]), "obd.db.gz");
    const res = await t.app.request("/api/v1/backup", { method: "POST", headers: { "x-api-key": keyA }, body: form });
    filename = (await res.json()).filename;
  });

  test("should stream the stored file with its recorded digest", async () => {
    const res = await t.call(`/api/v1/backups/pi-a/database/${filename}`, { key: keyA });
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
    expect(Object.fromEntries(["content-length", "content-disposition", "repr-digest"].map((h) => [h, res.headers.get(h)]))).toEqual({
      "content-length": "300000",
      "content-disposition": `attachment; filename="${filename}"`,
      "repr-digest": `sha-256=:${createHash("sha256").update(bytes).digest("base64")}:`,
    });
  });

  test("an upload whose sha256 matched should be recorded as verified at upload", async () => {
    const [row] = await t.db.query("SELECT matched, method FROM backup_checks WHERE device_id = 'pi-a' AND filename = ?", [filename]);
    expect({ matched: Boolean(row.matched), method: row.method }).toEqual({ matched: true, method: "upload" });
  });

  test("should serve nothing but a stored backup of that device and type", async () => {
    // Files a request might try to reach: the sidecar, a temp file, something beside the directory.
    const dir = join(t.config.BACKUP_DIR, "pi-a", "database");
    writeFileSync(join(dir, ".upload-0123.tmp"), "partial");
    mkdirSync(join(t.config.BACKUP_DIR, "pi-a", "secret-2026-04-19T08-00-00-000.db"), { recursive: true });
    for (const name of [`${filename}.sha256`, ".upload-0123.tmp", `..%2F..%2Fpi-b%2Fdatabase%2F${filename}`, "..%2Fsecret-2026-04-19T08-00-00-000.db", "nope-2026-04-19T08-00-00-000.db"]) {
      const res = await t.call(`/api/v1/backups/pi-a/database/${name}`, { key: keyA });
      expect({ name, status: res.status }).toEqual({ name, status: 404 });
    }
    expect((await t.call(`/api/v1/backups/pi-a/logs/${filename}`, { key: keyA })).status).toBe(404);
    expect((await t.call(`/api/v1/backups/pi-a/photos/${filename}`, { key: keyA })).status).toBe(422);
    expect((await t.call(`/api/v1/backups/pi-b/database/${filename}`, { key: keyA })).status).toBe(403);
    expect((await t.call(`/api/v1/backups/pi-a/database/${filename}`, { key: null })).status).toBe(401);
  });
});
