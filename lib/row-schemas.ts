/**
 * Strict zod schemas for rows arriving from the Pi, built from lib/tables.ts
 * (which a test checks against prisma/schema.prisma). A row may carry only
 * the Pi's key column and the table's columns; each value must fit its MySQL
 * column, so a row that passes can never fail at the database for its shape.
 * Datetimes come out normalised to MySQL DATETIME(6) strings in UTC.
 */
import { z } from "@hono/zod-openapi";
import { TABLES, TEXT_KEY_LENGTH, type Column, type ColumnType, type MirroredTable, type TableName } from "./tables.ts";
import { toSqlDatetime } from "./time.ts";

const INT32 = { min: -2_147_483_648, max: 2_147_483_647 };

function describe(input: unknown): string {
  if (input === null) return "null";
  if (typeof input === "string") return `string ${JSON.stringify(input.length > 40 ? `${input.slice(0, 40)}…` : input)}`;
  return typeof input === "object" ? (Array.isArray(input) ? "array" : "object") : `${typeof input} ${String(input)}`;
}

/** One message style for every column: what was expected, and what came. */
function expected(what: string) {
  return {
    error: (iss: { input?: unknown }) =>
      iss.input === undefined ? `missing, but the column is NOT NULL (${what})` : `expected ${what}, got ${describe(iss.input)}`,
  };
}

const utf8Bytes = (s: string) => Buffer.byteLength(s, "utf8");

function valueSchema(type: ColumnType): z.ZodType {
  switch (type.kind) {
    case "datetime":
      return z.string(expected("a datetime string")).transform((text, ctx) => {
        const sql = toSqlDatetime(text);
        if (sql === undefined) {
          ctx.addIssue({
            code: "custom",
            message: `unparseable datetime ${JSON.stringify(text)}; expected YYYY-MM-DD HH:MM:SS[.ffffff] or YYYY-MM-DDTHH:MM:SSZ`,
          });
          return z.NEVER;
        }
        return sql;
      });
    case "double":
      return z.number(expected("a number"));
    case "int":
      return z.int(expected("a 32-bit integer")).min(INT32.min).max(INT32.max);
    case "bigint":
      return z.int(expected("an integer"));
    case "varchar":
      return z.string(expected("a string")).max(type.length, `longer than ${type.length} characters`);
    case "text":
    case "mediumtext":
      return z.string(expected("a string")).refine((s) => utf8Bytes(s) <= type.bytes, `longer than ${type.bytes} bytes`);
  }
}

function columnSchema(col: Column): z.ZodType {
  const schema = valueSchema(col.type);
  // JSON null and an absent nullable column both store NULL.
  return col.nullable ? schema.nullish() : schema;
}

function keySchema(table: MirroredTable): z.ZodType {
  return table.keyType === "int"
    ? z.int(expected("an integer key"))
    : z.string(expected("a text key")).min(1, "empty key").max(TEXT_KEY_LENGTH, `longer than ${TEXT_KEY_LENGTH} characters`);
}

function rowSchema(table: MirroredTable) {
  const shape: Record<string, z.ZodType> = { [table.key]: keySchema(table) };
  for (const col of table.columns) shape[col.name] = columnSchema(col);
  return z.strictObject(shape, {
    error: (iss) =>
      iss.code === "unrecognized_keys"
        ? `unknown column${iss.keys.length > 1 ? "s" : ""} ${iss.keys.map((k) => JSON.stringify(k)).join(", ")}; allowed: ${Object.keys(shape).join(", ")}`
        : `expected a row object, got ${describe(iss.input)}`,
  });
}

/** A table's rows; a Pi key may appear once per request, so each row has one meaning. */
function rowsSchema(table: MirroredTable) {
  return z.array(rowSchema(table)).superRefine((rows, ctx) => {
    const seen = new Map<unknown, number>();
    rows.forEach((row, i) => {
      const key = row[table.key];
      const first = seen.get(key);
      if (first !== undefined) {
        ctx.addIssue({ code: "custom", path: [i, table.key], message: `duplicate ${table.key} ${JSON.stringify(key)} (also row ${first})` });
      } else seen.set(key, i);
    });
  });
}

export type SyncRow = Record<string, unknown>;

function tableBatchSchema(t: MirroredTable) {
  return z
    .object({
      lastSyncedId: z.union([z.number(), z.string()]).nullish().openapi({ description: "The Pi's mark before this batch; informational" }),
      rows: rowsSchema(t).openapi({ description: `Rows keyed by the Pi's ${t.key}` }),
    })
    .openapi(`SyncTable_${t.name}`);
}

export const tableBatchSchemas = Object.fromEntries(TABLES.map((t) => [t.name, tableBatchSchema(t)])) as Record<
  TableName,
  ReturnType<typeof tableBatchSchema>
>;
