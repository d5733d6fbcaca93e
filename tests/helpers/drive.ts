/**
 * Drives for tests: readings put in the test database without going through
 * /sync (from a simulated Pi file, or made by hand), and the rows a /sync of a
 * short drive carries.
 */
import { openDb } from "../../client/sqlite.ts";
import { sqlTimestamp, toSqlDatetime } from "../../lib/time.ts";
import type { TestDb } from "./db.ts";

export type Reading = { timestamp: string; parameter_name: string; value: number; unit?: string; profile_id?: string };

/** Rows per INSERT: 9 placeholders each, far below the 65,535 placeholder limit. */
const CHUNK = 2000;

async function insertReadings(db: TestDb, deviceId: string, rows: (Reading & { source_id: number; data_source?: string | null; drive_id?: number | null })[]): Promise<number> {
  const syncedAt = sqlTimestamp(new Date());
  for (let i = 0; i < rows.length; i += CHUNK) {
    const chunk = rows.slice(i, i + CHUNK);
    const values: unknown[] = [];
    for (const r of chunk) {
      const timestamp = toSqlDatetime(r.timestamp);
      if (!timestamp) throw new Error(`reading ${r.source_id}: timestamp "${r.timestamp}" is not a datetime`);
      values.push(r.source_id, deviceId, syncedAt, timestamp, r.parameter_name, r.value, r.unit ?? null, r.profile_id ?? null, r.data_source ?? null, r.drive_id ?? null);
    }
    await db.query(
      `INSERT INTO realtime_data (source_id, source_device, synced_at, sync_batch_id, timestamp, parameter_name, value, unit, profile_id, data_source, drive_id)
       VALUES ${chunk.map(() => "(?, ?, ?, 'test', ?, ?, ?, ?, ?, ?, ?)").join(", ")}`,
      values,
    );
  }
  return rows.length;
}

/** Copies a simulated (EclipseTuner) file's realtime_data into the test database as `deviceId`'s rows; returns how many. */
export async function loadRealtime(db: TestDb, deviceId: string, sqlitePath: string): Promise<number> {
  const file = openDb(sqlitePath, { readonly: true });
  let rows;
  try {
    // SELECT *: legacy files lack data_source and drive_id.
    rows = file.prepare("SELECT * FROM realtime_data ORDER BY id").all();
  } finally {
    file.close();
  }
  return insertReadings(
    db,
    deviceId,
    rows.map((r) => ({
      source_id: Number(r.id),
      timestamp: String(r.timestamp),
      parameter_name: String(r.parameter_name),
      value: Number(r.value),
      unit: r.unit === null ? undefined : String(r.unit),
      profile_id: r.profile_id === null ? undefined : String(r.profile_id),
      data_source: (r.data_source as string | undefined) ?? null,
      drive_id: r.drive_id === undefined || r.drive_id === null ? null : Number(r.drive_id),
    })),
  );
}

/** Inserts hand-made readings for `deviceId`, numbered after the device's highest source_id; returns how many. */
export async function seedReadings(db: TestDb, deviceId: string, rows: Reading[]): Promise<number> {
  const [row] = await db.query<{ top: number | bigint | null }[]>("SELECT MAX(source_id) AS top FROM realtime_data WHERE source_device = ?", [deviceId]);
  const first = Number(row?.top ?? 0) + 1;
  return insertReadings(db, deviceId, rows.map((r, i) => ({ ...r, source_id: first + i })));
}

/** 2026-04-19 08:MM:SS */
export const stamp = (minute: number, second = 0) => `2026-04-19 08:${String(minute).padStart(2, "0")}:${String(second).padStart(2, "0")}`;

/** 50 realtime_data rows as the Pi sends them in /sync, across 10 minutes from 08:00, with ids from `firstId`. */
export function readings(firstId = 1) {
  return Array.from({ length: 50 }, (_, i) => ({
    id: firstId + i,
    timestamp: stamp(Math.floor((i * 12) / 60), (i * 12) % 60),
    parameter_name: i % 2 ? "COOLANT_TEMP" : "RPM",
    value: i % 2 ? 85 + i / 10 : 850 + (i % 7),
    unit: i % 2 ? "°C" : "rpm",
    profile_id: "daily",
    data_source: "real",
    drive_id: 1,
  }));
}

/** A connection_log row as the Pi sends it. */
export const event = (id: number, event_type: string, timestamp: string) => ({
  id,
  timestamp,
  event_type,
  mac_address: "/dev/rfcomm0",
  success: 1,
  error_message: null,
  retry_count: 0,
  data_source: "real",
  drive_id: 1,
});

/** One drive, 08:00 to 08:10, as connection_log rows. */
export const DRIVE = { start: event(1, "drive_start", stamp(0)), end: event(2, "drive_end", stamp(10)) };
