/**
 * The overview's feed: what happened, newest first, across the session's
 * devices. Each kind of event is one source, a function that reads its
 * newest items before a time; the feed merges them. Adding a kind is one
 * source function and one entry in FEED_SOURCES.
 */
import type { Pool } from "mariadb";
import { dtcDescription } from "../analysis/dtc-codes.ts";
import { duration } from "../analysis/findings.ts";
import { fromSqlDatetime, sqlTimestamp } from "../time.ts";

export type FeedItem = {
  at: Date;
  deviceId: string;
  /** What the item is, shown as its label: "alert", "sync", "recommendation", … */
  kind: string;
  text: string;
  level: "ok" | "warn" | "bad" | "muted";
  /** Where the item's detail is, when a page shows it. */
  href?: string;
};

export type FeedQuery = { deviceIds: string[]; before: Date; limit: number };

/** A kind of event: its newest `limit` items before `before` for the devices, newest first. */
type FeedSource = (pool: Pool, q: FeedQuery) => Promise<FeedItem[]>;

const asText = (column: string) => `DATE_FORMAT(${column}, '%Y-%m-%d %H:%i:%s.%f')`;
const inList = (ids: string[]) => ids.map(() => "?").join(", ");
const shorten = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
const count = (n: number) => n.toLocaleString("en-US");

/** A mirrored table's newest rows by the Pi's `timestamp`, with `at` and `device` besides the named columns. */
function newest<T>(pool: Pool, table: "alert_log" | "ai_recommendations", columns: string, q: FeedQuery): Promise<(T & { at: string; device: string })[]> {
  return pool.query(
    `SELECT ${asText("timestamp")} AS at, source_device AS device, ${columns} FROM ${table}
     WHERE source_device IN (${inList(q.deviceIds)}) AND timestamp < ? ORDER BY timestamp DESC LIMIT ?`,
    [...q.deviceIds, sqlTimestamp(q.before), q.limit],
  );
}

/** The Pi's alerts: a reading past its threshold. */
const alerts: FeedSource = async (pool, q) => {
  const rows = await newest<{ alert_type: string; parameter_name: string; value: number; threshold: number }>(pool, "alert_log", "alert_type, parameter_name, value, threshold", q);
  return rows.map((r) => ({
    at: fromSqlDatetime(r.at),
    deviceId: r.device,
    kind: "alert",
    text: `${r.parameter_name} ${r.value} against its threshold ${r.threshold} (${r.alert_type})`,
    level: "warn",
  }));
};

/** A batch that began within this of the device's next one belongs to the same sync (the agent sends a batch per table and chunk). */
const SYNC_GAP_MS = 120_000;
/** Batches read per feed item at most, so a long backlog of batches stays one bounded query. */
const BATCHES_PER_ITEM = 50;

type Sync = { device: string; newest: Date; oldest: Date; inserted: number; updated: number; tables: Set<string>; failed: Set<string> };

/** Syncs: each device's run of batches close together is one item, with what it brought or which tables failed. */
const syncs: FeedSource = async (pool, q) => {
  const rows: { at: string; device: string; rows_inserted: number; rows_updated: number; tables_synced: unknown }[] = await pool.query(
    `SELECT ${asText("COALESCE(completed_at, started_at)")} AS at, device_id AS device, rows_inserted, rows_updated, tables_synced FROM sync_history
     WHERE device_id IN (${inList(q.deviceIds)}) AND COALESCE(completed_at, started_at) < ? ORDER BY COALESCE(completed_at, started_at) DESC LIMIT ?`,
    [...q.deviceIds, sqlTimestamp(q.before), q.limit * BATCHES_PER_ITEM],
  );
  const runs: Sync[] = [];
  const open = new Map<string, Sync>();
  for (const r of rows) {
    const at = fromSqlDatetime(r.at);
    let run = open.get(r.device);
    if (!run || run.oldest.getTime() - at.getTime() > SYNC_GAP_MS) {
      run = { device: r.device, newest: at, oldest: at, inserted: 0, updated: 0, tables: new Set(), failed: new Set() };
      runs.push(run);
      open.set(r.device, run);
    }
    run.oldest = at;
    run.inserted += Number(r.rows_inserted);
    run.updated += Number(r.rows_updated);
    const tables = (typeof r.tables_synced === "string" ? JSON.parse(r.tables_synced) : r.tables_synced) as Record<string, { status: string }>;
    for (const [name, t] of Object.entries(tables)) {
      run.tables.add(name);
      if (t.status !== "success") run.failed.add(name);
    }
  }
  return runs.slice(0, q.limit).map((run) => {
    const rowsText = `${count(run.inserted)} rows inserted, ${count(run.updated)} updated`;
    const failed = [...run.failed];
    return {
      at: run.newest,
      deviceId: run.device,
      kind: "sync",
      text: failed.length ? `Sync failed for ${failed.join(", ")}; ${rowsText}` : `Synced ${run.tables.size} ${run.tables.size === 1 ? "table" : "tables"}: ${rowsText}`,
      level: failed.length ? "bad" : "ok",
      href: `/sync-history?device=${encodeURIComponent(run.device)}`,
    } satisfies FeedItem;
  });
};

