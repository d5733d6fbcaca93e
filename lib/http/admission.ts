/**
 * Admission control: how much the server takes on at once, so load is
 * answered with 429 and Retry-After instead of memory or connection pools
 * running out (and 500s). Every request that holds real memory (a /sync
 * body, an analysis, a backup upload) reserves its worst case
 * (requestCostsMb in lib/config.ts) from one budget, MAX_REQUEST_MEMORY_MB,
 * before it reads a byte; the auto-analysis worker's one analysis at a time
 * is reserved for good.
 *
 * And one device holds at most DEVICE_LIMITS of each kind at once, so a
 * device that bursts gets 429s while the budget stays open to the others.
 * Requests that hold no body (pings, health, listings) are never refused.
 */
import { requestCostsMb, type Config, type RequestKind as Kind } from "../config.ts";
import type { Admission, Ticket } from "./env.ts";
import { tryLater } from "./errors.ts";

/** In progress at once per device: a sync being written and the next one waiting; one analysis; two uploads (a database and its logs). */
const DEVICE_LIMITS: Record<Kind, number> = { sync: 2, analysis: 1, backup: 2 };
const NAMES: Record<Kind, [one: string, many: string]> = { sync: ["sync body", "sync bodies"], analysis: ["analysis", "analyses"], backup: ["backup upload", "backup uploads"] };

const busy = (why: string) => tryLater(429, why);

export function createAdmission(config: Pick<Config, "MAX_REQUEST_MEMORY_MB" | "MAX_SYNC_PAYLOAD_MB" | "ANALYSIS_MAX_READINGS">, { worker }: { worker: boolean }): Admission {
  const costs = requestCostsMb(config);
  const budgetMb = config.MAX_REQUEST_MEMORY_MB - (worker ? costs.analysis : 0);
  let used = 0;
  const perDevice = new Map<string, number>();
  const key = (kind: Kind, deviceId: string) => `${kind}\u0000${deviceId}`;

  return {
    enter(kind, deviceId) {
      if (used + costs[kind] > budgetMb) throw busy(`the ${NAMES[kind][1]} and other requests in progress fill MAX_REQUEST_MEMORY_MB`);
      used += costs[kind];
      let attributed: string | undefined;
      let released = false;
      const ticket: Ticket = {
        device(id) {
          if (attributed !== undefined) return;
          const n = perDevice.get(key(kind, id)) ?? 0;
          if (n >= DEVICE_LIMITS[kind]) {
            ticket.release();
            throw busy(`device ${id} already has ${n} ${NAMES[kind][n === 1 ? 0 : 1]} in progress, as many as one device may`);
          }
          perDevice.set(key(kind, id), n + 1);
          attributed = id;
        },
        release() {
          if (released) return;
          released = true;
          used -= costs[kind];
          if (attributed === undefined) return;
          const n = perDevice.get(key(kind, attributed))! - 1;
          if (n === 0) perDevice.delete(key(kind, attributed));
          else perDevice.set(key(kind, attributed), n);
        },
      };
      if (deviceId !== undefined) ticket.device(deviceId);
      return ticket;
    },
  };
}
