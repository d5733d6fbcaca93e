/**
 * Drift: prisma/schema.prisma against the database the migrations build (read
 * through information_schema), and against lib/tables.ts. Both comparisons
 * are pure functions listing differences, so the last tests can show they
 * catch drift in a modified copy of the schema.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import * as mariadb from "mariadb";
import { connectionOptions } from "../lib/db/pools.ts";
import { migrate } from "../lib/db/migrate.ts";
import { EXTRA_COLUMN, PROVENANCE_COLUMNS, TABLES, TEXT_KEY_LENGTH, type Column, type MirroredTable } from "../lib/tables.ts";
import { emptyDatabase } from "./helpers/db.ts";
import { parsePrismaSchema, type PrismaField, type PrismaSchema } from "./helpers/prisma-schema.ts";

const SCHEMA_TEXT = readFileSync(new URL("../prisma/schema.prisma", import.meta.url), "utf8");
const schema = parsePrismaSchema(SCHEMA_TEXT);

/** A table as both sides can describe it; a column reads like "varchar(64) NOT NULL DEFAULT 'x'". */
type TableShape = { columns: Record<string, string>; primaryKey: string; uniques: string[]; indexes: string[] };
type Shapes = Record<string, TableShape>;

function prismaColumnType(model: string, f: PrismaField, enums: PrismaSchema["enums"]): string {
  const db = f.db ? `${f.db.name}(${f.db.args.join(",")})` : "";
  if (enums[f.type]) return `enum(${enums[f.type]!.join(",")})`;
  switch (`${f.type} ${f.db?.name ?? ""}`.trim()) {
    case "Int":
      return "int";
    case "BigInt":
      return "bigint";
    case "Float":
      return "double";
    case "Boolean":
      return "tinyint(1)";
    case "Json":
      return "json";
    case "String":
      return "varchar(191)"; // Prisma's default for String on MySQL
    case "String VarChar":
    case "String Char":
      return db.toLowerCase();
    case "String Text":
    case "String MediumText":
    case "String LongText":
      return f.db!.name.toLowerCase();
    case "DateTime":
      return "datetime(3)";
    case "DateTime DateTime":
      return `datetime(${f.db!.args[0] ?? 0})`;
  }
  throw new Error(`${model}.${f.name}: the drift test does not know ${f.type} ${db}; teach prismaColumnType`);
}

function prismaDefault(f: PrismaField, type: string): string {
  const d = f.default;
  if (d === undefined) return "";
  if (d === "autoincrement()") return " AUTO_INCREMENT";
  if (d === "now()") return ` DEFAULT current_timestamp(${/\((\d)\)/.exec(type)![1]})`;
  if (/^-?\d+(\.\d+)?$/.test(d)) return ` DEFAULT ${d}`;
  if (d === "true" || d === "false") return ` DEFAULT ${d === "true" ? 1 : 0}`;
  return ` DEFAULT '${d.replace(/^"|"$/g, "")}'`;
}

/** What the migrations should have built, according to schema.prisma. */
function shapesFromSchema(s: PrismaSchema): Shapes {
  return Object.fromEntries(
    s.models.map((m) => {
      const columns = Object.fromEntries(
        m.fields.map((f) => {
          const type = prismaColumnType(m.name, f, s.enums);
          return [f.name, `${type} ${f.optional ? "NULL" : "NOT NULL"}${prismaDefault(f, type)}`];
        }),
      );
      const uniques = [...m.uniques, ...m.fields.filter((f) => f.unique).map((f) => [f.name])];
      return [m.name, { columns, primaryKey: m.id.join(","), uniques: uniques.map((u) => u.join(",")).sort(), indexes: m.indexes.map((i) => i.join(",")).sort() }];
    }),
  );
}

