/**
 * The Pi as it is today, against real MariaDB through the real app: the
 * Python client's current requests (tests/fixtures/python-client), the four
 * tables it added (dtc_log, dtc_freeze_frame, drive_summary,
 * battery_health_log), columns and tables the server does not know (kept,
 * not refused), and another database's rows under a known device id
 * (refused with 409, nothing overwritten).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import { TABLE_BY_NAME, type TableName } from "../lib/tables.ts";
import { toSqlDatetime } from "../lib/time.ts";
import { API_KEY, testApp, type TestApp } from "./helpers/app.ts";

let logged = "";
let t: TestApp;
beforeAll(async () => {
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logged += chunk.toString();
      done();
    },
  });
  t = await testApp({}, { logger: pino({ level: "warn" }, sink) });
});
afterAll(() => t.close());

const warnings = () => logged.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l)).filter((l) => l.level === 40);

const FIXTURES = join(import.meta.dir, "fixtures/python-client");

/** The fixture's bytes as the client sent them: json.dumps(payload), i.e. the indent=1 file without its line breaks. */
function wireBytes(file: string): string {
  return readFileSync(join(FIXTURES, file), "utf8")
    .trimEnd()
    .replace(/,\n */g, ", ")
    .replace(/([[{])\n */g, "$1")
    .replace(/\n *([\]}])/g, "$1");
}

/** Each request's headers, from headers.txt ("file: path {json}"). */
const HEADERS = Object.fromEntries(
  readFileSync(join(FIXTURES, "headers.txt"), "utf8")
    .trim()
    .split("\n")
    .map((line) => {
      const [, file, json] = /^(\S+): \S+ (\{.*\})$/.exec(line)!;
      return [file!, JSON.parse(json!) as Record<string, string>];
    }),
);

const PY_FILES = readdirSync(FIXTURES).filter((f) => f.endsWith(".json")).sort();

/** POSTs a fixture as the client does: its headers (our key instead of its sample key), its bytes. */
function postAsPython(file: string, body = wireBytes(file)) {
  const { "Content-Length": _length, Connection: _connection, "X-Api-Key": _key, ...headers } = HEADERS[file]!;
  return t.app.request("/api/v1/sync", { method: "POST", headers: { ...headers, "X-Api-Key": API_KEY }, body });
}

function sync(deviceId: string, batchId: string, tables: Record<string, unknown>) {
  return t.call("/api/v1/sync", { json: { deviceId, batchId, tables } });
}

/** A device's rows in a table as stored, datetimes as MySQL prints them, JSON parsed. */
async function stored(table: string, deviceId: string, columns = "*"): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = await t.db.pool.query(
    { sql: `SELECT ${columns} FROM \`${table}\` WHERE source_device = ? ORDER BY source_id`, dateStrings: true },
    [deviceId],
  );
  // MariaDB's JSON is LONGTEXT (text); MySQL 8's comes back parsed.
  for (const row of rows) for (const c of ["extra", "pid_responses_json", "data"]) if (typeof row[c] === "string") row[c] = JSON.parse(row[c] as string);
  return rows;
}

const count = async (table: string, deviceId: string) => (await stored(table, deviceId, "source_id")).length;

let seq = 0;
const device = () => `cur-${++seq}`;

