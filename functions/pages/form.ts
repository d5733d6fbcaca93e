/** Reading a dashboard form: small bodies only, fields as text. */
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { AppEnv } from "../../lib/http/env.ts";

/** The dashboard's forms carry a few short fields; anything bigger is refused before it is read. */
export const smallForm = bodyLimit({ maxSize: 8 * 1024, onError: (c) => c.text("Form too large", 413) });

/** The form's text fields (files and repeated fields are ignored). */
export async function formFields(c: Context<AppEnv>): Promise<Record<string, string | undefined>> {
  const body = await c.req.parseBody().catch(() => ({}));
  return Object.fromEntries(Object.entries(body).map(([k, v]) => [k, typeof v === "string" ? v : undefined]));
}
