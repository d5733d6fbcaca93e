/**
 * Dashboard sign-in without a browser (app.request, real MariaDB): the
 * session cookie's attributes, what ends a session (sign-out, a new API_KEY,
 * a re-issued or revoked device key, expiry, tampering), the CSRF checks on
 * forms and on cookie-authenticated API calls, and the 404 a device's session
 * gets for another device.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createApp } from "../functions/index.ts";
import { createLogger } from "../lib/http/logger.ts";
import { safeNext } from "../lib/http/session.ts";
import { API_KEY, issueKey, testApp, testConfig, type TestApp } from "./helpers/app.ts";
import { cookieOf, form, ORIGIN, signIn as formSignIn, type Signed } from "./helpers/session.ts";

let t: TestApp;
let keyA: string;

beforeAll(async () => {
  t = await testApp();
  keyA = await issueKey(t, "pi-a");
  await issueKey(t, "pi-b");
});
afterAll(() => t.close());

/** Signs in through the form as a browser would (tests/helpers/session.ts). */
const signIn = (key: string, app = t.app): Promise<Signed> => formSignIn(app, key);

const statusBody = { agentVersion: "0.1.0", tables: [{ table: "realtime_data", pending: 5, oldestUnsynced: "2026-11-22T10:00:00Z", quarantined: 0, lastError: null, lastSyncedAt: null }], quarantine: [] };

describe("sign-in", () => {
  test("the admin key should set an HttpOnly, SameSite=Strict session cookie and go where it was asked", async () => {
    const s = await signIn(API_KEY);
    expect(s.setCookie).toMatch(/^obd2_session=[\w-]+\.[\w-]+\.[\w-]+; Max-Age=2592000; Path=\/; HttpOnly; SameSite=Strict$/);
    const page = await t.app.request("/", { headers: { cookie: s.cookie } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('data-field="who">admin<');
  });

  test("a cookie over https (behind a proxy it trusts) should be Secure", async () => {
    const proxied = createApp({ config: testConfig({ DATABASE_URL: t.db.url, TRUST_PROXY: "true" }), db: t.db, logger: createLogger(testConfig()) });
    const get = await proxied.request("/login", { headers: { "x-forwarded-proto": "https", "x-forwarded-host": "garage.example" } });
    expect(get.headers.getSetCookie()[0]).toEndWith("; Secure; SameSite=Strict");
    // Without TRUST_PROXY the same headers change nothing.
    expect((await t.app.request("/login", { headers: { "x-forwarded-proto": "https" } })).headers.getSetCookie()[0]).not.toContain("Secure");
  });

  test("a wrong key should answer 401 with the form again and set no session", async () => {
    const get = await t.app.request("/login");
    const token = /name="_csrf" value="([^"]+)"/.exec(await get.text())![1]!;
    const { body, ...type } = form({ key: "not-a-key-at-all-000000", _csrf: token });
    const res = await t.app.request("/login", { method: "POST", headers: { ...type, origin: ORIGIN, cookie: `obd2_login=${cookieOf(get, "obd2_login")}` }, body });
    expect(res.status).toBe(401);
    expect(cookieOf(res, "obd2_session")).toBeUndefined();
    expect(await res.text()).toContain("That key is not valid");
  });

  test("a sign-in form posted from another origin, or without its token, should be refused", async () => {
    const get = await t.app.request("/login");
    const token = /name="_csrf" value="([^"]+)"/.exec(await get.text())![1]!;
    const login = `obd2_login=${cookieOf(get, "obd2_login")}`;
    const post = (headers: Record<string, string>, fields: Record<string, string>) => {
      const { body, ...type } = form(fields);
      return t.app.request("/login", { method: "POST", headers: { ...type, ...headers }, body });
    };
    for (const [headers, fields] of [
      [{ origin: "http://evil.example", cookie: login }, { key: API_KEY, _csrf: token }],
      [{ origin: ORIGIN, cookie: login }, { key: API_KEY }],
      [{ origin: ORIGIN, cookie: login }, { key: API_KEY, _csrf: "forged" }],
      [{ cookie: login }, { key: API_KEY, _csrf: token }],
    ] as const) {
      const res = await post(headers, fields);
      expect({ status: res.status, session: cookieOf(res, "obd2_session") }).toEqual({ status: 403, session: undefined });
    }
  });

  test("after sign-in it should only ever go to a path on this server", () => {
    expect(["/backups?device=pi-a", "//evil.example/x", "https://evil.example", "/\\evil.example", undefined, "backups"].map(safeNext)).toEqual([
      "/backups?device=pi-a",
      "/",
      "/",
      "/",
      "/",
      "/",
    ]);
  });
});

