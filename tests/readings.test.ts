/**
 * Windows of readings through the app (real MariaDB): the series endpoint
 * against the reference LTTB (the `downsample` package) and its streamed
 * path, and the CSV of a window row for row.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { LTTB } from "downsample";
import { readSeries } from "../lib/readings/series.ts";
import { API_KEY, issueKey, testApp, type TestApp } from "./helpers/app.ts";
import { seedReadings, type Reading } from "./helpers/drive.ts";

let t: TestApp;
let keyA: string;

const at = (s: number) => new Date(Date.UTC(2026, 3, 19, 8) + s * 1000);
const sql = (d: Date) => d.toISOString().replace("T", " ").replace("Z", "");
/** A window's end as the endpoints read it: the whole of its millisecond. */
const end = (d: Date) => `${sql(d)}999`;

/** A drive of RPM and SPEED readings, one each per second with a few milliseconds between them, and a spike. */
function drive(startS: number, seconds: number, seed: number): Reading[] {
  const rows: Reading[] = [];
  for (let s = 0; s < seconds; s++) {
    const rpm = 800 + ((s * 37 + seed * 11) % 2200) + (s === Math.floor(seconds / 3) ? 3000 : 0);
    rows.push({ timestamp: `${sql(at(startS + s)).slice(0, 19)}.${String(123 + (s % 7)).padStart(6, "0")}`, parameter_name: "RPM", value: rpm, unit: "rpm" });
    rows.push({ timestamp: `${sql(at(startS + s)).slice(0, 19)}.${String(400 + (s % 5)).padStart(6, "0")}`, parameter_name: "SPEED", value: (s * 7) % 130, unit: "km/h" });
  }
  return rows;
}

beforeAll(async () => {
  t = await testApp();
  keyA = await issueKey(t, "pi-a");
  await issueKey(t, "pi-b");
  // Two drives of pi-a an hour apart, and one of pi-b at the same time as the first.
  await seedReadings(t.db, "pi-a", [...drive(0, 3000, 1), ...drive(7200, 1200, 2)]);
  await seedReadings(t.db, "pi-b", drive(0, 600, 3));
});
afterAll(() => t.close());

/** The raw rows of a parameter as the reference sees them: epoch milliseconds (the microseconds divided by 1000) and values. */
async function raw(deviceId: string, parameter: string, from: Date, to: Date): Promise<[number, number][]> {
  const rows: { us: bigint; value: number }[] = await t.db.query(
    `SELECT TIMESTAMPDIFF(MICROSECOND, '1970-01-01', timestamp) AS us, value FROM realtime_data
     WHERE source_device = ? AND parameter_name = ? AND timestamp BETWEEN ? AND ? ORDER BY timestamp, value, id`,
    [deviceId, parameter, sql(from), end(to)],
  );
  return rows.map((r) => [Number(r.us) / 1000, r.value]);
}

const series = async (query: string, key: string | null = API_KEY) => {
  const res = await t.call(`/api/v1/devices/pi-a/series?${query}`, { key });
  return { status: res.status, body: (await res.json()) as any };
};

