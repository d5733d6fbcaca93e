/** Times in requests, and the query of every endpoint that reads a window of readings: from, to, and which parameters. */
import { z } from "@hono/zod-openapi";
import { fieldError, quote } from "../http/errors.ts";
import { fromSqlDatetime, parseDatetime, sqlTimestamp } from "../time.ts";

/** An ISO 8601 time as the Pi writes them (T or a space, optional fraction, Z or ±hh:mm up to ±14:00, none = UTC), within years 1000-9999 in UTC. */
export const instant = (example: string) =>
  z
    .string({ error: (iss) => (iss.input === undefined ? "is required" : "must be a string") })
    .transform((text, ctx) => {
      const sql = parseDatetime(text);
      if (typeof sql === "string") return fromSqlDatetime(sql);
      const message = sql.unparseable ? `must be an ISO 8601 time such as 2026-11-22T10:00:00Z, not ${quote(text)}` : `${quote(text)} is ${sql.problem}`;
      ctx.addIssue({ code: "custom", message });
      return z.NEVER;
    })
    .openapi({ type: "string", example, description: "ISO 8601; T or a space, optional fraction, optional Z or ±hh:mm up to ±14:00 (none = UTC); years 1000-9999 in UTC" });

/** Parameter names are the Pi's free text, bounded; a query lists at most this many. */
export const MAX_PARAMETERS = 32;

/** `parameters=RPM,SPEED`: a comma-separated list of parameter names, each listed once. */
const ParametersQuery = z
  .string()
  .transform((text, ctx) => {
    const names = [...new Set(text.split(",").map((s) => s.trim()).filter(Boolean))];
    if (names.length === 0) ctx.addIssue({ code: "custom", message: "must name at least one parameter" });
    if (names.length > MAX_PARAMETERS) ctx.addIssue({ code: "custom", message: `names ${names.length} parameters; at most ${MAX_PARAMETERS}` });
    const long = names.find((n) => n.length > 128);
    if (long) ctx.addIssue({ code: "custom", message: `${JSON.stringify(long.slice(0, 40))}… is longer than 128 characters` });
    return names;
  })
  .openapi({ type: "string", example: "RPM,SPEED,COOLANT_TEMP", description: `Comma-separated parameter names, at most ${MAX_PARAMETERS}; all the window's parameters when absent` });

/** from, to (both required) and parameters; extend it with an endpoint's own fields, then refine with afterFrom. */
export const windowFields = {
  from: instant("2026-11-22T10:00:00Z").openapi({ description: "Start of the window (inclusive)" }),
  to: instant("2026-11-22T14:00:00Z").openapi({ description: "End of the window (inclusive)" }),
  parameters: ParametersQuery.optional(),
};

/** The window's refinement: to after from. */
export function afterFrom(q: { from: Date; to: Date }, ctx: z.RefinementCtx) {
  if (q.to <= q.from) ctx.addIssue({ code: "custom", path: ["to"], message: "must be after from" });
}

/**
 * A window as DATETIME(6) bounds for BETWEEN. Times arrive to the
 * millisecond, readings are stored to the microsecond: `to` covers its whole
 * millisecond, so a window that ends on a reading's time (as a drive's does,
 * cut to milliseconds) includes that reading.
 */
export function windowBounds(from: Date, to: Date): [string, string] {
  return [sqlTimestamp(from), `${sqlTimestamp(to)}999`];
}

/** One parameter's chart data, as lib/readings/series.ts answers it. */
export const SeriesSchema = z
  .object({
    unit: z.string().nullable().openapi({ description: "The unit of the window's first reading of the parameter" }),
    t: z.array(z.number()).openapi({ description: "Epoch milliseconds (UTC)" }),
    v: z.array(z.number().nullable()).openapi({ description: "The chosen readings; null marks a gap in the readings" }),
    min: z.array(z.number().nullable()).openapi({ description: "The lowest reading each point stands for" }),
    max: z.array(z.number().nullable()).openapi({ description: "The highest reading each point stands for" }),
  })
  .openapi("Series");

/** A window inside a drive: from and to default to its start and end. */
export const driveWindowFields = {
  from: windowFields.from.optional().openapi({ description: "Start of the window (inclusive); the drive's start when absent, clamped to it" }),
  to: windowFields.to.optional().openapi({ description: "End of the window (inclusive); the drive's end when absent, clamped to it" }),
  parameters: windowFields.parameters,
};

/**
 * The window a drive request asks for, clamped to the drive's. A 422 (in the
 * shape of every 422, naming the field) when `to` is not after `from`, or
 * when the window lies wholly before or after the drive.
 */
export function withinDrive(drive: { start: Date; end: Date }, q: { from?: Date; to?: Date }): { from: Date; to: Date } {
  if (q.from && q.to && q.to <= q.from) throw fieldError("to", "must be after from");
  if (q.from && q.from > drive.end) throw fieldError("from", `is after the drive's end (${drive.end.toISOString()})`);
  if (q.to && q.to < drive.start) throw fieldError("to", `is before the drive's start (${drive.start.toISOString()})`);
  const from = new Date(Math.max(drive.start.getTime(), (q.from ?? drive.start).getTime()));
  const to = new Date(Math.min(drive.end.getTime(), (q.to ?? drive.end).getTime()));
  return { from, to };
}