describe("the Python client's current requests", () => {
  const DEVICE = "chi-eclipse-tuner";

  test("the fixture is the client's bytes: each body's length is the Content-Length it sent", () => {
    expect(PY_FILES).toEqual([
      "battery_health_log.json", "connection_log.json", "drive_summary.json", "dtc_freeze_frame.json",
      "dtc_log.json", "empty.json", "realtime_data.json", "statistics.json",
    ]);
    for (const file of PY_FILES) expect(Buffer.byteLength(wireBytes(file))).toBe(Number(HEADERS[file]!["Content-Length"]));
  });

  test("every request is accepted, and MySQL then holds every row value for value", async () => {
    for (const file of PY_FILES) {
      const res = await postAsPython(file);
      expect(res.status).toBe(200);
      const receipt = await res.json();
      const sent = JSON.parse(wireBytes(file)).tables as Record<string, { rows: unknown[] }>;
      for (const [table, { rows }] of Object.entries(sent)) expect(receipt.tablesProcessed[table]).toEqual({ inserted: rows.length, updated: 0, errors: 0 });
    }
    for (const file of PY_FILES.filter((f) => f !== "empty.json")) {
      const [table, { rows }] = Object.entries(JSON.parse(wireBytes(file)).tables as Record<string, { rows: Record<string, unknown>[] }>)[0]!;
      const spec = TABLE_BY_NAME[table as TableName];
      const expected = rows.map((r) => ({
        // The client sends every key as id.
        source_id: r.id,
        ...Object.fromEntries(
          spec.columns.map((c) => {
            const v = r[c.name] ?? null;
            return [c.name, v === null ? null : c.type.kind === "datetime" ? toSqlDatetime(String(v)) : c.type.kind === "json" ? JSON.parse(String(v)) : v];
          }),
        ),
        extra: null,
      }));
      const columns = ["source_id", ...spec.columns.map((c) => c.name), "extra"].map((c) => `\`${c}\``).join(", ");
      const back = (await stored(table, DEVICE, columns)).map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === "bigint" ? Number(v) : v])));
      expect({ table, rows: back }).toEqual({ table, rows: expected });
    }
    const [{ last_drive_id }] = await t.db.query("SELECT last_drive_id FROM devices WHERE device_id = ?", [DEVICE]);
    expect(Number(last_drive_id)).toBe(4);
  });

  test("a freeze frame's PIDs are stored as JSON the database can query", async () => {
    const [row] = await t.db.query(
      "SELECT JSON_EXTRACT(pid_responses_json, '$.RPM') AS rpm, JSON_EXTRACT(pid_responses_json, '$.SHORT_FUEL_TRIM_1') AS stft FROM dtc_freeze_frame WHERE source_device = ?",
      [DEVICE],
    );
    expect([Number(row.rpm), Number(row.stft)]).toEqual([2450, 12.5]);
  });

  test("a replay of every request is idempotent: the receipts say updated, and no table gains a row", async () => {
    const tables = ["battery_health_log", "connection_log", "drive_summary", "dtc_freeze_frame", "dtc_log", "realtime_data", "statistics"];
    const before = await Promise.all(tables.map((table) => count(table, DEVICE)));
    for (const file of PY_FILES) {
      const res = await postAsPython(file);
      expect(res.status).toBe(200);
      const receipt = await res.json();
      for (const [table, { rows }] of Object.entries(JSON.parse(wireBytes(file)).tables as Record<string, { rows: unknown[] }>)) {
        expect(receipt.tablesProcessed[table]).toEqual({ inserted: 0, updated: rows.length, errors: 0 });
      }
    }
    expect(await Promise.all(tables.map((table) => count(table, DEVICE)))).toEqual(before);
    expect(before).toEqual([1, 7, 4, 1, 2, 500, 15]);
  });

  test("a different Pi database under the same device id gets 409 with its conflicts, and every stored row stays as it was", async () => {
    const before = await stored("realtime_data", DEVICE);
    // A fresh SD card: ids restart at 1, but the readings are another day's.
    const fresh = wireBytes("realtime_data.json").replaceAll("2026-04-16 ", "2026-05-01 ");
    const res = await postAsPython("realtime_data.json", fresh);
    expect(res.status).toBe(409);
    const body = await res.json();
    expect(body.detail).toContain("this looks like a different Pi database (for example a new SD card)");
    expect(body.detail).toContain(`device ${DEVICE}`);
    expect(body.detail).toStartWith("500 rows would overwrite rows that device chi-eclipse-tuner already has with other values (realtime_data 1:");
    expect(body.conflicts).toHaveLength(5);
    expect(body.conflicts[0]).toEqual({
      table: "realtime_data",
      id: 1,
      stored: { timestamp: "2026-04-16 08:00:01.000000", parameter_name: "RPM" },
      sent: { timestamp: "2026-05-01 08:00:01.000000", parameter_name: "RPM" },
    });
    expect(await stored("realtime_data", DEVICE)).toEqual(before);
    // The original database still syncs.
    const again = await postAsPython("realtime_data.json");
    expect(again.status).toBe(200);
    expect((await again.json()).tablesProcessed.realtime_data).toEqual({ inserted: 0, updated: 500, errors: 0 });
  });
});

