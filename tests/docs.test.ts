/**
 * The API description: /api/v1/openapi.json documents every /api/v1 route
 * and /metrics the app registers (found at run time, so new endpoints are
 * covered without editing this file) with the X-API-Key scheme, and /docs
 * serves Swagger UI from local assets only.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { testApp, type TestApp } from "./helpers/app.ts";

let t: TestApp;
let doc: any;

beforeAll(async () => {
  t = await testApp();
  doc = await (await t.call("/api/v1/openapi.json", { key: null })).json();
});

afterAll(() => t.close());

/** Every non-middleware /api/v1 route (and /metrics) as "get /api/v1/x/{id}", except the document itself. */
function registeredOperations(): string[] {
  const ops = t.app.routes
    .filter((r) => r.method !== "ALL" && (r.path.startsWith("/api/v1/") || r.path === "/metrics") && r.path !== "/api/v1/openapi.json")
    .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)(\{[^}]*\})?/g, "{$1}")}`);
  return [...new Set(ops)].sort();
}

function documentedOperations(): { op: string; security: unknown }[] {
  return Object.entries(doc.paths as Record<string, Record<string, { security?: unknown }>>).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({ op: `${method} ${path}`, security: operation.security })),
  );
}

describe("GET /api/v1/openapi.json", () => {
  test("should be an OpenAPI 3 document", () => {
    expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/);
    expect(doc.info).toMatchObject({ title: "OBD2-Server" });
  });

  test("should list every route registered under /api/v1, and no others", () => {
    const registered = registeredOperations();
    expect(registered).toContain("get /api/v1/ping");
    expect(registered).toContain("get /api/v1/health");
    expect(documentedOperations().map((d) => d.op).sort()).toEqual(registered);
  });

  test("should declare the X-API-Key scheme and require it by default", () => {
    expect(doc.components.securitySchemes).toEqual({ ApiKey: { type: "apiKey", in: "header", name: "X-API-Key" } });
    expect(doc.security).toEqual([{ ApiKey: [] }]);
  });

  test("operations it marks public should answer without a key, and all others should return 401", async () => {
    const seen: Record<string, number> = {};
    for (const { op, security } of documentedOperations()) {
      const [method, path] = op.split(" ") as [string, string];
      const res = await t.call(path.replace(/\{\w+\}/g, "x"), { method: method.toUpperCase(), key: null });
      const isPublic = Array.isArray(security) && security.length === 0;
      seen[op] = res.status;
      if (isPublic) expect({ op, status: res.status }).not.toEqual({ op, status: 401 });
      else expect({ op, status: res.status, body: await res.json() }).toEqual({ op, status: 401, body: { detail: "Missing API key" } });
    }
    expect(seen["get /api/v1/ping"]).toBe(200);
    expect(seen["get /api/v1/health"]).toBe(200);
  });
});

describe("GET /docs", () => {
  test("should return HTML whose assets all come from /docs/, each of them served", async () => {
    const res = await t.call("/docs", { key: null });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await res.text();
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThanOrEqual(2);
    // No CDN: the docs must work on a LAN without internet.
    expect(html).not.toMatch(/https?:\/\//);
    for (const asset of assets) {
      expect(asset).toStartWith("/docs/");
      const served = await t.call(asset, { key: null });
      const body = await served.text();
      expect({ asset, status: served.status, type: served.headers.get("content-type"), empty: body.length === 0 }).toEqual({
        asset,
        status: 200,
        type: asset.endsWith(".css") ? "text/css" : "text/javascript",
        empty: false,
      });
    }
  });

  test("the Swagger UI start-up script should load this server's document", async () => {
    const html = await (await t.call("/docs", { key: null })).text();
    const scripts = [...html.matchAll(/src="([^"]+)"/g)].map((m) => m[1]!);
    const bodies = await Promise.all(scripts.map(async (s) => (await t.call(s, { key: null })).text()));
    expect(bodies.some((b) => b.includes('url: "/api/v1/openapi.json"'))).toBe(true);
  });
});