describe("GET /api/v1/devices/{deviceId}/series", () => {
  test("a drive should come back as the reference LTTB chooses, with each point's bucket extremes", async () => {
    const from = at(0);
    const to = at(3000);
    const { status, body } = await series(`parameters=RPM,SPEED&from=${from.toISOString()}&to=${to.toISOString()}&points=500`);
    expect(status).toBe(200);
    for (const name of ["RPM", "SPEED"]) {
      const rows = await raw("pi-a", name, from, to);
      const s = body.series[name];
      expect(s.t.length).toBe(500);
      // Chosen on the exact times; answered in whole milliseconds.
      expect(s.t.map((x: number, i: number) => [x, s.v[i]])).toEqual((LTTB(rows, 500) as [number, number][]).map(([x, y]) => [Math.round(x), y]));
      expect(Math.max(...s.max)).toBe(Math.max(...rows.map((r) => r[1])));
      expect(Math.min(...s.min)).toBe(Math.min(...rows.map((r) => r[1])));
    }
    expect(body.series.RPM.unit).toBe("rpm");
    expect(Math.max(...body.series.RPM.max)).toBe(Math.max(...(await raw("pi-a", "RPM", from, to)).map((r) => r[1])));
  });

  test("a window spanning both drives should break the line between them", async () => {
    const { body } = await series(`parameters=RPM&from=${at(0).toISOString()}&to=${at(9000).toISOString()}&points=300`);
    const s = body.series.RPM;
    const gap = s.v.indexOf(null);
    expect(s.v.filter((v: number | null) => v === null).length).toBe(1);
    expect(s.t[gap]).toBeGreaterThan(at(2999).getTime());
    expect(s.t[gap]).toBeLessThan(at(7200).getTime());
    expect(s.t.length).toBeLessThanOrEqual(300);
    // Each piece starts and ends on its drive's first and last readings.
    const rows = await raw("pi-a", "RPM", at(0), at(9000));
    expect([s.t[0], s.t[gap - 1], s.t[gap + 1], s.t.at(-1)]).toEqual([rows[0]![0], rows[2999]![0], rows[3000]![0], rows.at(-1)![0]].map(Math.round));
  });

  test("a short window should answer every reading, and no parameters should mean all of the window's", async () => {
    const { body } = await series(`from=${at(100).toISOString()}&to=${at(129).toISOString()}`);
    expect(Object.keys(body.series)).toEqual(["RPM", "SPEED"]);
    const rows = await raw("pi-a", "RPM", at(100), at(129));
    expect(body.series.RPM).toEqual({ unit: "rpm", t: rows.map((r) => Math.round(r[0])), v: rows.map((r) => r[1]), min: rows.map((r) => r[1]), max: rows.map((r) => r[1]) });
  });

  test("the streamed path (two passes in one snapshot) should give what the held path gives", async () => {
    const req = { deviceId: "pi-a", parameters: ["RPM", "SPEED", "COOLANT_TEMP"], from: at(0), to: at(9000), points: 400 };
    const held = await readSeries(t.db.pool, req);
    const streamed = await readSeries(t.db.pool, req, 100);
    expect(streamed).toEqual(held);
    expect(held.COOLANT_TEMP).toEqual({ unit: null, t: [], v: [], min: [], max: [] });
    expect(held.RPM!.t.length).toBeLessThanOrEqual(400);
  });

  test("a window's end should cover its whole millisecond, as stored times have microseconds", async () => {
    await seedReadings(t.db, "pi-edge", [
      { timestamp: "2026-04-19 10:00:00.000999", parameter_name: "EDGE", value: 1 },
      { timestamp: "2026-04-19 10:00:00.001000", parameter_name: "EDGE", value: 2 },
    ]);
    const res = await t.call(`/api/v1/devices/pi-edge/series?parameters=EDGE&from=2026-04-19T09:00:00Z&to=2026-04-19T10:00:00.000Z`);
    expect((await res.json()).series.EDGE.v).toEqual([1]);
  });

  test("without a list, the series should be those of the window's parameters, in name order; a list keeps its order", async () => {
    await seedReadings(t.db, "pi-a", [{ timestamp: sql(at(20_000)), parameter_name: "INTAKE_TEMP", value: 30 }]);
    const names = async (from: Date, to: Date, deviceId = "pi-a") => Object.keys(await readSeries(t.db.pool, { deviceId, from, to, points: 100 }));
    expect(await names(at(0), at(9000))).toEqual(["RPM", "SPEED"]);
    expect(await names(at(0), at(30_000))).toEqual(["INTAKE_TEMP", "RPM", "SPEED"]);
    expect(await names(at(0), at(30_000), "nobody")).toEqual([]);
    const listed = await readSeries(t.db.pool, { deviceId: "pi-a", parameters: ["SPEED", "NOTHING", "RPM"], from: at(0), to: at(30_000), points: 100 });
    expect(Object.keys(listed)).toEqual(["SPEED", "NOTHING", "RPM"]);
    // The streamed path finds the window's parameters the same way.
    expect(await readSeries(t.db.pool, { deviceId: "pi-a", from: at(0), to: at(30_000), points: 100 }, 50)).toEqual(
      await readSeries(t.db.pool, { deviceId: "pi-a", from: at(0), to: at(30_000), points: 100 }),
    );
  });

  test("a window of more than 32 parameters asked without a list should be a 422 naming parameters", async () => {
    await seedReadings(
      t.db,
      "pi-many",
      Array.from({ length: 33 }, (_, i) => ({ timestamp: sql(at(i)), parameter_name: `P${String(i).padStart(2, "0")}`, value: i })),
    );
    const res = await t.call(`/api/v1/devices/pi-many/series?from=${at(0).toISOString()}&to=${at(60).toISOString()}`);
    expect(res.status).toBe(422);
    expect((await res.json()).detail).toContain("parameters=");
    const listed = await t.call(`/api/v1/devices/pi-many/series?parameters=P00,P32&from=${at(0).toISOString()}&to=${at(60).toISOString()}`);
    expect(Object.keys((await listed.json()).series)).toEqual(["P00", "P32"]);
  });

  test("bad windows, parameter lists and point counts should be 422s naming the field", async () => {
    const w = `from=${at(0).toISOString()}&to=${at(60).toISOString()}`;
    for (const [query, field] of [
      [`to=${at(60).toISOString()}`, "from"],
      [`from=${at(60).toISOString()}&to=${at(0).toISOString()}`, "to"],
      [`from=yesterday&to=${at(60).toISOString()}`, "from"],
      [`${w}&points=5`, "points"],
      [`${w}&points=10001`, "points"],
      [`${w}&parameters=${Array.from({ length: 33 }, (_, i) => `P${i}`).join(",")}`, "parameters"],
      [`${w}&parameters=,`, "parameters"],
    ] as const) {
      const { status, body } = await series(query);
      expect({ query, status, paths: body.errors?.map((e: { path: string }) => e.path) }).toEqual({ query, status: 422, paths: [field] });
    }
  });

  test("a device key should get 403 for another device, and no key 401", async () => {
    const w = `from=${at(0).toISOString()}&to=${at(60).toISOString()}`;
    expect((await t.call(`/api/v1/devices/pi-b/series?${w}`, { key: keyA })).status).toBe(403);
    expect((await series(w, null)).status).toBe(401);
    expect((await series(w, keyA)).status).toBe(200);
  });
});