const dtc = (id: number, over: Record<string, unknown> = {}) => ({
  id, dtc_code: "P0171", description: "System too lean (bank 1)", status: "pending",
  first_seen_timestamp: "2026-04-16T08:21:35Z", last_seen_timestamp: "2026-04-16T08:21:35Z", drive_id: 2, data_source: "real", ...over,
});
const summary = (over: Record<string, unknown> = {}) => ({
  drive_start_timestamp: "2026-04-16T08:00:00Z", ambient_temp_at_start_c: 13, starting_battery_v: 12.6, barometric_kpa_at_start: 99.1, data_source: "real", ...over,
});
const reading = (id: number, over: Record<string, unknown> = {}) => ({ id, timestamp: "2026-04-19 08:00:01.5", parameter_name: "RPM", value: 900 + id, unit: "rpm", ...over });

describe("the current Pi tables", () => {
  test("a DTC whose last_seen_timestamp and status change in place updates its row", async () => {
    const d = device();
    expect((await (await sync(d, "dtc-1", { dtc_log: { rows: [dtc(1)] } })).json()).tablesProcessed.dtc_log).toEqual({ inserted: 1, updated: 0, errors: 0 });
    const later = dtc(1, { status: "stored", last_seen_timestamp: "2026-04-16 09:06:32" });
    expect((await (await sync(d, "dtc-2", { dtc_log: { rows: [later] } })).json()).tablesProcessed.dtc_log).toEqual({ inserted: 0, updated: 1, errors: 0 });
    expect(await stored("dtc_log", d, "status, first_seen_timestamp, last_seen_timestamp")).toEqual([
      { status: "stored", first_seen_timestamp: "2026-04-16 08:21:35.000000", last_seen_timestamp: "2026-04-16 09:06:32.000000" },
    ]);
  });

  test("a key is accepted under the Pi's name and as id; next to the Pi's name, id is an unknown column", async () => {
    const d = device();
    const first = await sync(d, "ds-1", { drive_summary: { rows: [{ drive_id: 1, ...summary() }, { id: 2, ...summary({ drive_start_timestamp: "2026-04-16T09:00:00Z" }) }] } });
    expect((await first.json()).tablesProcessed.drive_summary).toEqual({ inserted: 2, updated: 0, errors: 0 });
    // The same drive 1 under id: the same row.
    const again = await sync(d, "ds-2", { drive_summary: { rows: [{ id: 1, ...summary() }] } });
    expect((await again.json()).tablesProcessed.drive_summary).toEqual({ inserted: 0, updated: 1, errors: 0 });
    const both = await sync(d, "ds-3", { drive_summary: { rows: [{ drive_id: 2, id: 77, ...summary({ drive_start_timestamp: "2026-04-16T09:00:00Z" }) }] } });
    expect((await both.json()).tablesProcessed.drive_summary).toEqual({ inserted: 0, updated: 1, errors: 0, unknownColumns: ["id"] });
    expect(await stored("drive_summary", d, "source_id, extra")).toEqual([
      { source_id: 1n, extra: null },
      { source_id: 2n, extra: { id: 77 } },
    ]);
    const battery = { drain_event_id: 3, start_timestamp: "2026-04-20T03:00:00Z", start_soc: 4.1, load_class: "test" };
    expect((await sync(d, "bh-1", { battery_health_log: { rows: [battery] } })).status).toBe(200);
    const missing = await sync(d, "ds-4", { drive_summary: { rows: [summary()] } });
    expect(missing.status).toBe(422);
    expect((await missing.json()).errors[0]).toMatchObject({ table: "drive_summary", row: 0, column: "drive_id", message: "table drive_summary row 0 column drive_id: missing, but the column is NOT NULL (an integer key, drive_id (or id))" });
    const badAlias = await sync(d, "ds-5", { drive_summary: { rows: [{ id: "two", ...summary() }] } });
    expect((await badAlias.json()).errors[0]).toMatchObject({ path: "tables.drive_summary.rows[0].id", column: "id" });
  });

  test("pid_responses_json must be JSON: text that is not is refused by name, a JSON object sent as such is stored", async () => {
    const d = device();
    const frame = (id: number, pid_responses_json: unknown) => ({ id, dtc_log_id: 1, captured_at_timestamp_utc: "2026-04-16T08:21:35Z", pid_responses_json });
    const bad = await sync(d, "ff-1", { dtc_freeze_frame: { rows: [frame(1, "{RPM: 2450")] } });
    expect(bad.status).toBe(422);
    expect((await bad.json()).errors[0].message).toBe('table dtc_freeze_frame row 0 column pid_responses_json: expected JSON text, got string "{RPM: 2450"');
    expect((await sync(d, "ff-2", { dtc_freeze_frame: { rows: [frame(1, "{}"), frame(2, { RPM: 900.5 })] } })).status).toBe(200);
    expect((await stored("dtc_freeze_frame", d, "pid_responses_json")).map((r) => r.pid_responses_json)).toEqual([{}, { RPM: 900.5 }]);
  });
});

