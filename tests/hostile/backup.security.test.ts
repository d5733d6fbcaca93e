/**
 * Hostile-input suite, /backup under load: uploads in progress count against
 * MAX_REQUEST_MEMORY_MB and against their device's limit of two, so slow or
 * many uploads get 429 with Retry-After instead of piling up.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { API_KEY, testApp, type TestApp } from "../helpers/app.ts";

const BOUNDARY = "hostile-upload";
let t: TestApp;
let backups: string;
beforeAll(async () => {
  backups = mkdtempSync(join(tmpdir(), "obd2-hostile-upload-"));
  // An upload costs 32 MB of the budget; 70 MB hold two at once.
  t = await testApp({ BACKUP_DIR: backups, MAX_REQUEST_MEMORY_MB: "70", ANALYSIS_MAX_READINGS: "10000" });
});
afterAll(async () => {
  await t.close();
  rmSync(backups, { recursive: true, force: true });
});

const head = (deviceId: string) =>
  `--${BOUNDARY}\r\nContent-Disposition: form-data; name="deviceId"\r\n\r\n${deviceId}\r\n--${BOUNDARY}\r\nContent-Disposition: form-data; name="type"\r\n\r\ndatabase\r\n` +
  `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="obd.db"\r\n\r\n`;

/** An upload whose body is sent up to the file's first bytes and then held until finish() sends the rest. */
function slowUpload(deviceId: string) {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      c.enqueue(new TextEncoder().encode(`${head(deviceId)}first bytes`));
    },
  });
  const answer = t.app.request("/api/v1/backup", {
    method: "POST",
    headers: { "x-api-key": API_KEY, "content-type": `multipart/form-data; boundary=${BOUNDARY}` },
    body,
    duplex: "half",
  } as RequestInit);
  return {
    answer,
    finish() {
      controller.enqueue(new TextEncoder().encode(` and the rest\r\n--${BOUNDARY}--\r\n`));
      controller.close();
    },
  };
}

describe("uploads in progress", () => {
  test("beyond the memory budget get 429 with Retry-After; once one ends, the next is taken", async () => {
    const first = slowUpload("pi-a");
    const second = slowUpload("pi-b");
    const third = slowUpload("pi-c");
    const refused = await third.answer;
    expect({ status: refused.status, retryAfter: refused.headers.get("retry-after") }).toEqual({ status: 429, retryAfter: "5" });
    expect((await refused.json()).detail).toStartWith("Server busy: the backup uploads and other requests in progress fill MAX_REQUEST_MEMORY_MB");
    first.finish();
    second.finish();
    expect((await first.answer).status).toBe(200);
    expect((await second.answer).status).toBe(200);
    const again = slowUpload("pi-c");
    again.finish();
    expect((await again.answer).status).toBe(200);
  });
});
