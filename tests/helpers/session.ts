/** Dashboard sessions without a browser: signing in through the form with app.request, as a browser would. */
import { expect } from "bun:test";
import type { App } from "../../lib/http/env.ts";

/** The origin app.request() serves: what a same-origin form sends as Origin. */
export const ORIGIN = "http://localhost";

/** The value of the cookie `name` that `res` sets, if it sets one. */
export const cookieOf = (res: Response, name: string) =>
  res.headers
    .getSetCookie()
    .find((c) => c.startsWith(`${name}=`))
    ?.split(";")[0]!
    .slice(name.length + 1);

/** A urlencoded form body and its content type. */
export const form = (fields: Record<string, string>) => ({ "content-type": "application/x-www-form-urlencoded", body: new URLSearchParams(fields).toString() });

export type Signed = { cookie: string; csrf: string; setCookie: string };

/** Signs in through the form: GET /login, then POST it with its token and the login cookie; the CSRF token comes from the overview. */
export async function signIn(app: App, key: string): Promise<Signed> {
  const get = await app.request("/login");
  const token = /name="_csrf" value="([^"]+)"/.exec(await get.text())![1]!;
  const { body, ...type } = form({ key, _csrf: token, next: "/" });
  const res = await app.request("/login", { method: "POST", headers: { ...type, origin: ORIGIN, cookie: `obd2_login=${cookieOf(get, "obd2_login")}` }, body });
  expect(res.status).toBe(303);
  const cookie = `obd2_session=${cookieOf(res, "obd2_session")}`;
  const overview = await app.request("/", { headers: { cookie } });
  const csrf = /name="csrf-token" content="([^"]+)"/.exec(await overview.text())?.[1] ?? "";
  return { cookie, csrf, setCookie: res.headers.getSetCookie().find((c) => c.startsWith("obd2_session="))! };
}
