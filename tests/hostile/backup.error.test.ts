/**
 * Hostile-input suite, /backup, the error side: the multipart reader's 16 KB
 * bound on a part's headers holds however the headers arrive, in one read or
 * many, and a refused upload stores nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readMultipart } from "../../lib/http/multipart.ts";
import { testApp, type TestApp } from "../helpers/app.ts";

const BOUNDARY = "hostile-boundary";
let t: TestApp;
let backups: string;

beforeAll(async () => {
  backups = mkdtempSync(join(tmpdir(), "obd2-hostile-backup-"));
  t = await testApp({ BACKUP_DIR: backups });
});
afterAll(async () => {
  await t.close();
  rmSync(backups, { recursive: true, force: true });
});

/** A form whose file part carries `padding` bytes of extra header lines. */
function form(padding: number): Buffer {
  const pad = padding > 0 ? `X-Padding: ${"a".repeat(padding - 13)}\r\n` : "";
  return Buffer.from(
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="deviceId"\r\n\r\npi-a\r\n` +
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="type"\r\n\r\ndatabase\r\n` +
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="obd.db"\r\n${pad}\r\nDATA\r\n` +
      `--${BOUNDARY}--\r\n`,
  );
}

async function* oneRead(body: Buffer) {
  yield body;
}

async function names(body: Buffer) {
  const out: string[] = [];
  for await (const part of readMultipart(oneRead(body), BOUNDARY)) out.push(part.name);
  return out;
}

describe("part headers beyond 16 KB", () => {
  for (const [label, padding] of [["20 KB", 20 * 1024], ["1 MB", 1024 * 1024]] as const) {
    test(`of ${label} arriving in a single read are refused`, async () => {
      await expect(names(form(padding))).rejects.toMatchObject({ status: 400, detail: "Malformed multipart body: part headers longer than 16384 bytes" });
    });

    test(`of ${label} sent to POST /api/v1/backup get 400 and store nothing`, async () => {
      const res = await t.call("/api/v1/backup", { method: "POST", headers: { "content-type": `multipart/form-data; boundary=${BOUNDARY}` }, body: new Uint8Array(form(padding)) });
      expect({ status: res.status, body: await res.json() }).toEqual({ status: 400, body: { detail: "Malformed multipart body: part headers longer than 16384 bytes" } });
      expect(existsSync(join(backups, "pi-a")) ? readdirSync(join(backups, "pi-a", "database")) : []).toEqual([]);
    });
  }

  test("headers of exactly 16 KB are still read; one byte more is refused", async () => {
    // The file part's header block is its Content-Disposition line and the padding line without its CRLF.
    const disposition = 'Content-Disposition: form-data; name="file"; filename="obd.db"\r\n'.length;
    expect(await names(form(16 * 1024 - disposition + 2))).toEqual(["deviceId", "type", "file"]);
    await expect(names(form(16 * 1024 - disposition + 3))).rejects.toMatchObject({ status: 400 });
  });
});
