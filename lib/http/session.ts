/**
 * Dashboard sessions, with no table: the cookie is a JWT (HS256, hono/jwt)
 * naming who signed in, a random session id and an expiry. Its signing key is
 * derived from the key that signed in:
 *
 *   admin:   HMAC-SHA256(API_KEY, "obd2 session admin")
 *   device:  HMAC-SHA256(API_KEY, "obd2 session device" ‖ deviceId ‖ the device's stored key hash)
 *
 * so changing API_KEY ends every session, and re-issuing or revoking a device
 * key (a new hash, or none) ends that device's sessions: their signatures no
 * longer verify. A device session is checked against the devices table on
 * every request, the same lookup an X-API-Key costs.
 *
 * CSRF: every state-changing request that a cookie authenticates must come
 * from this dashboard's own pages, which is checked twice. Its Origin (or, if
 * a browser sent none, its Referer) must name this server, and it must carry
 * the session's CSRF token, HMAC(session key, session id), in the form field
 * `_csrf` or the header `X-CSRF-Token`. The sign-in form, before any session,
 * uses a short-lived `obd2_login` cookie's nonce the same way.
 *
 * Behind a reverse proxy that terminates TLS, TRUST_PROXY=true makes the
 * server believe X-Forwarded-Proto (for the cookie's Secure flag) and
 * X-Forwarded-Host (for the Origin check); otherwise both are ignored.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Context, MiddlewareHandler } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { decode, sign, verify } from "hono/jwt";
import type { AppEnv, Auth, Session } from "./env.ts";
import { ApiError } from "./errors.ts";

const SESSION_COOKIE = "obd2_session";
const LOGIN_COOKIE = "obd2_login";
const LOGIN_COOKIE_SECONDS = 3600;
export const CSRF_FIELD = "_csrf";
const CSRF_HEADER = "x-csrf-token";

const hmac = (key: string, text: string) => createHmac("sha256", key).update(text).digest("base64url");

/** Constant-time equality of two tokens. */
function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

type Claims = { sub: string; sid: string; exp: number; iat: number };

/** The signing key of a session of `auth`; undefined for a device that has no key (revoked). */
async function signingKey(c: Context<AppEnv>, auth: Auth): Promise<string | undefined> {
  const { config, db } = c.var.deps;
  if (auth.kind === "admin") return hmac(config.API_KEY, "obd2 session admin");
  const device = await db.prisma.devices.findUnique({ where: { device_id: auth.deviceId }, select: { device_id: true, api_key_hash: true } });
  // The lookup's collation ignores case; a session is for exactly one id.
  if (!device?.api_key_hash || device.device_id !== auth.deviceId) return undefined;
  return hmac(config.API_KEY, `obd2 session device\0${auth.deviceId}\0${device.api_key_hash}`);
}

const subjectOf = (auth: Auth) => (auth.kind === "admin" ? "admin" : `device:${auth.deviceId}`);
const authOf = (sub: unknown): Auth | undefined =>
  sub === "admin" ? { kind: "admin" } : typeof sub === "string" && sub.startsWith("device:") ? { kind: "device", deviceId: sub.slice(7) } : undefined;

/** The origin the browser is talking to: its scheme and host, through a trusted proxy's headers when TRUST_PROXY is set. */
function publicOrigin(c: Context<AppEnv>): { https: boolean; host: string } {
  const url = new URL(c.req.url);
  if (!c.var.deps.config.TRUST_PROXY) return { https: url.protocol === "https:", host: url.host };
  const first = (name: string) => c.req.header(name)?.split(",")[0]?.trim();
  return { https: (first("x-forwarded-proto") ?? url.protocol.slice(0, -1)) === "https", host: first("x-forwarded-host") ?? url.host };
}

/**
 * Whether the request comes from a page of this server: its Origin, or
 * without one its Referer, names this host. The scheme is not compared, so
 * a TLS proxy that keeps the Host header needs no configuration.
 */
function sameOrigin(c: Context<AppEnv>): boolean {
  const site = c.req.header("sec-fetch-site");
  if (site && site !== "same-origin") return false;
  const from = c.req.header("origin") ?? c.req.header("referer");
  if (!from || from === "null") return false;
  try {
    return new URL(from).host === publicOrigin(c).host;
  } catch {
    return false;
  }
}

const cookieOptions = (c: Context<AppEnv>, maxAge: number) =>
  ({ path: "/", httpOnly: true, sameSite: "Strict", secure: publicOrigin(c).https, maxAge }) as const;