describe("what a session reaches", () => {
  test("no session: every page should redirect to /login, showing no data", async () => {
    for (const path of ["/", "/backups", "/sync-history", "/?device=pi-a"]) {
      const res = await t.app.request(path);
      expect({ status: res.status, location: res.headers.get("location") }).toEqual({ status: 302, location: `/login?next=${encodeURIComponent(path)}` });
      expect(await res.text()).toBe("");
    }
    // A form posted without a session goes to the sign-in page, which then leads to the overview, not back to the form's target.
    const { body, ...type } = form({ deviceId: "pi-a" });
    const post = await t.app.request("/backups/verify", { method: "POST", headers: { ...type, origin: ORIGIN }, body });
    expect({ status: post.status, location: post.headers.get("location") }).toEqual({ status: 303, location: "/login?next=%2F" });
  });

  test("the API should accept the session cookie instead of X-API-Key", async () => {
    const s = await signIn(API_KEY);
    const res = await t.call("/api/v1/backups", { key: null, headers: { cookie: s.cookie } });
    expect(res.status).toBe(200);
  });

  test("a device's session should get 404, not 403, for another device, and 200 for its own", async () => {
    const s = await signIn(keyA);
    const get = (path: string) => t.call(path, { key: null, headers: { cookie: s.cookie } });
    for (const path of ["/api/v1/devices/pi-b/status", "/api/v1/backups?deviceId=pi-b", "/api/v1/analyses?deviceId=pi-b", "/api/v1/sync/state?deviceId=pi-b"]) {
      const res = await get(path);
      expect({ path, status: res.status, body: await res.json() }).toEqual({ path, status: 404, body: { detail: "Not found" } });
    }
    expect((await get("/api/v1/sync/state?deviceId=pi-a")).status).toBe(200);
    for (const path of ["/?device=pi-b", "/backups?device=pi-b", "/sync-history?device=pi-b"]) {
      expect({ path, status: (await t.app.request(path, { headers: { cookie: s.cookie } })).status }).toEqual({ path, status: 404 });
    }
    // The device key itself keeps the API's documented 403.
    expect((await t.call("/api/v1/devices/pi-b/status", { key: keyA })).status).toBe(403);
  });
});