describe("columns the server does not know", () => {
  test("are kept in extra, listed per table in the receipt, and logged once per device, table and column at WARN", async () => {
    const d = device();
    const rows = [
      reading(1, { gear: 3, note: "°C ok" }),
      reading(2),
      reading(3, { gear: null, source_device: "spoofed", extra: { nested: 1 }, __proto__x: 1 }),
    ];
    const res = await sync(d, "uc-1", { realtime_data: { rows } });
    expect(res.status).toBe(200);
    expect((await res.json()).tablesProcessed.realtime_data).toEqual({
      inserted: 3, updated: 0, errors: 0, unknownColumns: ["__proto__x", "extra", "gear", "note", "source_device"],
    });
    expect(await stored("realtime_data", d, "source_id, source_device, value, extra")).toEqual([
      { source_id: 1n, source_device: d, value: 901, extra: { gear: 3, note: "°C ok" } },
      { source_id: 2n, source_device: d, value: 902, extra: null },
      { source_id: 3n, source_device: d, value: 903, extra: { gear: null, source_device: "spoofed", extra: { nested: 1 }, __proto__x: 1 } },
    ]);
    const replay = await sync(d, "uc-1", { realtime_data: { rows } });
    expect((await replay.json()).tablesProcessed.realtime_data).toMatchObject({ inserted: 0, updated: 3 });
    expect(await count("realtime_data", d)).toBe(3);
    const mine = warnings().filter((w) => w.deviceId === d);
    expect(mine.map((w) => [w.msg, w.table, w.column])).toEqual(
      ["__proto__x", "extra", "gear", "note", "source_device"].map((c) => ["kept a column the server does not know in extra", "realtime_data", c]),
    );
  });

  test("a blob in a column the server does not know, as the agent sends it, is kept in extra", async () => {
    const d = device();
    const res = await sync(d, "uc-blob", { realtime_data: { rows: [reading(1, { raw_frame: { blobHex: "00FF7E" } })] } });
    expect(res.status).toBe(200);
    expect(await stored("realtime_data", d, "extra")).toEqual([{ extra: { raw_frame: { blobHex: "00FF7E" } } }]);
  });

  test("a known column keeps its strict validation", async () => {
    const res = await sync(device(), "uc-2", { realtime_data: { rows: [reading(1, { value: "900", gear: 2 })] } });
    expect(res.status).toBe(422);
    expect((await res.json()).errors).toEqual([
      { path: "tables.realtime_data.rows[0].value", table: "realtime_data", row: 0, column: "value", message: 'table realtime_data row 0 column value: expected a number, got string "900"' },
    ]);
  });
});