/** Signs `auth` in: sets the session cookie. Returns false for a device without a key. */
export async function startSession(c: Context<AppEnv>, auth: Auth): Promise<boolean> {
  const key = await signingKey(c, auth);
  if (!key) return false;
  const maxAge = Math.round(c.var.deps.config.SESSION_DAYS * 86_400);
  // The wall clock, as hono's verify() checks exp and iat against it.
  const now = Math.floor(Date.now() / 1000);
  const claims: Claims = { sub: subjectOf(auth), sid: randomBytes(16).toString("base64url"), iat: now, exp: now + maxAge };
  setCookie(c, SESSION_COOKIE, await sign(claims, key, "HS256"), cookieOptions(c, maxAge));
  deleteCookie(c, LOGIN_COOKIE, { path: "/" });
  return true;
}

export function endSession(c: Context<AppEnv>) {
  deleteCookie(c, SESSION_COOKIE, { path: "/" });
}

/** The request's session when its cookie verifies (signature, expiry, and the key it was signed with still in force). */
export async function readSession(c: Context<AppEnv>): Promise<Session | undefined> {
  const token = getCookie(c, SESSION_COOKIE);
  if (!token) return undefined;
  let auth: Auth | undefined;
  try {
    auth = authOf(decode(token).payload.sub);
  } catch {
    return undefined;
  }
  if (!auth) return undefined;
  const key = await signingKey(c, auth);
  if (!key) return undefined;
  let claims: Claims;
  try {
    claims = (await verify(token, key, "HS256")) as Claims;
  } catch {
    return undefined;
  }
  if (typeof claims.sid !== "string") return undefined;
  return { auth, sid: claims.sid, csrf: hmac(key, `csrf\0${claims.sid}`), expiresAt: new Date(claims.exp * 1000) };
}

/** Throws 403 unless a state-changing request comes from this dashboard with the session's CSRF token. */
export function requireCsrf(c: Context<AppEnv>, expected: string, sent: string | undefined) {
  if (!sameOrigin(c)) throw new ApiError(403, "Cross-site request refused: the Origin is not this server");
  if (!sent || !sameToken(sent, expected)) throw new ApiError(403, "Missing or invalid CSRF token");
}

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * The session of an API request sent without X-API-Key (the dashboard's own
 * scripts), with the CSRF check for state-changing methods; undefined when
 * there is none. Sets c.var.session, by which the API knows the request came
 * from the dashboard.
 */
export async function apiSession(c: Context<AppEnv>): Promise<Session | undefined> {
  const session = await readSession(c);
  if (!session) return undefined;
  if (UNSAFE.has(c.req.method)) requireCsrf(c, session.csrf, c.req.header(CSRF_HEADER));
  c.set("session", session);
  return session;
}

/** Where to go after signing in: a path on this server, never another site. */
export function safeNext(next: string | undefined): string {
  return next && /^\/(?![/\\])/.test(next) ? next : "/";
}

/**
 * Page middleware: the session, or a redirect to /login (which then comes
 * back here). No page data is read without one.
 */
export function requireSession(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const session = await readSession(c);
    if (!session) {
      // Back to the page after signing in; a form posted without a session is not replayed.
      const here = new URL(c.req.url);
      const next = c.req.method === "GET" ? here.pathname + here.search : "/";
      return c.redirect(`/login?next=${encodeURIComponent(next)}`, c.req.method === "GET" ? 302 : 303);
    }
    c.set("session", session);
    c.set("auth", session.auth);
    await next();
  };
}

/** The sign-in form's CSRF token, bound to a fresh nonce in the obd2_login cookie. */
export function loginToken(c: Context<AppEnv>): string {
  const nonce = randomBytes(16).toString("base64url");
  setCookie(c, LOGIN_COOKIE, nonce, cookieOptions(c, LOGIN_COOKIE_SECONDS));
  return hmac(hmac(c.var.deps.config.API_KEY, "obd2 login"), `csrf\0${nonce}`);
}

/** Throws 403 unless the sign-in form was posted from this server with the token its cookie's nonce was given. */
export function requireLoginCsrf(c: Context<AppEnv>, sent: string | undefined) {
  const nonce = getCookie(c, LOGIN_COOKIE);
  if (!nonce) {
    if (!sameOrigin(c)) throw new ApiError(403, "Cross-site request refused: the Origin is not this server");
    throw new ApiError(403, "The sign-in form has expired; load it again");
  }
  requireCsrf(c, hmac(hmac(c.var.deps.config.API_KEY, "obd2 login"), `csrf\0${nonce}`), sent);
}