/** What the database has, from information_schema. Tables other than Prisma's own bookkeeping all count. */
async function shapesFromDatabase(url: string): Promise<{ shapes: Shapes; foreignKeys: string[]; checks: string[] }> {
  const conn = await mariadb.createConnection(connectionOptions(url));
  try {
    const where = "TABLE_SCHEMA = DATABASE() AND TABLE_NAME <> '_prisma_migrations'";
    const tables: { TABLE_NAME: string }[] = await conn.query(`SELECT TABLE_NAME FROM information_schema.TABLES WHERE ${where}`);
    const columns: Record<string, string | number | bigint | null>[] = await conn.query(
      `SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA, DATETIME_PRECISION, CHARACTER_MAXIMUM_LENGTH
       FROM information_schema.COLUMNS WHERE ${where} ORDER BY TABLE_NAME, ORDINAL_POSITION`,
    );
    const stats: { TABLE_NAME: string; INDEX_NAME: string; NON_UNIQUE: number | bigint; COLUMN_NAME: string }[] = await conn.query(
      `SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME FROM information_schema.STATISTICS WHERE ${where} ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX`,
    );
    const checkRows: { TABLE_NAME: string; CHECK_CLAUSE: string }[] = await conn.query(
      "SELECT TABLE_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()",
    );
    const fkRows: { TABLE_NAME: string; CONSTRAINT_NAME: string }[] = await conn.query(
      "SELECT TABLE_NAME, CONSTRAINT_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()",
    );

    // MariaDB's JSON is LONGTEXT with a json_valid() check; together they are one json column.
    const jsonChecks = new Set(checkRows.map((c) => `${c.TABLE_NAME}.${/^json_valid\(`(\w+)`\)$/.exec(c.CHECK_CLAUSE)?.[1]}`));
    const shapes: Shapes = Object.fromEntries(tables.map((t) => [t.TABLE_NAME, { columns: {}, primaryKey: "", uniques: [], indexes: [] }]));
    for (const c of columns) {
      const table = String(c.TABLE_NAME);
      const name = String(c.COLUMN_NAME);
      const dataType = String(c.DATA_TYPE);
      let type = dataType;
      if (dataType === "varchar" || dataType === "char") type = `${dataType}(${c.CHARACTER_MAXIMUM_LENGTH})`;
      else if (dataType === "datetime" || dataType === "timestamp") type = `${dataType}(${c.DATETIME_PRECISION})`;
      else if (dataType === "enum") type = String(c.COLUMN_TYPE).replaceAll("'", "");
      else if (dataType === "tinyint" && c.COLUMN_TYPE === "tinyint(1)") type = "tinyint(1)";
      else if (dataType === "longtext" && jsonChecks.has(`${table}.${name}`)) type = "json";
      if (String(c.COLUMN_TYPE).includes("unsigned")) type += " unsigned";
      const def = c.COLUMN_DEFAULT === null || c.COLUMN_DEFAULT === "NULL" ? "" : ` DEFAULT ${c.COLUMN_DEFAULT}`;
      const extra = c.EXTRA ? ` ${String(c.EXTRA).toUpperCase()}` : "";
      shapes[table]!.columns[name] = `${type} ${c.IS_NULLABLE === "YES" ? "NULL" : "NOT NULL"}${def}${extra}`;
    }
    const indexes = new Map<string, { table: string; unique: boolean; columns: string[] }>();
    for (const s of stats) {
      const key = `${s.TABLE_NAME}.${s.INDEX_NAME}`;
      if (!indexes.has(key)) indexes.set(key, { table: s.TABLE_NAME, unique: Number(s.NON_UNIQUE) === 0, columns: [] });
      indexes.get(key)!.columns.push(s.COLUMN_NAME);
    }
    for (const [key, index] of indexes) {
      const shape = shapes[index.table]!;
      if (key.endsWith(".PRIMARY")) shape.primaryKey = index.columns.join(",");
      else (index.unique ? shape.uniques : shape.indexes).push(index.columns.join(","));
    }
    for (const shape of Object.values(shapes)) {
      shape.uniques.sort();
      shape.indexes.sort();
    }
    const checks = checkRows.filter((c) => !/^json_valid\(`\w+`\)$/.test(c.CHECK_CLAUSE)).map((c) => `${c.TABLE_NAME}: CHECK ${c.CHECK_CLAUSE}`);
    return { shapes, foreignKeys: fkRows.map((f) => `${f.TABLE_NAME}.${f.CONSTRAINT_NAME}`), checks };
  } finally {
    await conn.end();
  }
}

