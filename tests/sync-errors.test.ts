import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { gzipSync } from "node:zlib";
import { newDeviceKey } from "../lib/http/auth.ts";
import { testApp, type TestApp } from "./helpers/app.ts";

let t: TestApp;
let server: ReturnType<typeof Bun.serve>;
beforeAll(async () => {
  t = await testApp({ MAX_SYNC_PAYLOAD_MB: "1" });
  server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: t.app.fetch, maxRequestBodySize: 8 * 1024 ** 3 });
});
afterAll(async () => {
  server.stop(true);
  await t.close();
});

const rt = (id: number, over: Record<string, unknown> = {}) => ({
  id, timestamp: "2026-04-19 08:00:00", parameter_name: "RPM", value: 900, unit: "rpm", profile_id: "daily", ...over,
});
const body = (tables: Record<string, unknown>, over: Record<string, unknown> = {}) => ({ deviceId: "pi-err", batchId: "b-err", tables, ...over });
const sync = (json: unknown, init: { key?: string | null; headers?: Record<string, string> } = {}) => t.call("/api/v1/sync", { json, ...init });
const rowCount = async () => Number((await t.db.query("SELECT COUNT(*) AS n FROM realtime_data WHERE source_device = 'pi-err'"))[0].n);

describe("validation: 422, nothing persisted", () => {
  // A table the server does not know is kept in unmapped_rows (tests/sync-current-pi.test.ts), if its name could be a table's.
  test("a table whose name could not become a table gives 422 naming it and the rule", async () => {
    const res = await sync(body({ realtime_data: { rows: [rt(1)] }, "Battery-Log": { rows: [] } }));
    expect(res.status).toBe(422);
    const message = 'tables.Battery-Log: table name "Battery-Log" cannot be kept: a table the server does not know must be named like ^[a-z][a-z0-9_]{0,63}$';
    expect(await res.json()).toEqual({ detail: `Validation failed: ${message}`, errors: [{ path: "tables.Battery-Log", message }] });
    expect(await rowCount()).toBe(0);
  });

  test("a missing deviceId or batchId gives 422 naming the field", async () => {
    for (const field of ["deviceId", "batchId"]) {
      const json: Record<string, unknown> = body({ realtime_data: { rows: [] } });
      delete json[field];
      const res = await sync(json);
      expect(res.status).toBe(422);
      const out = await res.json();
      expect(out.errors).toEqual([{ path: field, message: `${field}: is required` }]);
      expect(out.detail).toBe(`Validation failed: ${field}: is required`);
    }
  });

  test("a deviceId with other characters, an empty one, or one over 64 characters gives 422", async () => {
    for (const deviceId of ["pi/../x", "", "x".repeat(65)]) {
      const res = await sync(body({ realtime_data: { rows: [] } }, { deviceId }));
      expect(res.status).toBe(422);
      expect((await res.json()).errors[0].path).toBe("deviceId");
    }
    const long = await sync(body({ realtime_data: { rows: [] } }, { batchId: "b".repeat(65) }));
    expect((await long.json()).errors[0]).toEqual({ path: "batchId", message: "batchId: Too big: expected string to have <=64 characters" });
  });

  test("row problems name the table, the row index, the column and the problem, and nothing is stored", async () => {
    const res = await sync(
      body({
        profiles: { rows: [{ id: "daily", name: "Daily", created_at: "2026-04-19 08:00:00", updated_at: "2026-04-19 08:00:00" }] },
        realtime_data: {
          rows: [
            rt(1),
            rt(2, { value: "900" }),
            rt(3, { timestamp: "19/04/2026 08:00" }),
            rt(4, { colour: "red" }), // an unknown column is kept in extra, not refused
            { id: 5, timestamp: "2026-04-19 08:00:00", value: 1 },
            rt(6, { unit: "x".repeat(65) }),
            rt(7, { drive_id: 1.5 }),
          ],
        },
      }),
    );
    expect(res.status).toBe(422);
    const { errors, detail } = await res.json();
    const at = (row: number, column: string, message: string) => ({
      path: `tables.realtime_data.rows[${row}]${column === "" ? "" : `.${column}`}`,
      table: "realtime_data",
      row,
      ...(column ? { column } : {}),
      message: `table realtime_data row ${row}${column ? ` column ${column}` : ""}: ${message}`,
    });
    expect(errors).toEqual([
      at(1, "value", 'expected a number, got string "900"'),
      at(2, "timestamp", 'unparseable datetime "19/04/2026 08:00"; expected YYYY-MM-DD HH:MM:SS[.ffffff] or YYYY-MM-DDTHH:MM:SSZ'),
      at(4, "parameter_name", "missing, but the column is NOT NULL (a string)"),
      at(5, "unit", "longer than 64 characters"),
      at(6, "drive_id", "expected a 32-bit integer, got number 1.5"),
    ]);
    expect(detail).toBe(`Validation failed: ${errors.map((e: { message: string }) => e.message).join("; ")}`);
    expect(await rowCount()).toBe(0);
    expect(Number((await t.db.query("SELECT COUNT(*) AS n FROM profiles WHERE source_device = 'pi-err'"))[0].n)).toBe(0);
  });

  test("an impossible date is refused, not rolled over", async () => {
    const res = await sync(body({ realtime_data: { rows: [rt(1, { timestamp: "2026-02-30 08:00:00" })] } }));
    expect(res.status).toBe(422);
    expect((await res.json()).errors[0].column).toBe("timestamp");
  });

  test("the first 20 problems are listed, and the detail says how many more there are", async () => {
    const rows = Array.from({ length: 25 }, (_, i) => rt(i + 1, { value: null }));
    const { errors, detail } = await (await sync(body({ realtime_data: { rows } }))).json();
    expect(errors).toHaveLength(20);
    expect(errors.map((e: { row: number }) => e.row)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(detail.endsWith("(and 5 more)")).toBe(true);
  });

  test("a bad row after thousands of good ones rolls back the rows already written, and leaves no history", async () => {
    const rows = Array.from({ length: 3500 }, (_, i) => rt(i + 1));
    rows[3200] = rt(3201, { value: "oops" });
    const res = await sync(body({ realtime_data: { rows } }, { batchId: "b-late-bad" }));
    expect(res.status).toBe(422);
    expect((await res.json()).errors).toEqual([
      { path: "tables.realtime_data.rows[3200].value", table: "realtime_data", row: 3200, column: "value", message: 'table realtime_data row 3200 column value: expected a number, got string "oops"' },
    ]);
    expect(await rowCount()).toBe(0);
    expect(await t.db.query("SELECT batch_id FROM sync_history WHERE batch_id = 'b-late-bad'")).toHaveLength(0);
  });

  test("a Pi key repeated far apart in one table is refused", async () => {
    const rows = Array.from({ length: 2500 }, (_, i) => rt(i + 1));
    rows[2100] = rt(7);
    const { errors } = await (await sync(body({ realtime_data: { rows } }))).json();
    expect(errors).toEqual([
      { path: "tables.realtime_data.rows[2100].id", table: "realtime_data", row: 2100, column: "id", message: "table realtime_data row 2100 column id: duplicate id 7 (also row 6)" },
    ]);
    expect(await rowCount()).toBe(0);
  });

  test("the same Pi key twice in one table is refused", async () => {
    const { errors } = await (await sync(body({ realtime_data: { rows: [rt(1), rt(2), rt(1)] } }))).json();
    expect(errors).toEqual([
      { path: "tables.realtime_data.rows[2].id", table: "realtime_data", row: 2, column: "id", message: "table realtime_data row 2 column id: duplicate id 1 (also row 0)" },
    ]);
  });
});

describe("auth", () => {
  test("no key returns 401 Missing API key", async () => {
    const res = await sync(body({ realtime_data: { rows: [] } }), { key: null });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ detail: "Missing API key" });
  });

  test("the key header works in any case", async () => {
    for (const name of ["X-Api-Key", "x-api-key", "X-API-KEY"]) {
      const res = await sync(body({ realtime_data: { rows: [] } }, { batchId: `case-${name}` }), { key: null, headers: { [name]: "test-admin-key-0123456789" } });
      expect(res.status).toBe(200);
    }
  });

  test("a device key syncs for its own device and gets 403 for another", async () => {
    const { key, hash } = newDeviceKey("pi-keyed");
    await t.db.prisma.devices.create({ data: { device_id: "pi-keyed", api_key_hash: hash } });
    const own = await sync(body({ realtime_data: { rows: [rt(1)] } }, { deviceId: "pi-keyed", batchId: "keyed-1" }), { key });
    expect(own.status).toBe(200);
    const other = await sync(body({ realtime_data: { rows: [rt(1)] } }, { deviceId: "pi-other", batchId: "keyed-2" }), { key });
    expect(other.status).toBe(403);
    expect(await other.json()).toEqual({ detail: "API key not valid for device pi-other" });
    expect(Number((await t.db.query("SELECT COUNT(*) AS n FROM realtime_data WHERE source_device = 'pi-other'"))[0].n)).toBe(0);
  });
});

