/**
 * Prometheus metrics (prom-client), served by GET /metrics. Each app has its
 * own registry, never prom-client's global one, so tests can build many apps
 * in one process. Endpoints count what they do through the methods below; the
 * analysis-job, queue and last-sync gauges are read from the database at scrape time.
 *
 * Per-device series exist only for real devices, and at most maxDevices of
 * them: a device is real once it authenticates with its own key or has synced
 * successfully (in this process, or in sync_history as of the last scrape).
 * Everything else counts under device="(other)", so device ids made up by
 * whoever holds the admin key cannot grow the registry without limit.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { jobCounts, queueSize } from "../analysis/jobs.ts";
import type { Db } from "../db/pools.ts";
import { AnalysisStatus } from "../db/generated/prisma/enums.ts";
import type { Logger } from "./logger.ts";
import { withTimeout, type Clock } from "../time.ts";

/** What became of a /sync batch: stored, refused as invalid (422/409), or failed in the database (500). */
/** conflict: refused because the rows would overwrite rows another database sent under the device id. */
type SyncResult = "ok" | "invalid" | "conflict" | "failed";

/** The device label of series for devices that are not (yet) real, or beyond the cap; no device id has parentheses. */
const OTHER_DEVICES = "(other)";

export type Metrics = {
  registry: Registry;
  /** Counts a /sync batch, and its rows per table when it was stored (the receipt's counts; metrics need not know the sync layer). */
  syncBatch(device: string, result: SyncResult, tables?: Record<string, { inserted: number; updated: number; unmapped?: true }>): void;
  backupStored(device: string, type: string, bytes: number): void;
  /** `route` is the matched route pattern, never the raw path, so the label stays bounded. */
  request(method: string, route: string, status: number, seconds: number): void;
  /** A device authenticated with its own key: it is real, and gets its own series while there is room. */
  knownDevice(device: string): void;
};

/** A scrape answers without the database's gauges rather than wait out a hung database. */
const DB_TIMEOUT_MS = 3000;

export function createMetrics({ db, clock, logger, maxDevices }: { db: Db; clock: Clock; logger: Logger; maxDevices: number }): Metrics {
  const registry = new Registry();
  /** The devices with their own series; never more than maxDevices. */
  const labelled = new Set<string>();
  const knownDevice = (device: string) => {
    if (labelled.size < maxDevices) labelled.add(device);
  };
  const deviceLabel = (device: string) => (labelled.has(device) ? device : OTHER_DEVICES);
  const registers = [registry];
  collectDefaultMetrics({ register: registry });

  /** A database read for a gauge; undefined (and a log line) when the database fails, so the scrape still answers. */
  async function read<T>(what: string, query: () => Promise<T>): Promise<T | undefined> {
    try {
      return await withTimeout(query(), DB_TIMEOUT_MS);
    } catch (err) {
      logger.warn({ err: String(err) }, `metrics: could not read ${what}`);
      return undefined;
    }
  }

  const syncBatches = new Counter({
    name: "obd2_sync_batches_total",
    help: "Sync batches received, by device and result (ok, invalid, conflict, failed)",
    labelNames: ["device", "result"] as const,
    registers,
  });
  const syncRows = new Counter({
    name: "obd2_sync_rows_total",
    help: "Rows stored by /sync, by device, table and op (inserted, updated)",
    labelNames: ["device", "table", "op"] as const,
    registers,
  });
  const requestDuration = new Histogram({
    name: "obd2_http_request_duration_seconds",
    help: "HTTP request duration, by method, route pattern and status",
    labelNames: ["method", "route", "status"] as const,
    // Up to a minute: large syncs and backup uploads take seconds.
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers,
  });
  const backupBytes = new Counter({
    name: "obd2_backup_bytes_total",
    help: "Bytes of backups stored, by device and type",
    labelNames: ["device", "type"] as const,
    registers,
  });
  const backups = new Counter({ name: "obd2_backups_total", help: "Backups stored, by device and type", labelNames: ["device", "type"] as const, registers });

  new Gauge({
    name: "obd2_analysis_jobs",
    help: "Auto-analysis jobs by state",
    labelNames: ["state"] as const,
    registers,
    async collect() {
      const counts = await read("analysis jobs", () => jobCounts(db.pool));
      this.reset();
      if (counts) for (const state of Object.values(AnalysisStatus)) this.set({ state }, counts[state] ?? 0);
    },
  });
  new Gauge({
    name: "obd2_analysis_queue_size",
    help: "Drives waiting for auto-analysis or being analysed (jobs pending or running)",
    registers,
    async collect() {
      const counts = await read("the analysis queue", () => jobCounts(db.pool));
      // Unknown is left out, not shown as 0.
      if (counts) this.set(queueSize(counts));
      else this.remove();
    },
  });
  new Gauge({
    name: "obd2_device_last_sync_age_seconds",
    help: "Seconds since each device's last successful sync",
    labelNames: ["device"] as const,
    registers,
    async collect() {
      const last = await read("last syncs", () =>
        db.prisma.sync_history.groupBy({ by: ["device_id"], where: { status: "success" }, _max: { completed_at: true } }),
      );
      this.reset();
      const now = clock.now().getTime();
      for (const { device_id, _max } of last ?? []) {
        knownDevice(device_id);
        if (_max.completed_at && labelled.has(device_id)) this.set({ device: device_id }, (now - _max.completed_at.getTime()) / 1000);
      }
    },
  });

  return {
    registry,
    syncBatch(deviceId, result, tables = {}) {
      if (result === "ok") knownDevice(deviceId);
      const device = deviceLabel(deviceId);
      syncBatches.inc({ device, result });
      for (const [name, { inserted, updated, unmapped }] of Object.entries(tables)) {
        // Unmapped tables are named by the client: one label for all of them keeps the series bounded.
        const table = unmapped ? "unmapped_rows" : name;
        syncRows.inc({ device, table, op: "inserted" }, inserted);
        syncRows.inc({ device, table, op: "updated" }, updated);
      }
    },
    backupStored(deviceId, type, bytes) {
      const device = deviceLabel(deviceId);
      backups.inc({ device, type });
      backupBytes.inc({ device, type }, bytes);
    },
    request(method, route, status, seconds) {
      requestDuration.observe({ method, route, status }, seconds);
    },
    knownDevice,
  };
}