/** Every way `actual` (the database) differs from `expected` (schema.prisma), one readable line each. */
function differences(expected: Shapes, actual: Shapes): string[] {
  const out: string[] = [];
  const names = (o: object) => Object.keys(o);
  const only = (a: string[], b: string[]) => a.filter((x) => !b.includes(x));
  for (const t of only(names(expected), names(actual))) out.push(`table ${t}: in schema.prisma, not in the database`);
  for (const t of only(names(actual), names(expected))) out.push(`table ${t}: in the database, not in schema.prisma`);
  for (const t of names(expected).filter((t) => actual[t])) {
    const e = expected[t]!;
    const a = actual[t]!;
    for (const c of only(names(e.columns), names(a.columns))) out.push(`${t}.${c}: in schema.prisma, not in the database`);
    for (const c of only(names(a.columns), names(e.columns))) out.push(`${t}.${c}: in the database, not in schema.prisma`);
    for (const c of names(e.columns).filter((c) => c in a.columns && a.columns[c] !== e.columns[c])) {
      out.push(`${t}.${c}: schema.prisma says ${e.columns[c]}, the database has ${a.columns[c]}`);
    }
    if (e.primaryKey !== a.primaryKey) out.push(`${t}: primary key (${e.primaryKey}) in schema.prisma, (${a.primaryKey}) in the database`);
    for (const kind of ["uniques", "indexes"] as const) {
      const label = kind === "uniques" ? "unique key" : "index";
      for (const i of only(e[kind], a[kind])) out.push(`${t}: ${label} (${i}) in schema.prisma, not in the database`);
      for (const i of only(a[kind], e[kind])) out.push(`${t}: ${label} (${i}) in the database, not in schema.prisma`);
    }
  }
  return out;
}

/** A model field in lib/tables.ts's notation ("varchar(64)?"); Pi datetimes must keep microseconds, so only DateTime(6) is "datetime". */
function tablesNotation(f: PrismaField): string {
  const base =
    f.type === "String" && f.db
      ? f.db.name === "VarChar"
        ? `varchar(${f.db.args[0]})`
        : f.db.name.toLowerCase()
      : f.type === "DateTime"
        ? f.db?.name === "DateTime" && f.db.args[0] === 6
          ? "datetime"
          : `datetime(${f.db?.args[0] ?? 3})`
        : ({ Int: "int", BigInt: "bigint", Float: "double", Json: "json" } as Record<string, string>)[f.type] ?? f.type;
  return `${base}${f.optional ? "?" : ""}`;
}

const columnNotation = (c: Column) => `${c.type.kind === "varchar" ? `varchar(${c.type.length})` : c.type.kind}${c.nullable ? "?" : ""}`;

/** Every way schema.prisma's mirrored models differ from lib/tables.ts and the provenance contract. */
function tablesDifferences(s: PrismaSchema, tables: readonly MirroredTable[]): string[] {
  const out: string[] = [];
  // unmapped_rows holds other tables' rows, and drives is found from them: a device column, but no table of its own in lib/tables.ts.
  const mirrored = s.models.filter((m) => !["unmapped_rows", "drives"].includes(m.name) && m.fields.some((f) => f.name === "source_device")).map((m) => m.name);
  for (const name of mirrored.filter((m) => !tables.some((t) => t.name === m))) out.push(`model ${name} has provenance columns but is not in lib/tables.ts`);
  for (const table of tables) {
    const model = s.models.find((m) => m.name === table.name);
    if (!model) {
      out.push(`${table.name}: in lib/tables.ts, no such model in schema.prisma`);
      continue;
    }
    const field = (name: string) => model.fields.find((f) => f.name === name);
    const expectField = (name: string, notation: string) => {
      const f = field(name);
      const got = f ? tablesNotation(f) : "missing";
      if (got !== notation) out.push(`${table.name}.${name}: expected ${notation}, schema.prisma has ${got}`);
    };
    const id = field("id");
    if (!id || !id.id || id.type !== "BigInt" || id.default !== "autoincrement()") out.push(`${table.name}.id: expected BigInt @id @default(autoincrement())`);
    expectField("source_id", table.keyType === "int" ? "bigint" : `varchar(${TEXT_KEY_LENGTH})`);
    expectField("source_device", "varchar(64)");
    expectField("synced_at", "datetime(3)");
    expectField("sync_batch_id", "varchar(64)");
    expectField(EXTRA_COLUMN, "json?");
    if (!model.uniques.some((u) => u.join(",") === "source_device,source_id")) out.push(`${table.name}: no @@unique([source_device, source_id])`);
    const own = new Set(["id", EXTRA_COLUMN, ...PROVENANCE_COLUMNS]);
    const inSchema = Object.fromEntries(model.fields.filter((f) => !own.has(f.name)).map((f) => [f.name, tablesNotation(f)]));
    const inTables = Object.fromEntries(table.columns.map((c) => [c.name, columnNotation(c)]));
    for (const name of new Set([...Object.keys(inSchema), ...Object.keys(inTables)])) {
      if (inSchema[name] !== inTables[name]) {
        out.push(`${table.name}.${name}: lib/tables.ts says ${inTables[name] ?? "nothing"}, schema.prisma says ${inSchema[name] ?? "nothing"}`);
      }
    }
  }
  return out;
}

