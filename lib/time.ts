/**
 * Time on the server. Every stored time is UTC. The Pi sends datetimes as
 * `YYYY-MM-DD HH:MM:SS`, `…SS.ffffff` or `…THH:MM:SSZ`; they are stored as
 * MySQL DATETIME strings with their microseconds. A time without a zone is
 * taken as UTC (the Pi does not say which zone it meant).
 */

const PI_DATETIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$/;

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

function formatUtc(d: Date): string {
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

/** `YYYY-MM-DD HH:MM:SS.ffffff` in UTC, or undefined when `text` is not a valid datetime in one of the Pi's formats. */
export function toSqlDatetime(text: string): string | undefined {
  const m = PI_DATETIME.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const fraction = ((m[7] ?? "") + "000000").slice(0, 6);
  const zone = m[8];
  if (year < 1000) return undefined; // DATETIME's range starts at year 1000
  let ms = Date.UTC(year, month - 1, day, hour, minute, second);
  const d = new Date(ms);
  // Date.UTC rolls 2026-02-30 over to March; a round trip catches impossible dates and times.
  if (d.getUTCMonth() !== month - 1 || d.getUTCDate() !== day || d.getUTCHours() !== hour || d.getUTCMinutes() !== minute || d.getUTCSeconds() !== second) {
    return undefined;
  }
  if (zone && zone !== "Z") {
    const sign = zone[0] === "-" ? -1 : 1;
    ms -= sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(-2))) * 60_000;
  }
  return `${formatUtc(new Date(ms))}.${fraction}`;
}

/** A server clock time as MySQL DATETIME(3), UTC. */
export function sqlTimestamp(d: Date): string {
  return `${formatUtc(d)}.${pad(d.getUTCMilliseconds(), 3)}`;
}

/** The clock, behind an interface so tests can pin it. */
export type Clock = { now(): Date };
export const systemClock: Clock = { now: () => new Date() };

/** "2d 4h 30m" */
export function formatUptime(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  return `${Math.floor(minutes / 1440)}d ${Math.floor((minutes % 1440) / 60)}h ${minutes % 60}m`;
}