describe("body limits and encodings", () => {
  const url = () => `http://127.0.0.1:${server.port}/api/v1/sync`;
  const headers = { "x-api-key": "test-admin-key-0123456789", "content-type": "application/json" };

  test("a body declared larger than MAX_SYNC_PAYLOAD_MB is refused with 413", async () => {
    const big = JSON.stringify(body({ realtime_data: { rows: Array.from({ length: 12_000 }, (_, i) => rt(i + 1)) } }));
    expect(big.length).toBeGreaterThan(1024 * 1024);
    const res = await fetch(url(), { method: "POST", headers, body: big });
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ detail: "Payload too large. Max: 1MB" });
    expect(await rowCount()).toBe(0);
  });

  test("a 1 GB streamed body is cut off with 413 without being read to the end", async () => {
    let produced = 0;
    const chunk = new Uint8Array(64 * 1024).fill(0x20);
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (produced >= 1024 ** 3) return controller.close();
        produced += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
    const res = await fetch(url(), { method: "POST", headers, body: stream, duplex: "half" } as RequestInit).catch((err) => err as Error);
    // The server answers 413 as soon as it passes the limit; the client may see that answer or a reset connection.
    if (res instanceof Response) {
      expect(res.status).toBe(413);
      expect(await res.json()).toEqual({ detail: "Payload too large. Max: 1MB" });
    }
    expect(produced).toBeLessThan(64 * 1024 ** 2);
  });

  test("a gzip bomb gets 413: the limit applies to the decompressed size too", async () => {
    const bomb = gzipSync(Buffer.alloc(50 * 1024 * 1024, 0x20));
    expect(bomb.length).toBeLessThan(1024 * 1024);
    const res = await fetch(url(), { method: "POST", headers: { ...headers, "content-encoding": "gzip" }, body: bomb });
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ detail: "Payload too large. Max: 1MB" });
  });

  test("a gzip body within the limit is accepted", async () => {
    const json = JSON.stringify(body({ realtime_data: { rows: [rt(1)] } }, { deviceId: "pi-gzip", batchId: "gz-1" }));
    const res = await fetch(url(), { method: "POST", headers: { ...headers, "content-encoding": "gzip" }, body: gzipSync(json) });
    expect(res.status).toBe(200);
    expect((await res.json()).tablesProcessed.realtime_data.inserted).toBe(1);
  });

  test("broken gzip, malformed JSON, a non-JSON content type and an unknown encoding are refused clearly", async () => {
    const post = (h: Record<string, string>, b: BodyInit) => fetch(url(), { method: "POST", headers: { ...headers, ...h }, body: b });
    const cases: [Response, number, string][] = [
      [await post({ "content-encoding": "gzip" }, "not gzip"), 400, "Body is not valid gzip"],
      [await post({}, "{nope"), 400, "Malformed JSON in request body"],
      [await post({ "content-type": "text/plain" }, "{}"), 415, "Content-Type must be application/json"],
      [await post({ "content-encoding": "br" }, "{}"), 415, 'Unsupported Content-Encoding "br". Send gzip or no encoding.'],
    ];
    for (const [res, status, detail] of cases) {
      expect(res.status).toBe(status);
      expect(await res.json()).toEqual({ detail });
    }
  });
});