/** Binary and NO PAD: equal only when the bytes are ("a" ≠ "A" ≠ "á" ≠ "a "). MariaDB's name, MySQL 8's name. */
const EXACT_COLLATIONS = ["utf8mb4_nopad_bin", "utf8mb4_0900_bin"];
/** Text columns that identify something: a device, a batch, a Pi row or the profile it names. */
const IDENTITY_COLUMN = /^(source_id|source_device|sync_batch_id|profile_id|profile_source_id|device_id|batch_id|table_name)$/;

type TextColumn = { table: string; column: string; collation: string };

/**
 * Identity columns that would compare inexactly: every text column of any
 * table named like an identity, and each mirrored table's source_device,
 * sync_batch_id and text source_id, which must exist as text.
 */
function inexactIdentities(columns: TextColumn[], tables: readonly MirroredTable[]): string[] {
  const out = columns.filter((c) => IDENTITY_COLUMN.test(c.column) && !EXACT_COLLATIONS.includes(c.collation)).map((c) => `${c.table}.${c.column}: ${c.collation}`);
  for (const t of tables) {
    for (const column of ["source_device", "sync_batch_id", ...(t.keyType === "text" ? ["source_id"] : [])]) {
      if (!columns.some((c) => c.table === t.name && c.column === column)) out.push(`${t.name}.${column}: not a text column`);
    }
  }
  return out.sort();
}

async function textColumns(url: string): Promise<TextColumn[]> {
  const conn = await mariadb.createConnection(connectionOptions(url));
  try {
    const rows: { TABLE_NAME: string; COLUMN_NAME: string; COLLATION_NAME: string }[] = await conn.query(
      "SELECT TABLE_NAME, COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME <> '_prisma_migrations' AND COLLATION_NAME IS NOT NULL",
    );
    return rows.map((r) => ({ table: r.TABLE_NAME, column: r.COLUMN_NAME, collation: r.COLLATION_NAME }));
  } finally {
    await conn.end();
  }
}

let database: Awaited<ReturnType<typeof emptyDatabase>>;
let introspected: Awaited<ReturnType<typeof shapesFromDatabase>>;
let texts: TextColumn[];

beforeAll(async () => {
  database = await emptyDatabase();
  await migrate(database.url);
  introspected = await shapesFromDatabase(database.url);
  texts = await textColumns(database.url);
});

afterAll(() => database.drop());