/** RFC 4180 fields of one CSV text (quoted fields may hold commas, quotes and line breaks). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") row.push(field), (field = "");
    else if (ch === "\r" && text[i + 1] === "\n") {
      row.push(field);
      rows.push(row);
      (row = []), (field = ""), i++;
    } else field += ch;
  }
  return rows;
}

describe("GET /api/v1/devices/{deviceId}/readings.csv", () => {
  async function dbRows(deviceId: string, from: Date, to: Date, parameters?: string[]) {
    // In the order of the window index, as the CSV is.
    const rows: any[] = await t.db.pool.execute(
      `SELECT DATE_FORMAT(timestamp, '%Y-%m-%dT%H:%i:%s.%fZ') AS ts, parameter_name, value, unit, profile_id, drive_id, data_source, source_id FROM realtime_data
       WHERE source_device = ? AND timestamp BETWEEN ? AND ? ${parameters ? `AND parameter_name IN (${parameters.map(() => "?").join(",")})` : ""} ORDER BY timestamp, parameter_name, value, id`,
      [deviceId, sql(from), end(to), ...(parameters ?? [])],
    );
    return rows.map((r) => [r.ts, r.parameter_name, String(r.value), r.unit ?? "", r.profile_id ?? "", r.drive_id === null ? "" : String(r.drive_id), r.data_source ?? "", String(r.source_id)]);
  }

  test("its rows should be exactly the window's readings, oldest first, across many chunks", async () => {
    // Readings sharing one timestamp across a chunk boundary, and text that needs quoting.
    await seedReadings(t.db, "pi-b", [
      ...Array.from({ length: 6001 }, (_, i) => ({ timestamp: "2026-04-19 12:00:00.500000", parameter_name: "MAF", value: i / 3, unit: 'g/s, "mass"' })),
      { timestamp: "2026-04-19 12:00:01", parameter_name: "NOTE", value: 1, unit: "line\nbreak" },
    ]);
    const from = at(0);
    const to = at(20_000);
    const res = await t.call(`/api/v1/devices/pi-b/readings.csv?from=${from.toISOString()}&to=${to.toISOString()}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    expect(res.headers.get("content-disposition")).toBe('attachment; filename="pi-b-2026-04-19T08-00-00Z.csv"');
    const [header, ...rows] = parseCsv(await res.text());
    expect(header).toEqual(["timestamp", "parameter_name", "value", "unit", "profile_id", "drive_id", "data_source", "source_id"]);
    const expected = await dbRows("pi-b", from, to);
    expect(expected.length).toBe(1200 + 6002);
    expect(rows).toEqual(expected);
  });

  test("a parameter list should keep only those parameters", async () => {
    const q = `from=${at(0).toISOString()}&to=${at(600).toISOString()}&parameters=SPEED`;
    const [, ...rows] = parseCsv(await (await t.call(`/api/v1/devices/pi-a/readings.csv?${q}`)).text());
    expect(rows).toEqual(await dbRows("pi-a", at(0), at(600), ["SPEED"]));
    // SPEED is read 400 µs into each second: the reading of second 600 is within `to`'s millisecond.
    expect(rows.length).toBe(601);
  });

  test("another device's key should get 403", async () => {
    expect((await t.call(`/api/v1/devices/pi-b/readings.csv?from=${at(0).toISOString()}&to=${at(60).toISOString()}`, { key: keyA })).status).toBe(403);
  });
});

