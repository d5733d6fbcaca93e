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
  ) {
    super(detail);
  }
}

/** The body of every error response. */
export const ErrorBody = z.object({ detail: z.string() }).openapi("Error");

/** An OpenAPI response entry for an error; `schema` extends ErrorBody where an endpoint adds fields. */
export function errorResponse(description: string, schema: z.ZodType = ErrorBody) {
  return { description, content: { "application/json": { schema } } };
}

/** How many validation problems a 422 lists. */
const MAX_PROBLEMS = 20;

export type Problem = { path: string; message: string; table?: string; row?: number; column?: string };

/**
 * Turns zod issues into problems that name where they are: for /sync rows,
 * the table, the row index and the column.
 */
function problemsFrom(error: z.ZodError): Problem[] {
  return error.issues.slice(0, MAX_PROBLEMS).map((issue) => {
    const p = issue.path;
    const path = p.map((k, i) => (typeof k === "number" ? `[${k}]` : `${i ? "." : ""}${String(k)}`)).join("");
    if (p[0] === "tables" && typeof p[1] === "string" && p[2] === "rows" && typeof p[3] === "number") {
      const column = typeof p[4] === "string" ? p[4] : issue.code === "unrecognized_keys" ? issue.keys[0] : undefined;
      const where = `table ${p[1]} row ${p[3]}${column ? ` column ${column}` : ""}`;
      return { path, table: p[1], row: p[3], ...(column ? { column } : {}), message: `${where}: ${issue.message}` };
    }
    return { path, message: path ? `${path}: ${issue.message}` : issue.message };
  });
}

/** The body of every 422. */
export function validationError(error: z.ZodError): ApiError {
  const problems = problemsFrom(error);
  const more = error.issues.length - problems.length;
  const detail = `Validation failed: ${problems.map((p) => p.message).join("; ")}${more > 0 ? ` (and ${more} more)` : ""}`;
  return new ApiError(422, detail, { errors: problems });
}

/** A 422 for one field, in the shape of every 422. */
export const fieldError = (field: string, message: string) => validationError(new z.ZodError([{ code: "custom", path: [field], message, input: undefined }]));

export function handleError(err: Error, c: Context<AppEnv>) {
  // ApiErrors are deliberate answers; whoever throws one for a failure logs its cause.
  if (err instanceof ApiError) {
    return c.json({ detail: err.detail, ...err.extra }, err.status);
  }
  if (err instanceof HTTPException) {
    return c.json({ detail: err.message || "Request failed" }, err.status);
  }
  c.var.logger.error({ err }, "unhandled error");
  return c.json({ detail: "Internal server error" }, 500);
}
