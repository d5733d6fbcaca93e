/**
 * Time on the server. Every stored time is UTC. The Pi sends datetimes as
 * `YYYY-MM-DD HH:MM:SS`, `…SS.ffffff` or `…THH:MM:SSZ`; they are stored as
 * MySQL DATETIME strings with their microseconds. A time without a zone is
 * taken as UTC (the Pi does not say which zone it meant).
 */

const PI_DATETIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?$/;

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

function formatUtc(d: Date): string {
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

const daysIn = (year: number, month: number) =>
  month === 2 ? (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31;

/** How far a UTC offset may go: real zones run from -12:00 to +14:00. */
const MAX_OFFSET_MINUTES = 14 * 60;

/**
 * `text` as `YYYY-MM-DD HH:MM:SS.ffffff` in UTC, or why it is not a datetime
 * MySQL can store: not one of the Pi's formats, no such date or time, an
 * offset beyond ±14:00, or a UTC time outside DATETIME's years 1000-9999.
 * Success returns the bare string, so the hot path allocates nothing more.
 */
export function parseDatetime(text: string): string | { problem: string; unparseable?: true } {
  const m = PI_DATETIME.exec(text);
  if (!m) return { problem: "not in one of the Pi's formats", unparseable: true };
  const year = +m[1]!, month = +m[2]!, day = +m[3]!, hour = +m[4]!, minute = +m[5]!, second = +m[6]!;
  // DATETIME starts at year 1000; impossible dates such as 02-30 are refused, not rolled over.
  if (year < 1000 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || second > 59) {
    return { problem: year < 1000 ? "before the year 1000" : "not a real date or time" };
  }
  const fraction = ((m[7] ?? "") + "000000").slice(0, 6);
  const zone = m[8];
  // This runs for every row of every sync: the zone-less and Z forms need no Date arithmetic.
  if (!zone || zone === "Z") return `${text.slice(0, 10)} ${text.slice(11, 19)}.${fraction}`;
  const offsetHours = Number(zone.slice(1, 3));
  const offsetMinutes = Number(zone.slice(-2));
  if (offsetMinutes > 59 || offsetHours * 60 + offsetMinutes > MAX_OFFSET_MINUTES) return { problem: `at UTC offset ${zone}, beyond ±14:00` };
  const sign = zone[0] === "-" ? -1 : 1;
  const utc = new Date(Date.UTC(year, month - 1, day, hour, minute, second) - sign * (offsetHours * 60 + offsetMinutes) * 60_000);
  const utcYear = utc.getUTCFullYear();
  if (utcYear < 1000 || utcYear > 9999) return { problem: `outside the years 1000-9999 in UTC (${zone} makes it the year ${utcYear})` };
  return `${formatUtc(utc)}.${fraction}`;
}

/** `YYYY-MM-DD HH:MM:SS.ffffff` in UTC, or undefined when `text` is not a datetime parseDatetime accepts. */
export function toSqlDatetime(text: string): string | undefined {
  const parsed = parseDatetime(text);
  return typeof parsed === "string" ? parsed : undefined;
}

/** A server clock time as MySQL DATETIME(3), UTC. */
export function sqlTimestamp(d: Date): string {
  return `${formatUtc(d)}.${pad(d.getUTCMilliseconds(), 3)}`;
}

/**
 * A UTC DATETIME as text (toSqlDatetime's output, or DATE_FORMAT with the
 * session in UTC) as a Date, to the millisecond. Raw queries read times as
 * text because the connector would take a DATETIME in the process's local
 * time zone.
 */
export function fromSqlDatetime(text: string): Date {
  return new Date(`${text.slice(0, 10)}T${text.slice(11, 23)}Z`);
}

/** The clock, behind an interface so tests can pin it. */
export type Clock = { now(): Date };
export const systemClock: Clock = { now: () => new Date() };

/** "2d 4h 30m" */
export function formatUptime(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  return `${Math.floor(minutes / 1440)}d ${Math.floor((minutes % 1440) / 60)}h ${minutes % 60}m`;
}

/** `work`, or a rejection with "timeout" after `ms`; bounds a check that a hung dependency would stall. */
export function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  return Promise.race([work, new Promise<never>((_, fail) => setTimeout(() => fail(new Error("timeout")), ms).unref?.())]);
}
