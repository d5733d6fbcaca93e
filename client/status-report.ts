/**
 * What the agent tells the server about itself, for the dashboard: its
 * version, each table's backlog (rows pending, the oldest one's time), its
 * quarantine and last errors, as POST /api/v1/devices/{deviceId}/status takes
 * them (lib/dashboard/device-status.ts). Built from the same state `status`
 * prints. Sending it is best effort: a report that fails is simply the next
 * one's job, and never stops a push. Sent after every push, by `push` and by
 * each round of `run` that finds the server.
 */
import type { StatusReport } from "../lib/dashboard/device-status.ts";
import { version } from "../lib/version.ts";
import { collectState, quarantineSample } from "./report.ts";
import type { SqliteDb } from "./sqlite.ts";

/** The server's bounds (lib/dashboard/device-status.ts; a test checks they agree). */
export const REPORT_LIMITS = { tables: 64, sample: 50, text: 500, key: 128 };

const cut = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
/** An ISO time, or null for what the server would not read as one (an adopted sync_log may hold anything). */
const iso = (s: string | null) => (s && !Number.isNaN(Date.parse(s)) ? new Date(s).toISOString() : null);

export function statusReport(db: SqliteDb, now = Date.now()): StatusReport {
  const state = collectState(db, now);
  const quarantined = state.tables.filter((t) => t.quarantined > 0).map((t) => t.table);
  return {
    agentVersion: version,
    tables: state.tables.slice(0, REPORT_LIMITS.tables).map((t) => ({
      table: t.table,
      pending: t.backlog,
      oldestUnsynced: t.oldestUnsynced,
      quarantined: t.quarantined,
      lastError: t.lastError === null ? null : cut(t.lastError, REPORT_LIMITS.text),
      lastSyncedAt: iso(t.lastSyncedAt),
    })),
    quarantine: quarantineSample(db, quarantined, REPORT_LIMITS.sample).map((q) => ({
      table: q.table,
      key: cut(q.key, REPORT_LIMITS.key),
      error: cut(q.error, REPORT_LIMITS.text),
      at: iso(q.at),
    })),
  };
}

/** POSTs the report once; true when the server stored it, otherwise why not. */
export async function sendStatus(o: { serverUrl: string; apiKey: string; deviceId: string; timeoutMs: number }, report: StatusReport): Promise<true | string> {
  try {
    const res = await fetch(`${o.serverUrl}/api/v1/devices/${encodeURIComponent(o.deviceId)}/status`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": o.apiKey },
      body: JSON.stringify(report),
      signal: AbortSignal.timeout(o.timeoutMs),
    });
    if (res.ok) return true;
    return `POST /api/v1/devices/${o.deviceId}/status answered ${res.status}: ${(await res.text()).slice(0, 200)}`;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