describe("tables the server does not know", () => {
  test("are kept in unmapped_rows, named in the receipt, and a replay duplicates nothing", async () => {
    const d = device();
    const rows = [
      { id: 1, timestamp: "2026-04-19T08:00:00Z", gear: 3, ratio: 1.36 },
      { id: 2, timestamp: "2026-04-19T08:00:01Z", gear: 4, ratio: 1.03 },
    ];
    const res = await sync(d, "ut-1", { gear_log: { lastSyncedId: 0, rows }, realtime_data: { rows: [reading(1)] } });
    expect(res.status).toBe(200);
    const receipt = await res.json();
    expect(receipt.tablesProcessed).toEqual({ realtime_data: { inserted: 1, updated: 0, errors: 0 }, gear_log: { inserted: 2, updated: 0, errors: 0, unmapped: true } });
    const kept = async () =>
      (await t.db.pool.query({ sql: "SELECT table_name, source_id, data, sync_batch_id FROM unmapped_rows WHERE source_device = ? ORDER BY table_name, source_id", dateStrings: true }, [d])).map(
        (r: Record<string, unknown>) => ({ ...r, data: typeof r.data === "string" ? JSON.parse(r.data) : r.data }),
      );
    expect(await kept()).toEqual(rows.map((r) => ({ table_name: "gear_log", source_id: String(r.id), data: r, sync_batch_id: "ut-1" })));
    const replay = await sync(d, "ut-2", { gear_log: { rows } });
    expect((await replay.json()).tablesProcessed.gear_log).toEqual({ inserted: 0, updated: 2, errors: 0, unmapped: true });
    expect((await kept()).length).toBe(2);
    expect(warnings().filter((w) => w.deviceId === d).map((w) => [w.msg, w.table])).toEqual([["kept rows of a table the server does not know in unmapped_rows", "gear_log"]]);
  });

  test("a table keyed by another column says so in `key`; text keys work; a name like constructor is just a name", async () => {
    const d = device();
    const boots = [{ boot_id: "9f2c", prior_boot_clean: 1 }, { boot_id: "a001", prior_boot_clean: 0 }];
    const res = await sync(d, "ut-3", { boot_history: { key: "boot_id", rows: boots }, constructor: { rows: [{ id: 7 }] } });
    expect(res.status).toBe(200);
    expect((await res.json()).tablesProcessed).toEqual({
      boot_history: { inserted: 2, updated: 0, errors: 0, unmapped: true },
      constructor: { inserted: 1, updated: 0, errors: 0, unmapped: true },
    });
    const [history] = await t.db.query("SELECT tables_synced FROM sync_history WHERE batch_id = 'ut-3'");
    const synced = typeof history.tables_synced === "string" ? JSON.parse(history.tables_synced) : history.tables_synced;
    expect(Object.keys(synced).sort()).toEqual(["boot_history", "constructor"]);
  });

  test("a row without a usable key is refused by name, and nothing of the batch is stored", async () => {
    const d = device();
    const res = await sync(d, "ut-4", { realtime_data: { rows: [reading(1)] }, gear_log: { rows: [{ id: 1 }, { gear: 2 }, { id: 1.5 }, { id: "" }, { id: 1 }] } });
    expect(res.status).toBe(422);
    expect((await res.json()).errors.map((e: { path: string; message: string }) => e.message)).toEqual([
      "table gear_log row 1 column id: expected the key id: an integer or a well-formed text of 1 to 64 characters, got nothing",
      "table gear_log row 2 column id: expected the key id: an integer or a well-formed text of 1 to 64 characters, got number 1.5",
      'table gear_log row 3 column id: expected the key id: an integer or a well-formed text of 1 to 64 characters, got string ""',
      "table gear_log row 4 column id: duplicate id 1 (also row 0)",
    ]);
    // A row that is not an object is refused before any row is read.
    const array = await sync(d, "ut-5", { gear_log: { rows: [{ id: 1 }, [1]] } });
    expect((await array.json()).errors.map((e: { message: string }) => e.message)).toEqual(["table gear_log row 1: expected a row object, got array"]);
    expect(await count("realtime_data", d)).toBe(0);
    expect(await t.db.query("SELECT id FROM unmapped_rows WHERE source_device = ?", [d])).toEqual([]);
  });
});

