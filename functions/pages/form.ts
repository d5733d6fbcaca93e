/** Reading a dashboard form: small bodies only, fields as text. */
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { AppEnv } from "../../lib/http/env.ts";
import { ApiError } from "../../lib/http/errors.ts";
import { CSRF_FIELD, requireCsrf } from "../../lib/http/session.ts";
import { refused } from "./components/layout.tsx";

type Fields = Record<string, string | undefined>;

/** The dashboard's forms carry a few short fields; anything bigger is refused before it is read. */
export const smallForm = bodyLimit({ maxSize: 8 * 1024, onError: (c) => c.text("Form too large", 413) });

/** The form's text fields (files and repeated fields are ignored). */
export async function formFields(c: Context<AppEnv>): Promise<Fields> {
  const body = await c.req.parseBody().catch(() => ({}));
  return Object.fromEntries(Object.entries(body).map(([k, v]) => [k, typeof v === "string" ? v : undefined]));
}


/** A signed-in page's form with its CSRF token checked: its fields, or the refusal page to answer instead (403). */
export async function checkedForm(c: Context<AppEnv>): Promise<{ fields: Fields; refusal?: undefined } | { fields?: undefined; refusal: Response }> {
  const fields = await formFields(c);
  try {
    requireCsrf(c, c.var.session!.csrf, fields[CSRF_FIELD]);
  } catch (err) {
    if (err instanceof ApiError) return { refusal: await refused(c, err.detail) };
    throw err;
  }
  return { fields };
}
