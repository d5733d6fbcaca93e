/**
 * `npm run bench:backup [-- --mb N]`: server memory during a 100 MB (or N MB) backup upload. Needs
 * DATABASE_URL (environment or .env) naming a database it may migrate.
 *
 * It starts the real server (`bun scripts/server.bun.ts`) as a subprocess on
 * a free port with a temp BACKUP_DIR, streams a 100 MB multipart upload
 * through HTTP (generated as it is sent), checks the stored size and digest,
 * and samples the server's RSS from /proc/<pid>/status throughout. The last
 * line is `backup_upload_mb=100 server_peak_rss_mb=<n> baseline_rss_mb=<n>`.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadDatabaseUrl } from "../lib/config.ts";
import { rssMb, startServer, watchPeakRss } from "./server.ts";

const { values: args } = parseArgs({ options: { mb: { type: "string", default: "100" } } });
const UPLOAD_MB = Number(args.mb);
const DATABASE_URL = loadDatabaseUrl();
if (!DATABASE_URL) {
  console.error("Error: bench:backup needs DATABASE_URL\nTry: DATABASE_URL=mysql://user:pass@127.0.0.1:3306/obd2_bench npm run bench:backup");
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), "obd2-bench-backup-"));
const apiKey = randomBytes(24).toString("base64url");
const server = await startServer({ DATABASE_URL, API_KEY: apiKey, BACKUP_DIR: join(dir, "backups"), MAX_BACKUP_SIZE_MB: String(UPLOAD_MB * 2) });
const base = server.base;

/** One multipart upload of `bytes` bytes (the Pi's order: fields, then the file), produced as the socket takes it. */
async function uploadBytes(bytes: number): Promise<{ sizeBytes: number; sha256: string; filename: string; sentSha256: string }> {
  const boundary = `bench-${randomBytes(8).toString("hex")}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="deviceId"\r\n\r\nbench-pi\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="type"\r\n\r\ndatabase\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="obd.db"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const chunk = randomBytes(256 * 1024);
  const hash = createHash("sha256");
  let left = bytes;
  const body = new ReadableStream<Uint8Array>({
    start: (controller) => controller.enqueue(head),
    pull(controller) {
      if (left === 0) {
        controller.enqueue(tail);
        return controller.close();
      }
      const piece = chunk.subarray(0, Math.min(chunk.length, left));
      left -= piece.length;
      hash.update(piece);
      controller.enqueue(piece);
    },
  });
  const res = await fetch(`${base}/api/v1/backup`, {
    method: "POST",
    headers: { "x-api-key": apiKey, "content-type": `multipart/form-data; boundary=${boundary}` },
    body,
    duplex: "half",
  } as RequestInit);
  const answer = (await res.json()) as { sizeBytes: number; sha256: string; filename: string };
  if (res.status !== 200) throw new Error(`backup answered ${res.status}: ${JSON.stringify(answer)}`);
  return { ...answer, sentSha256: hash.digest("hex") };
}

try {
  // A small upload first, so the baseline includes the code paths the big one uses.
  await uploadBytes(1024);
  await Bun.sleep(500);
  const baselineRss = rssMb(server.pid);
  const peak = watchPeakRss(server.pid);

  const t0 = performance.now();
  const stored = await uploadBytes(UPLOAD_MB * 1024 * 1024);
  const seconds = (performance.now() - t0) / 1000;
  const peakRss = peak.stop();

  const onDisk = statSync(join(dir, "backups", "bench-pi", "database", stored.filename)).size;
  if (stored.sizeBytes !== UPLOAD_MB * 1024 * 1024 || onDisk !== stored.sizeBytes || stored.sha256 !== stored.sentSha256) {
    throw new Error(`stored ${onDisk} bytes (answer: ${stored.sizeBytes}, ${stored.sha256}); sent ${UPLOAD_MB} MB, ${stored.sentSha256}`);
  }
  console.log(`uploaded ${UPLOAD_MB} MB in ${seconds.toFixed(1)} s (${(UPLOAD_MB / seconds).toFixed(0)} MB/s); stored size and sha256 match`);
  console.log(`backup_upload_mb=${UPLOAD_MB} server_peak_rss_mb=${peakRss.toFixed(0)} baseline_rss_mb=${baselineRss.toFixed(0)}`);
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