describe("the migrations", () => {
  test("should build exactly what schema.prisma describes: tables, columns, types, nullability, defaults, keys and indexes", () => {
    expect(differences(shapesFromSchema(schema), introspected.shapes)).toEqual([]);
  });

  test("should give every identity text column a binary NO PAD collation, which schema.prisma cannot say", () => {
    expect(inexactIdentities(texts, TABLES)).toEqual([]);
    // Checked for real, not just by name: the columns of one mirrored table with a text key.
    const profiles = texts.filter((c) => c.table === "profiles" && IDENTITY_COLUMN.test(c.column)).map((c) => c.column).sort();
    expect(profiles).toEqual(["source_device", "source_id", "sync_batch_id"]);
  });

  test("should give drives.source_device a binary NO PAD collation, each server's own from its executable comment", async () => {
    const conn = await mariadb.createConnection(connectionOptions(database.url));
    try {
      const [row] = await conn.query("SELECT COLLATION_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'drives' AND COLUMN_NAME = 'source_device'");
      const [{ v }] = await conn.query("SELECT VERSION() AS v");
      expect(row.c).toBe(/mariadb/i.test(v) ? "utf8mb4_nopad_bin" : "utf8mb4_0900_bin");
    } finally {
      await conn.end();
    }
  });

  test("should create no foreign keys and no checks beyond JSON validity (relationMode = prisma)", () => {
    expect(introspected.foreignKeys).toEqual([]);
    expect(introspected.checks).toEqual([]);
  });
});

describe("lib/tables.ts", () => {
  test("should agree with schema.prisma on every mirrored column, and every mirrored model should carry provenance", () => {
    expect(tablesDifferences(schema, TABLES)).toEqual([]);
  });

  test("should list the twelve mirrored tables", () => {
    expect(TABLES.map((t) => t.name).sort()).toEqual([
      "ai_recommendations", "alert_log", "battery_health_log", "calibration_sessions", "connection_log", "drive_summary",
      "dtc_freeze_frame", "dtc_log", "profiles", "realtime_data", "statistics", "vehicle_info",
    ]);
  });

  test("should declare the identity columns the issue lists: values a Pi row never changes", () => {
    expect(Object.fromEntries(TABLES.map((t) => [t.name, t.identity]))).toEqual({
      profiles: [],
      vehicle_info: [],
      calibration_sessions: ["start_time"],
      realtime_data: ["timestamp", "parameter_name"],
      statistics: ["analysis_date", "parameter_name"],
      ai_recommendations: ["timestamp"],
      connection_log: ["timestamp", "event_type"],
      alert_log: ["timestamp", "alert_type"],
      dtc_log: ["dtc_code", "first_seen_timestamp"],
      dtc_freeze_frame: ["captured_at_timestamp_utc"],
      drive_summary: ["drive_start_timestamp"],
      battery_health_log: ["start_timestamp"],
    });
  });
});

