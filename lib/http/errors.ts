/**
 * One error type and one error handler. Every error body has the seed
 * contract's shape, {"detail": "..."}, plus fields an endpoint documents.
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "@hono/zod-openapi";
import type { AppEnv } from "./env.ts";

export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly detail: string,
    readonly extra: Record<string, unknown> = {},
    /** Response headers that go with the answer, such as a 429's Retry-After. */
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
  }
}

/** What a 429 or 503 tells the client to wait; the agent waits at least this long before it retries. */
const RETRY_AFTER_SECONDS = 5;

/** Load, not a fault: 429 (too much in progress) or 503 (a pool ran dry), with Retry-After. */
export function tryLater(status: 429 | 503, why: string): ApiError {
  return new ApiError(status, `Server busy: ${why}; retry after ${RETRY_AFTER_SECONDS} s`, {}, { "Retry-After": String(RETRY_AFTER_SECONDS) });
}

/** A connection pool had none to give within its acquireTimeout (mariadb's ER_GET_CONNECTION_TIMEOUT, perhaps wrapped by Prisma). */
export function isPoolTimeout(err: unknown): boolean {
  for (let e = err as { errno?: number; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (e.errno === 45028) return true;
  }
  return false;
}

/** The body of every error response. */
export const ErrorBody = z.object({ detail: z.string() }).openapi("Error");

/** An OpenAPI response entry for an error; `schema` extends ErrorBody where an endpoint adds fields. */
export function errorResponse(description: string, schema: z.ZodType = ErrorBody) {
  return { description, content: { "application/json": { schema } } };
}

/** How many validation problems a 422 lists. */
export const MAX_PROBLEMS = 20;
/** Every 422 body stays under this, whatever the request held. */
const MAX_422_BYTES = 16 * 1024;

const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max)}…` : text);

/** A value of the request as a message quotes it: its first 40 characters, so no answer echoes a whole value. */
export const quote = (text: string) => JSON.stringify(clip(text, 40));

export type Problem = { path: string; message: string; table?: string; row?: number; column?: string };

/**
 * Turns zod issues into problems that name where they are: for /sync rows,
 * the table, the row index and the column. Paths and messages are clipped:
 * keys come from the request too.
 */
function problemsFrom(error: z.ZodError): Problem[] {
  return error.issues.slice(0, MAX_PROBLEMS).map((issue) => {
    const p = issue.path;
    const path = clip(p.map((k, i) => (typeof k === "number" ? `[${k}]` : `${i ? "." : ""}${String(k)}`)).join(""), 200);
    if (p[0] === "tables" && typeof p[1] === "string" && p[2] === "rows" && typeof p[3] === "number") {
      const named = typeof p[4] === "string" ? p[4] : issue.code === "unrecognized_keys" ? issue.keys[0] : undefined;
      const column = named === undefined ? undefined : clip(named, 64);
      const where = `table ${p[1]} row ${p[3]}${column ? ` column ${column}` : ""}`;
      return { path, table: p[1], row: p[3], ...(column ? { column } : {}), message: clip(`${where}: ${issue.message}`, 300) };
    }
    return { path, message: clip(path ? `${path}: ${issue.message}` : issue.message, 300) };
  });
}

/**
 * The body of every 422: the first problems, and how many more there were
 * (`total` counts problems that were counted but not kept). Problems are
 * dropped from the end, into that count, until the body fits MAX_422_BYTES.
 */
export function validationError(error: z.ZodError, total = error.issues.length): ApiError {
  const problems = problemsFrom(error);
  for (;;) {
    const more = total - problems.length;
    const detail = `Validation failed: ${problems.map((p) => p.message).join("; ")}${more > 0 ? ` (and ${more} more)` : ""}`;
    if (problems.length <= 1 || Buffer.byteLength(JSON.stringify({ detail, errors: problems })) < MAX_422_BYTES) {
      return new ApiError(422, detail, { errors: problems });
    }
    problems.pop();
  }
}

/** A 422 for one field, in the shape of every 422. */
export const fieldError = (field: string, message: string) => validationError(new z.ZodError([{ code: "custom", path: [field], message, input: undefined }]));

export function handleError(err: Error, c: Context<AppEnv>) {
  // ApiErrors are deliberate answers; whoever throws one for a failure logs its cause.
  if (err instanceof ApiError) {
    return c.json({ detail: err.detail, ...err.extra }, err.status, err.headers);
  }
  if (err instanceof HTTPException) {
    return c.json({ detail: err.message || "Request failed" }, err.status);
  }
  // A client that goes away mid-body breaks the read; that is the client's doing, not a server fault.
  if (c.req.raw.signal.aborted) {
    c.var.logger.warn({ method: c.req.method, path: c.req.path, reason: err.message }, "client disconnected before its request was read");
    return c.json({ detail: "Request interrupted" }, 400);
  }
  if (isPoolTimeout(err)) {
    c.var.logger.warn({ method: c.req.method, path: c.req.path }, "no database connection free within the pool's timeout; answered 503");
    return handleError(tryLater(503, "no database connection free"), c);
  }
  c.var.logger.error({ err }, "unhandled error");
  return c.json({ detail: "Internal server error" }, 500);
}