describe("what ends a session", () => {
  test("signing out should end it", async () => {
    const s = await signIn(API_KEY);
    const { body, ...type } = form({ _csrf: s.csrf });
    const res = await t.app.request("/logout", { method: "POST", headers: { ...type, origin: ORIGIN, cookie: s.cookie }, body });
    expect({ status: res.status, location: res.headers.get("location") }).toEqual({ status: 303, location: "/login" });
    expect(res.headers.getSetCookie()[0]).toStartWith("obd2_session=; Max-Age=0");
  });

  test("a new API_KEY should end every session the old one signed, admin and device alike", async () => {
    const admin = await signIn(API_KEY);
    const device = await signIn(keyA);
    const rekeyed = createApp({ config: testConfig({ DATABASE_URL: t.db.url, API_KEY: "a-brand-new-admin-key-42" }), db: t.db, logger: createLogger(testConfig()) });
    for (const s of [admin, device]) {
      expect((await rekeyed.request("/", { headers: { cookie: s.cookie } })).status).toBe(302);
      expect((await rekeyed.request("/api/v1/backups", { headers: { cookie: s.cookie } })).status).toBe(401);
      // The old app, still on the old key, takes them.
      expect((await t.app.request("/", { headers: { cookie: s.cookie } })).status).toBe(200);
    }
  });

  test("re-issuing a device key should end that device's sessions; revoking it too", async () => {
    await issueKey(t, "pi-c");
    const before = await signIn(await issueKey(t, "pi-c"));
    const other = await signIn(keyA);
    await issueKey(t, "pi-c");
    expect((await t.app.request("/", { headers: { cookie: before.cookie } })).status).toBe(302);
    expect((await t.app.request("/", { headers: { cookie: other.cookie } })).status).toBe(200);
    const again = await signIn(await issueKey(t, "pi-c"));
    await t.db.prisma.devices.update({ where: { device_id: "pi-c" }, data: { api_key_hash: null } });
    expect((await t.app.request("/", { headers: { cookie: again.cookie } })).status).toBe(302);
  });

  test("a tampered or reshaped cookie should be refused", async () => {
    const s = await signIn(keyA);
    const [h, p, sig] = s.cookie.slice("obd2_session=".length).split(".") as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, "base64url").toString());
    const asAdmin = Buffer.from(JSON.stringify({ ...claims, sub: "admin" })).toString("base64url");
    const none = Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url");
    for (const bad of [`${h}.${asAdmin}.${sig}`, `${h}.${p}.${sig.slice(0, -2)}xx`, `${none}.${asAdmin}.`, "garbage", `${h}.${p}`]) {
      expect((await t.app.request("/", { headers: { cookie: `obd2_session=${bad}` } })).status).toBe(302);
      expect((await t.call("/api/v1/backups", { key: null, headers: { cookie: `obd2_session=${bad}` } })).status).toBe(401);
    }
  });

  test("an expired session should be refused", async () => {
    const brief = createApp({ config: testConfig({ DATABASE_URL: t.db.url, SESSION_DAYS: "0.00002" }), db: t.db, logger: createLogger(testConfig()) });
    const s = await signIn(API_KEY, brief);
    const exp = JSON.parse(Buffer.from(s.cookie.split(".")[1]!, "base64url").toString()).exp as number;
    expect(exp - Date.now() / 1000).toBeLessThanOrEqual(2);
    while (Date.now() / 1000 <= exp + 1) await Bun.sleep(100);
    expect((await brief.request("/", { headers: { cookie: s.cookie } })).status).toBe(302);
  });
});

describe("CSRF", () => {
  test("a forged sign-out (another origin, no token) should be refused and leave the session alive", async () => {
    const s = await signIn(API_KEY);
    for (const [headers, fields] of [
      [{ origin: "http://evil.example" }, {}],
      [{ origin: "http://evil.example" }, { _csrf: s.csrf }],
      [{ origin: ORIGIN }, {}],
      [{ origin: ORIGIN, "sec-fetch-site": "cross-site" }, { _csrf: s.csrf }],
      [{ referer: "http://evil.example/page" }, { _csrf: s.csrf }],
    ] as const) {
      const { body, ...type } = form(fields);
      const res = await t.app.request("/logout", { method: "POST", headers: { ...type, ...headers, cookie: s.cookie }, body });
      expect({ headers, status: res.status, cleared: res.headers.getSetCookie().length }).toEqual({ headers, status: 403, cleared: 0 });
      expect(await res.text()).toContain('data-field="refused"');
    }
    expect((await t.app.request("/", { headers: { cookie: s.cookie } })).status).toBe(200);
  });

  test("a state-changing API call by cookie should need the Origin and the CSRF header; by X-API-Key neither", async () => {
    const s = await signIn(keyA);
    const post = (headers: Record<string, string>, key: string | null = null) =>
      t.call("/api/v1/devices/pi-a/status", { key, json: statusBody, headers: { cookie: s.cookie, ...headers } });
    expect(await (await post({ origin: ORIGIN })).json()).toEqual({ detail: "Missing or invalid CSRF token" });
    expect((await post({ origin: "http://evil.example", "x-csrf-token": s.csrf })).status).toBe(403);
    expect((await post({ "x-csrf-token": s.csrf })).status).toBe(403);
    expect((await post({ origin: ORIGIN, "x-csrf-token": s.csrf })).status).toBe(200);
    expect((await t.call("/api/v1/devices/pi-a/status", { key: keyA, json: statusBody })).status).toBe(200);
  });
});