describe("another database's rows", () => {
  test("identity values compare as stored: the same time in another of the Pi's formats is the same row", async () => {
    const d = device();
    expect((await sync(d, "id-1", { realtime_data: { rows: [reading(1, { timestamp: "2026-04-19 08:00:01" })] } })).status).toBe(200);
    const res = await sync(d, "id-2", { realtime_data: { rows: [reading(1, { timestamp: "2026-04-19T08:00:01Z", value: 1 })] } });
    expect(res.status).toBe(200);
    expect((await res.json()).tablesProcessed.realtime_data).toEqual({ inserted: 0, updated: 1, errors: 0 });
  });

  test("one conflicting row refuses the whole batch, every table of it; the 409 lists at most 5 conflicts", async () => {
    const d = device();
    const original = Array.from({ length: 2500 }, (_, i) => reading(i + 1));
    expect((await sync(d, "db-1", { realtime_data: { rows: original }, dtc_log: { rows: [dtc(1)] }, drive_summary: { rows: [{ drive_id: 1, ...summary() }] } })).status).toBe(200);
    const before = { readings: await stored("realtime_data", d), dtcs: await stored("dtc_log", d), drives: await stored("drive_summary", d) };
    // A fresh database: its own readings from id 2001 on (500 of them over the stored ones), a different DTC under id 1, a new drive 1.
    const fresh = Array.from({ length: 1000 }, (_, i) => reading(2001 + i, { parameter_name: "SPEED" }));
    const res = await sync(d, "db-2", {
      realtime_data: { rows: fresh },
      dtc_log: { rows: [dtc(1, { dtc_code: "P0300" })] },
      drive_summary: { rows: [{ drive_id: 1, ...summary({ drive_start_timestamp: "2026-05-01T07:00:00Z" }) }] },
      gear_log: { rows: [{ id: 1 }] },
    });
    expect(res.status).toBe(409);
    const body = await res.json();
    expect(body.detail).toStartWith(`502 rows would overwrite rows that device ${d} already has with other values (realtime_data 2001: stored timestamp "2026-04-19 08:00:01.500000", parameter_name "RPM", sent timestamp "2026-04-19 08:00:01.500000", parameter_name "SPEED")`);
    expect(body.conflicts.map((c: { table: string; id: number }) => `${c.table} ${c.id}`)).toEqual(["realtime_data 2001", "realtime_data 2002", "realtime_data 2003", "realtime_data 2004", "realtime_data 2005"]);
    expect({ readings: await stored("realtime_data", d), dtcs: await stored("dtc_log", d), drives: await stored("drive_summary", d) }).toEqual(before);
    expect(await t.db.query("SELECT id FROM unmapped_rows WHERE source_device = ?", [d])).toEqual([]);
    expect(await t.db.query("SELECT batch_id FROM sync_history WHERE batch_id = 'db-2'")).toEqual([]);
  });

  test("profiles and vehicle_info have no identity: an edit is an update", async () => {
    const d = device();
    const profile = (name: string) => ({ id: "daily", name, created_at: "2026-04-19 08:00:00", updated_at: "2026-04-19 08:00:00" });
    expect((await sync(d, "pr-1", { profiles: { rows: [profile("Daily")] } })).status).toBe(200);
    expect((await sync(d, "pr-2", { profiles: { rows: [{ ...profile("Track"), created_at: "2026-05-01 08:00:00" }] } })).status).toBe(200);
    expect(await stored("profiles", d, "name")).toEqual([{ name: "Track" }]);
  });
});

test("the OpenAPI document shows the twelve tables, unknown tables kept, unknown columns allowed, and the 409's conflicts", async () => {
  const doc = (await (await t.call("/api/v1/openapi.json", { key: null })).json()) as any;
  const op = doc.paths["/api/v1/sync"].post;
  const request = doc.components.schemas.SyncRequest;
  const tables = request.properties.tables;
  expect(Object.keys(tables.properties).sort()).toEqual(Object.keys(TABLE_BY_NAME).sort());
  expect(tables.additionalProperties).toEqual({ $ref: "#/components/schemas/SyncUnmappedTable" });
  const dtcRows = doc.components.schemas.SyncTable_drive_summary.properties.rows;
  expect(dtcRows.description).toBe("Rows keyed by the Pi's drive_id, or id as the Python client renames it, each key once");
  expect(dtcRows.items.additionalProperties).toMatchObject({ description: "A column the server does not know: kept in the row's extra JSON" });
  const conflict = op.responses["409"].content["application/json"].schema;
  expect(conflict.allOf[0]).toEqual({ $ref: "#/components/schemas/Error" });
  expect(Object.keys(conflict.allOf[1].properties).sort()).toEqual(["batchId", "conflicts"]);
  expect(conflict.allOf[1].properties.conflicts.items.required).toEqual(["table", "id", "stored", "sent"]);
  const counts = doc.components.schemas.SyncReceipt.properties.tablesProcessed.additionalProperties.properties;
  expect(Object.keys(counts).sort()).toEqual(["errors", "inserted", "unknownColumns", "unmapped", "updated"]);
});
