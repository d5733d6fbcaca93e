/**
 * Hostile-input suite, /sync, the happy side: inputs an audit used to break
 * things that are legitimate and must be stored exactly as sent. Keys that
 * differ only by case, a trailing space or an accent are different keys;
 * device ids likewise; a drive counter past 2^31 fits.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { splitSyncBody } from "../../lib/sync/lazy-rows.ts";
import { testApp, type TestApp } from "../helpers/app.ts";

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t.close());

const AT = "2026-04-19 08:00:00";
const profile = (id: string, name = id) => ({ id, name, created_at: AT, updated_at: AT });
const vehicle = (vin: string) => ({ vin, make: "Mitsubishi", created_at: AT, updated_at: AT });
const rt = (id: number) => ({ id, timestamp: AT, parameter_name: "RPM", value: 900 });

const sync = (deviceId: string, batchId: string, tables: Record<string, { rows: unknown[] }>, extra = {}) =>
  t.call("/api/v1/sync", { json: { deviceId, batchId, tables, ...extra } });
const keys = async (table: string, device: string) =>
  (await t.db.query(`SELECT source_id FROM \`${table}\` WHERE source_device = ? ORDER BY id`, [device])).map((r: { source_id: string }) => r.source_id);

describe("exact text keys", () => {
  test("profile ids that differ only by case or a trailing space are stored as separate rows", async () => {
    const res = await sync("pi-keys", "keys-1", { profiles: { rows: [profile("dupcase"), profile("DUPCASE"), profile("padkey"), profile("padkey ")] } });
    expect(res.status).toBe(200);
    expect((await res.json()).tablesProcessed.profiles).toEqual({ inserted: 4, updated: 0, errors: 0 });
    expect(await keys("profiles", "pi-keys")).toEqual(["dupcase", "DUPCASE", "padkey", "padkey "]);
  });

  test("vins that differ only by an accent are stored as separate rows, and resending one updates only it", async () => {
    expect((await (await sync("pi-vin", "vin-1", { vehicle_info: { rows: [vehicle("vine1"), vehicle("viné1")] } })).json()).tablesProcessed.vehicle_info).toEqual({
      inserted: 2,
      updated: 0,
      errors: 0,
    });
    const again = await sync("pi-vin", "vin-2", { vehicle_info: { rows: [{ ...vehicle("viné1"), make: "Dodge" }] } });
    expect((await again.json()).tablesProcessed.vehicle_info).toEqual({ inserted: 0, updated: 1, errors: 0 });
    const rows = await t.db.query("SELECT source_id, make FROM vehicle_info WHERE source_device = 'pi-vin' ORDER BY id");
    expect(rows).toEqual([
      { source_id: "vine1", make: "Mitsubishi" },
      { source_id: "viné1", make: "Dodge" },
    ]);
  });

  test("device ids that differ only by case are two devices: neither sees nor overwrites the other's rows", async () => {
    expect((await sync("pi-case", "case-lower", { realtime_data: { rows: [rt(1), rt(2)] } })).status).toBe(200);
    const upper = await sync("PI-CASE", "case-upper", { realtime_data: { rows: [rt(1)] } });
    expect((await upper.json()).tablesProcessed.realtime_data).toEqual({ inserted: 1, updated: 0, errors: 0 });
    expect(await keys("realtime_data", "pi-case")).toEqual([1, 2].map(BigInt));
    expect(await keys("realtime_data", "PI-CASE")).toEqual([1n]);
    const devices = await t.db.query("SELECT device_id FROM devices WHERE device_id IN ('pi-case', 'PI-CASE') ORDER BY device_id");
    expect(devices.map((d: { device_id: string }) => d.device_id)).toEqual(["PI-CASE", "pi-case"]);
    const state = await (await t.call("/api/v1/sync/state?deviceId=PI-CASE")).json();
    expect(state.tables.realtime_data).toEqual({ maxSourceId: 1 });
  });

  test("batch ids that differ only by case are two batches, each of its own device", async () => {
    expect((await sync("pi-batch-a", "Batch-X", { realtime_data: { rows: [rt(1)] } })).status).toBe(200);
    const other = await sync("pi-batch-b", "batch-x", { realtime_data: { rows: [rt(1)] } });
    expect(other.status).toBe(200);
    const history = await t.db.query("SELECT batch_id, device_id FROM sync_history WHERE batch_id IN ('Batch-X', 'batch-x') ORDER BY device_id");
    expect(history).toEqual([
      { batch_id: "Batch-X", device_id: "pi-batch-a" },
      { batch_id: "batch-x", device_id: "pi-batch-b" },
    ]);
  });
});

describe("values that fit", () => {
  test("a drive counter past 2^31 is stored, and never moves backwards", async () => {
    const big = 2 ** 40 + 3;
    expect((await sync("pi-drive", "drive-1", { realtime_data: { rows: [] } }, { driveCounter: { lastDriveId: big } })).status).toBe(200);
    expect((await sync("pi-drive", "drive-2", { realtime_data: { rows: [] } }, { driveCounter: { lastDriveId: 5 } })).status).toBe(200);
    const state = await (await t.call("/api/v1/sync/state?deviceId=pi-drive")).json();
    expect(state.lastDriveId).toBe(big);
  });
});

describe("bodies are read as JSON.parse reads them, a slice of rows at a time", () => {
  /** The body as splitSyncBody gives it back: the envelope with each table's rows put back. */
  async function reassembled(text: string) {
    const { envelope, rows } = await splitSyncBody(text);
    const tables = (envelope as { tables?: Record<string, { rows?: unknown }> }).tables ?? {};
    for (const [name, table] of Object.entries(tables)) if (Array.isArray(table?.rows) && rows.has(name)) table.rows = rows.get(name)!.slice(0, rows.get(name)!.length);
    return envelope;
  }

  test("escaped keys, duplicate keys (the last wins), strings full of brackets and quotes, whitespace", async () => {
    const bodies = [
      `{"deviceId":"a","tables":{"realtime_data":{"rows":[{"id":1,"s":"a,]}\\"[{"},{"id":2,"u":"\\u005d"}],"x":1}}}`,
      `{"tables":{"t":{"rows":[1,2,3]}},"tables":{"u":{"rows":[{"a":2}]}}}`,
      `{"tables":{"t":{"rows":[1,2,3]},"t":{"x":1}}}`,
      `{"tables":{"t":{"rows":[1,2,3],"rows":[4]}}}`,
      ` { "t\\u0061bles" : { "r\\u0074" : { "r\\u006fws" : [ { "a" : 1 } , "x" , null ] } } } `,
      `{"tables":{"t":{"rows":[]}},"driveCounter":{"lastDriveId":3}}`,
      `{"tables":[{"rows":[1]}]}`,
      `{"tables":{"t":{"rows":5}}}`,
      `{"a":{"tables":{"t":{"rows":[1]}}}}`,
    ];
    for (const text of bodies) expect({ text, parsed: await reassembled(text) }).toEqual({ text, parsed: JSON.parse(text) });
  });

  test("2,500 generated rows come back in slices exactly as JSON.parse gives them", async () => {
    const rows = Array.from({ length: 2500 }, (_, i) => ({ id: i, text: `"${"[{,}]".repeat(i % 7)}\\${String.fromCharCode(0x20 + (i % 90))}`, n: i % 3 ? i / 7 : null, e: "é😀" }));
    // Pretty-printed: whitespace between every token, which the scan must step over.
    const text = JSON.stringify({ deviceId: "pi", batchId: "b", tables: { realtime_data: { rows } } }, null, 1);
    expect(await reassembled(text)).toEqual(JSON.parse(text));
    const { rows: split } = await splitSyncBody(text);
    expect(split.get("realtime_data")!.slice(1000, 2000)).toEqual(rows.slice(1000, 2000));
  });

  test("a body that is not JSON is 400, wherever it breaks", async () => {
    for (const text of [`{"tables":{"t":{"rows":[{},]}}}`, `{"tables":{"t":{"rows":[,{}]}}}`, `{"tables":{"t":{"rows":[{}}}}}`, `{"a":"`, `{"tables":{"t":{"rows":[{"a":1 "b":2}]}}}`]) {
      // Refused by the scan, the envelope's parse, or the parse of the slice that holds the break.
      const refusal = await splitSyncBody(text).then(({ rows }) => rows.get("t")?.slice(0, 1000)).then(() => undefined, (err: { status?: number }) => err);
      expect({ text, status: refusal?.status }).toEqual({ text, status: 400 });
    }
  });

  test("the endpoint stores rows sent with escaped keys and whitespace", async () => {
    const text = ` {"deviceId" : "pi-escaped", "batchId":"esc-1", "t\\u0061bles": { "realtime_data" : { "rows" : [ ${JSON.stringify(rt(1))} ,\n ${JSON.stringify(rt(2))} ] } } } `;
    const res = await t.call("/api/v1/sync", { method: "POST", headers: { "content-type": "application/json" }, body: text });
    expect(res.status).toBe(200);
    expect((await res.json()).tablesProcessed.realtime_data).toEqual({ inserted: 2, updated: 0, errors: 0 });
  });
});
