/**
 * Whether a stored backup's digest has been confirmed (table backup_checks):
 * at upload, when the uploader sent its own sha256 and it matched what
 * arrived (the agent always sends one), or since, by re-reading the file on
 * disk against its .sha256 sidecar (the dashboard's "Verify" button). Rows of
 * backups rotated away stay behind; they are a few bytes a backup.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import type { Pool } from "mariadb";
import { recordedDigest, type BackupType } from "./store.ts";
import { fromSqlDatetime, sqlTimestamp } from "../time.ts";

export type BackupCheck = { matched: boolean; method: "upload" | "rehash"; checkedAt: Date };

export const checkKey = (b: { deviceId: string; type: BackupType; filename: string }) => `${b.deviceId}/${b.type}/${b.filename}`;

export async function recordCheck(pool: Pool, b: { deviceId: string; type: BackupType; filename: string }, check: BackupCheck): Promise<void> {
  await pool.query(
    `INSERT INTO backup_checks (device_id, type, filename, matched, method, checked_at) VALUES (?, ?, ?, ?, ?, ?)
     ON DUPLICATE KEY UPDATE matched = VALUES(matched), method = VALUES(method), checked_at = VALUES(checked_at)`,
    [b.deviceId, b.type, b.filename, check.matched, check.method, sqlTimestamp(check.checkedAt)],
  );
}

/** The checks of these devices' backups (all when undefined), by checkKey. */
export async function readChecks(pool: Pool, deviceIds?: string[]): Promise<Map<string, BackupCheck>> {
  if (deviceIds && deviceIds.length === 0) return new Map();
  const rows: { device_id: string; type: BackupType; filename: string; matched: number; method: BackupCheck["method"]; checked_at: string }[] = await pool.query(
    `SELECT device_id, type, filename, matched, method, DATE_FORMAT(checked_at, '%Y-%m-%d %H:%i:%s.%f') AS checked_at FROM backup_checks
     ${deviceIds ? `WHERE device_id IN (${deviceIds.map(() => "?").join(", ")})` : ""}`,
    deviceIds ?? [],
  );
  return new Map(
    rows.map((r) => [checkKey({ deviceId: r.device_id, type: r.type, filename: r.filename }), { matched: Boolean(r.matched), method: r.method, checkedAt: fromSqlDatetime(r.checked_at) }]),
  );
}

/** Re-reads the file at `path` (streamed) and compares its sha256 with its sidecar; null without a sidecar to compare with. */
export async function rehash(path: string): Promise<boolean | null> {
  const recorded = await recordedDigest(path);
  if (!recorded) return null;
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex") === recorded;
}
