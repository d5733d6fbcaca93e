/**
 * A drive's fuel-trim map: the mean of STFT + LTFT (the ECU's total fuel
 * correction, %) in each RPM × engine-load cell, with its sample count, the
 * way a tuner reads a MAF or injector scaling off a log. Only warm,
 * closed-loop samples count, since elsewhere the trims are frozen or ignored:
 *
 * - warm: COOLANT_TEMP at or above LIMITS.warmC;
 * - closed loop: when the Pi logs FUEL_SYSTEM_STATUS (or FUEL_STATUS), its
 *   value is 2 (OBD-II PID 03, "closed loop, using oxygen sensor feedback");
 *   otherwise the engine runs (RPM at or above CRANKING_RPM) and the load is
 *   below OPEN_LOOP_LOAD_PCT (the 4G63 goes open loop for enrichment at high
 *   load) and above DECEL_LOAD_PCT (fuel cut on a closed throttle).
 *
 * The Pi polls one PID after another, tens of milliseconds apart, so a
 * sample is each SHORT_FUEL_TRIM_1 reading with the latest reading of each
 * other parameter, when that is at most MAX_AGE_MS older. One streamed pass
 * over the drive's readings, holding one number per parameter.
 */
import type { Pool } from "mariadb";
import { LIMITS } from "../analysis/limits.ts";
import { windowBounds } from "../readings/window.ts";

export const RPM_EDGES = [0, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 4500, 5000, 5500, 6000, 6500, 7000];
export const LOAD_EDGES = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
const CRANKING_RPM = 500;
const OPEN_LOOP_LOAD_PCT = 75;
const DECEL_LOAD_PCT = 10;
const MAX_AGE_MS = 2000;
const STATUS = ["FUEL_SYSTEM_STATUS", "FUEL_STATUS"];
const NEEDED = ["RPM", "ENGINE_LOAD", "COOLANT_TEMP", "LONG_FUEL_TRIM_1"] as const;
export const TRIM_PARAMETERS = ["SHORT_FUEL_TRIM_1", ...NEEDED, ...STATUS];

type TrimCell = { rpm: [number, number]; load: [number, number]; count: number; meanPct: number };
export type TrimMap = { samples: number; closedLoopBy: "status" | "load"; cells: TrimCell[] };

/** Index of the bin `x` falls in ([edge, next edge); the last bin takes its upper edge too), or -1. */
function bin(edges: number[], x: number): number {
  if (x < edges[0]! || x > edges.at(-1)!) return -1;
  for (let i = 1; i < edges.length; i++) if (x < edges[i]!) return i - 1;
  return edges.length - 2;
}

/** The map's pure core: feed readings in time order, then read the cells. */
export class TrimMapBuilder {
  private latest = new Map<string, { t: number; v: number }>();
  private sum = new Float64Array((RPM_EDGES.length - 1) * (LOAD_EDGES.length - 1));
  private count = new Uint32Array(this.sum.length);
  private sawStatus = false;

  push(name: string, t: number, v: number): void {
    if (STATUS.includes(name)) this.sawStatus = true;
    if (name !== "SHORT_FUEL_TRIM_1") {
      this.latest.set(STATUS.includes(name) ? "STATUS" : name, { t, v });
      return;
    }
    const fresh = (key: string) => {
      const r = this.latest.get(key);
      return r && t - r.t <= MAX_AGE_MS ? r.v : undefined;
    };
    const [rpm, load, coolant, ltft] = NEEDED.map(fresh);
    if (rpm === undefined || load === undefined || coolant === undefined || ltft === undefined) return;
    if (coolant < LIMITS.warmC) return;
    if (this.sawStatus) {
      if (fresh("STATUS") !== 2) return;
    } else if (rpm < CRANKING_RPM || load >= OPEN_LOOP_LOAD_PCT || load <= DECEL_LOAD_PCT) return;
    const r = bin(RPM_EDGES, rpm);
    const l = bin(LOAD_EDGES, load);
    if (r < 0 || l < 0) return;
    const i = l * (RPM_EDGES.length - 1) + r;
    this.sum[i]! += v + ltft;
    this.count[i]!++;
  }

  map(): TrimMap {
    const cells: TrimCell[] = [];
    let samples = 0;
    for (let l = 0; l < LOAD_EDGES.length - 1; l++) {
      for (let r = 0; r < RPM_EDGES.length - 1; r++) {
        const i = l * (RPM_EDGES.length - 1) + r;
        const n = this.count[i]!;
        if (!n) continue;
        samples += n;
        cells.push({ rpm: [RPM_EDGES[r]!, RPM_EDGES[r + 1]!], load: [LOAD_EDGES[l]!, LOAD_EDGES[l + 1]!], count: n, meanPct: this.sum[i]! / n });
      }
    }
    return { samples, closedLoopBy: this.sawStatus ? "status" : "load", cells };
  }
}

/** The map of a device's readings in a window (a drive's), read in one streamed pass of the window index. */
export async function readTrimMap(pool: Pool, q: { deviceId: string; from: Date; to: Date }): Promise<TrimMap> {
  const builder = new TrimMapBuilder();
  const conn = await pool.getConnection();
  try {
    const stream = conn.queryStream(
      {
        sql: `SELECT parameter_name, TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', timestamp) / 1000e0, value FROM realtime_data
              WHERE source_device = ? AND timestamp BETWEEN ? AND ? AND parameter_name IN (${TRIM_PARAMETERS.map(() => "?").join(", ")})
              ORDER BY timestamp, parameter_name, value, id`,
        rowsAsArray: true,
      },
      [q.deviceId, ...windowBounds(q.from, q.to), ...TRIM_PARAMETERS],
    );
    for await (const [name, t, v] of stream as AsyncIterable<[string, number, number]>) builder.push(name, t, v);
  } finally {
    await conn.release();
  }
  return builder.map();
}