/** Recommendations, the Pi's own and the server's analyses' (stored in the same table). */
const recommendations: FeedSource = async (pool, q) => {
  const rows = await newest<{ recommendation: string; priority_rank: number | null }>(pool, "ai_recommendations", "recommendation, priority_rank", q);
  return rows.map((r) => ({
    at: fromSqlDatetime(r.at),
    deviceId: r.device,
    kind: "recommendation",
    text: `${r.priority_rank === null ? "" : `#${r.priority_rank} `}${shorten(r.recommendation, 300)}`,
    level: "muted",
  }));
};

/** Drives, when they closed, with their summary's headline figures once it is computed. */
const drives: FeedSource = async (pool, q) => {
  const rows: Record<string, any>[] = await pool.query(
    `SELECT ${asText("drive_end")} AS at, source_device AS device, drive_id, duration_s, distance_km, max_coolant_c FROM drives
     WHERE source_device IN (${inList(q.deviceIds)}) AND drive_end IS NOT NULL AND drive_end < ? ORDER BY drive_end DESC LIMIT ?`,
    [...q.deviceIds, sqlTimestamp(q.before), q.limit],
  );
  return rows.map((r) => {
    const figures = [
      r.distance_km === null ? null : `${r.distance_km.toFixed(1)} km`,
      r.duration_s === null ? null : `in ${duration(r.duration_s)}`,
      r.max_coolant_c === null ? null : `coolant up to ${Math.round(r.max_coolant_c)} °C`,
    ].filter(Boolean);
    return {
      at: fromSqlDatetime(r.at),
      deviceId: r.device,
      kind: "drive",
      text: `Drive ${r.drive_id}${figures.length ? `: ${figures.join(", ")}` : " (summary to come)"}`,
      level: "ok",
      href: `/drives/${encodeURIComponent(r.device)}/${r.drive_id}`,
    } satisfies FeedItem;
  });
};

/** Trouble codes the device had never reported before, when first seen. */
const newDtcs: FeedSource = async (pool, q) => {
  const rows: Record<string, any>[] = await pool.query(
    `SELECT ${asText("d.first_seen_timestamp")} AS at, d.source_device AS device, d.dtc_code, d.description, d.status FROM dtc_log d
     WHERE d.source_device IN (${inList(q.deviceIds)}) AND d.first_seen_timestamp < ?
       AND NOT EXISTS (SELECT 1 FROM dtc_log e WHERE e.source_device = d.source_device AND e.dtc_code = d.dtc_code AND e.first_seen_timestamp < d.first_seen_timestamp)
     ORDER BY d.first_seen_timestamp DESC LIMIT ?`,
    [...q.deviceIds, sqlTimestamp(q.before), q.limit],
  );
  return rows.map((r) => ({
    at: fromSqlDatetime(r.at),
    deviceId: r.device,
    kind: "new DTC",
    text: `${r.dtc_code} ${r.status}: ${dtcDescription(r.dtc_code, r.description) ?? "no description"}`,
    level: "bad",
  }));
};

/** Every source of the feed. */
const FEED_SOURCES: FeedSource[] = [drives, alerts, newDtcs, syncs, recommendations];

/** The newest `limit` items before `before` over all sources, newest first. */
export async function readFeed(pool: Pool, q: FeedQuery): Promise<FeedItem[]> {
  if (q.deviceIds.length === 0) return [];
  const all = (await Promise.all(FEED_SOURCES.map((source) => source(pool, q)))).flat();
  return all.sort((a, b) => b.at.getTime() - a.at.getTime()).slice(0, q.limit);
}
