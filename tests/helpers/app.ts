/** The app under test, built by the same factory as production, on a fresh database. */
import { Writable } from "node:stream";
import pino from "pino";
import { createApp } from "../../functions/index.ts";
import { newDeviceKey } from "../../lib/http/auth.ts";
import type { App, Deps } from "../../lib/http/env.ts";
import { loadConfig, type Config } from "../../lib/config.ts";
import { createLogger } from "../../lib/http/logger.ts";
import { freshDatabase, type TestDb } from "./db.ts";

export const API_KEY = "test-admin-key-0123456789";

export type TestApp = {
  app: App;
  db: TestDb;
  config: Config;
  /** app.request() with `key` as X-API-Key (default: the admin key; null: none) and `json` as the body. */
  call(path: string, init?: RequestInit & { json?: unknown; key?: string | null }): Promise<Response>;
  close(): Promise<void>;
};

export function testConfig(env: Record<string, string> = {}): Config {
  // No cwd .env: tests never read the developer's own configuration.
  return loadConfig({ API_KEY, LOG_LEVEL: "silent", OLLAMA_BASE_URL: "http://127.0.0.1:9", ...env }, "/nonexistent");
}

export async function testApp(env: Record<string, string> = {}, extra: Partial<Deps> = {}): Promise<TestApp> {
  const db = await freshDatabase();
  const config = testConfig({ DATABASE_URL: db.url, ...env });
  const app = createApp({ config, db, logger: createLogger(config), ...extra });
  return {
    app,
    db,
    config,
    async call(path, init = {}) {
      const { json, key = API_KEY, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (key !== null) headers.set("x-api-key", key);
      if (json === undefined) return app.request(path, { ...rest, headers });
      headers.set("content-type", "application/json");
      return app.request(path, { method: "POST", ...rest, headers, body: JSON.stringify(json) });
    },
    close: () => db.drop(),
  };
}

/** Stores a fresh key for `deviceId` as `npm run device -- add` does, and returns it. */
export async function issueKey(t: { db: TestDb }, deviceId: string): Promise<string> {
  const { key, hash } = newDeviceKey(deviceId);
  await t.db.prisma.devices.upsert({ where: { device_id: deviceId }, create: { device_id: deviceId, api_key_hash: hash }, update: { api_key_hash: hash } });
  return key;
}

/** A pino logger whose lines the test can read, parsed. */
export function capturedLogger(level = "info") {
  const lines: { level: number; msg: string; [field: string]: any }[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split("\n")) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level }, stream), lines };
}
