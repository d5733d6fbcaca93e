/**
 * Hostile-input suite, the HTTP edges: a client that disconnects mid-body is
 * one WARN line with its request id (not an ERROR), and a client-chosen
 * X-Request-Id is kept only within bounds, never echoed as sent.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { API_KEY, capturedLogger, testApp, type TestApp } from "../helpers/app.ts";

let t: TestApp;
let server: ReturnType<typeof Bun.serve>;
const log = capturedLogger();
/** Requests the server has begun handling (their headers are in; their bodies may not be). */
let started = 0;

beforeAll(async () => {
  t = await testApp({}, { logger: log.logger });
  server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: (req, srv) => {
      started++;
      return t.app.fetch(req, srv);
    },
  });
});
afterAll(async () => {
  server.stop(true);
  await t.close();
});

const lines = () => log.lines;

async function until(check: () => boolean) {
  for (let i = 0; i < 500 && !check(); i++) await Bun.sleep(10);
  expect(check()).toBe(true);
}

describe("a client that disconnects mid-body", () => {
  for (const [path, type] of [["/api/v1/sync", "application/json"], ["/api/v1/analyze", "application/json"]] as const) {
    test(`on ${path} is one WARN line with its request id, and no ERROR`, async () => {
      const before = lines().length;
      const handled = started;
      const socket = connect(server.port!, "127.0.0.1");
      await new Promise((ready) => socket.once("connect", ready));
      socket.write(`POST ${path} HTTP/1.1\r\nhost: x\r\nx-api-key: ${API_KEY}\r\ncontent-type: ${type}\r\ncontent-length: 60000\r\n\r\n{"deviceId":"pi-a",`);
      // Once the server has begun handling the request, the client goes away mid-body.
      await until(() => started > handled);
      socket.destroy();
      await until(() => lines().slice(before).some((l) => l.msg === "request"));
      const logged = lines().slice(before);
      expect(logged.filter((l) => l.level >= 50)).toEqual([]);
      const warn = logged.find((l) => l.level === 40);
      expect(warn).toMatchObject({ msg: "client disconnected before its request was read", method: "POST", path });
      expect(warn!.reqId).toBe(logged.find((l) => l.msg === "request")!.reqId);
    });
  }
});

describe("X-Request-Id", () => {
  const sent = async (id: string) => (await t.call("/api/v1/ping", { key: null, headers: { "x-request-id": id } })).headers.get("x-request-id")!;

  test("a short id of safe characters is kept, to match the client's logs", async () => {
    expect(await sent("agent-7f3a_b=1")).toBe("agent-7f3a_b=1");
  });

  test("an id over 64 characters, or with other characters, is replaced by a fresh UUID", async () => {
    for (const id of ["a".repeat(65), "a".repeat(255), 'x"}{injected', "spa ce", "é"]) {
      const got = await sent(id);
      expect(got).not.toBe(id);
      expect(got).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    }
  });
});