describe("the drift checks themselves", () => {
  /** schema.prisma with one textual change, which must be present. */
  const edited = (from: string | RegExp, to: string) => {
    const text = SCHEMA_TEXT.replace(from, to);
    if (text === SCHEMA_TEXT) throw new Error(`edit did not apply: ${from}`);
    return parsePrismaSchema(text);
  };

  test("should parse every model and enum, skipping relation fields", () => {
    expect(schema.models.map((m) => m.name).sort()).toEqual(
      [...TABLES.map((t) => t.name), "analysis_history", "analysis_jobs", "backup_checks", "device_status", "devices", "drives", "sync_history", "unmapped_rows"].sort(),
    );
    expect(schema.enums).toEqual({ SyncStatus: ["success", "failed", "partial"], AnalysisStatus: ["pending", "running", "completed", "failed"],
      AnalysisTrigger: ["api", "auto"],
      BackupType: ["database", "logs", "config"],
      CheckMethod: ["upload", "rehash"],
      DriveClosedBy: ["drive_end", "next_drive", "idle"],
    });
    const profiles = schema.models.find((m) => m.name === "profiles")!;
    expect(profiles.fields.map((f) => f.name)).not.toContain("realtime_data");
    expect(schema.models.find((m) => m.name === "realtime_data")!.fields.map((f) => f.name)).not.toContain("profile");
    expect(profiles.fields.find((f) => f.name === "description")).toEqual({
      name: "description",
      type: "String",
      optional: true,
      id: false,
      unique: false,
      db: { name: "Text", args: [] },
    });
  });

  // [what is edited in schema.prisma, replaced by what, the difference the check must report]
  const drifts: [string | RegExp, string, string][] = [
    ["unit           String?   @db.VarChar(64)", "unit           String?   @db.VarChar(65)", "realtime_data.unit: schema.prisma says varchar(65) NULL, the database has varchar(64) NULL"],
    ["value          Float\n", "value          Float?\n", "realtime_data.value: schema.prisma says double NULL, the database has double NOT NULL"],
    ["end_time      DateTime? @db.DateTime(6)", "end_time      DateTime? @db.DateTime(3)", "calibration_sessions.end_time: schema.prisma says datetime(3) NULL, the database has datetime(6) NULL"],
    ["rows_inserted Int        @default(0)", "rows_inserted Int        @default(1)", "sync_history.rows_inserted: schema.prisma says int NOT NULL DEFAULT 1, the database has int NOT NULL DEFAULT 0"],
    ["  partial\n", "  partial\n  skipped\n", "sync_history.status: schema.prisma says enum(success,failed,partial,skipped) NOT NULL, the database has enum(success,failed,partial) NOT NULL"],
    ["  retry_count   Int?\n", "  retry_count   Int?\n  gear Int?\n", "connection_log.gear: in schema.prisma, not in the database"],
    [/model devices \{[^}]*\}/, "", "table devices: in the database, not in schema.prisma"],
    ["model devices {", "model trips {\n  id Int @id\n}\n\nmodel devices {", "table trips: in schema.prisma, not in the database"],
    ["  @@index([device_id, drive_start])", "  @@index([device_id, drive_start])\n  @@index([model])", "analysis_history: index (model) in schema.prisma, not in the database"],
    ["  @@index([status, completed_at])\n", "", "sync_history: index (status,completed_at) in the database, not in schema.prisma"],
    ["api_key_hash  String?   @db.VarChar(255)", "api_key_hash  String?   @db.VarChar(255) @unique", "devices: unique key (api_key_hash) in schema.prisma, not in the database"],
  ];

  test("should report every kind of drift: type, length, precision, nullability, default, enum, model, field, key, index", () => {
    for (const [from, to, difference] of drifts) {
      expect(differences(shapesFromSchema(edited(from, to)), introspected.shapes)).toEqual([difference]);
    }
  });

  test("should report an identity column that compares inexactly, and a mirrored table without one", () => {
    const folded = texts.map((c) => (c.table === "devices" && c.column === "device_id" ? { ...c, collation: "utf8mb4_unicode_ci" } : c));
    expect(inexactIdentities(folded, TABLES)).toEqual(["devices.device_id: utf8mb4_unicode_ci"]);
    const withoutBatch = texts.filter((c) => !(c.table === "alert_log" && c.column === "sync_batch_id"));
    expect(inexactIdentities(withoutBatch, TABLES)).toEqual(["alert_log.sync_batch_id: not a text column"]);
  });

  test("should report lib/tables.ts disagreeing with schema.prisma", () => {
    expect(tablesDifferences(edited("  mac_address   String?  @db.VarChar(255)", "  mac_address   String?  @db.VarChar(128)"), TABLES)).toEqual([
      "connection_log.mac_address: lib/tables.ts says varchar(255)?, schema.prisma says varchar(128)?",
    ]);
    expect(tablesDifferences(edited("  start_time    DateTime  @db.DateTime(6)", "  start_time    DateTime  @db.DateTime(3)"), TABLES)).toEqual([
      "calibration_sessions.start_time: lib/tables.ts says datetime, schema.prisma says datetime(3)",
    ]);
    const withoutUnique = SCHEMA_TEXT.replace(/(model alert_log \{[^}]*?)\n  @@unique\(\[source_device, source_id\]\)/, "$1");
    expect(tablesDifferences(parsePrismaSchema(withoutUnique), TABLES)).toEqual(["alert_log: no @@unique([source_device, source_id])"]);
    const renamed = TABLES.map((t) => (t.name === "profiles" ? { ...t, keyType: "int" as const } : t));
    expect(tablesDifferences(schema, renamed)).toEqual(["profiles.source_id: expected bigint, schema.prisma has varchar(64)"]);
  });
});
