/**
 * Strict zod schemas for rows arriving from the Pi, built from lib/tables.ts
 * (which a test checks against prisma/schema.prisma). A row may carry only
 * the Pi's key column and the table's columns; each value must fit its MySQL
 * column, so a row that passes can never fail at the database for its shape.
 * Datetimes come out normalised to MySQL DATETIME(6) strings in UTC.
 */
import { z } from "@hono/zod-openapi";
import { TABLES, TEXT_KEY_LENGTH, type Column, type ColumnType, type MirroredTable, type TableName } from "../tables.ts";
import { parseDatetime } from "../time.ts";
import { MAX_PROBLEMS, quote, quoteKeys } from "../http/errors.ts";

const INT32 = { min: -2_147_483_648, max: 2_147_483_647 };

function describe(input: unknown): string {
  if (input === null) return "null";
  if (typeof input === "string") return `string ${quote(input)}`;
  return typeof input === "object" ? (Array.isArray(input) ? "array" : "object") : `${typeof input} ${String(input)}`;
}

/** One message style for every column: what was expected, and what came. */
function expected(what: string) {
  // Built once: a hostile body can have millions of rows missing the same column.
  const missing = `missing, but the column is NOT NULL (${what})`;
  return { error: (iss: { input?: unknown }) => (iss.input === undefined ? missing : `expected ${what}, got ${describe(iss.input)}`) };
}

const utf8Bytes = (s: string) => Buffer.byteLength(s, "utf8");

function valueSchema(type: ColumnType): z.ZodType {
  switch (type.kind) {
    case "datetime":
      return z.string(expected("a datetime string")).transform((text, ctx) => {
        const sql = parseDatetime(text);
        if (typeof sql === "string") return sql;
        const message = sql.unparseable
          ? `unparseable datetime ${quote(text)}; expected YYYY-MM-DD HH:MM:SS[.ffffff] or YYYY-MM-DDTHH:MM:SSZ`
          : `invalid datetime ${quote(text)}: ${sql.problem}`;
        ctx.addIssue({ code: "custom", message });
        return z.NEVER;
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

/** A UTF-16 surrogate not in a pair: no character, and MySQL would store it as U+FFFD, making two such keys one. */
const LONE_SURROGATE = /\p{Cs}/u;
/** For identity text (keys, batch ids), which must compare exactly as stored. */
export const wellFormed = [(text: string) => !LONE_SURROGATE.test(text), "not valid Unicode: a lone surrogate (\\ud800-\\udfff) is no character"] as const;

function keySchema(table: MirroredTable): z.ZodType {
  return table.keyType === "int"
    ? z.int(expected("an integer key"))
    : z.string(expected("a text key")).min(1, "empty key").max(TEXT_KEY_LENGTH, `longer than ${TEXT_KEY_LENGTH} characters`).refine(...wellFormed);
}

function rowSchema(table: MirroredTable) {
  const shape: Record<string, z.ZodType> = { [table.key]: keySchema(table) };
  for (const col of table.columns) shape[col.name] = columnSchema(col);
  return z.strictObject(shape, {
    error: (iss) =>
      iss.code === "unrecognized_keys"
        ? `unknown column${iss.keys.length > 1 ? "s" : ""} ${quoteKeys(iss.keys)}; allowed: ${Object.keys(shape).join(", ")}`
        : `expected a row object, got ${describe(iss.input)}`,
  });
}

export type SyncRow = Record<string, unknown>;
export type Issue = z.ZodError["issues"][number];

/** Each table's strict row schema; its output has datetimes normalised. */
const rowSchemas = Object.fromEntries(TABLES.map((t) => [t.name, rowSchema(t)])) as Record<TableName, ReturnType<typeof rowSchema>>;

/** A batch's problems: the first MAX_PROBLEMS kept for the answer, and all of them counted. */
export class Problems {
  readonly kept: Issue[] = [];
  count = 0;

  add(issue: Issue) {
    if (this.count++ < MAX_PROBLEMS) this.kept.push(issue);
  }
}

/**
 * Validates one slice of a table's rows, the first of them at index `offset`
 * in the request: adds each problem to `problems`, with its place in the
 * request (`tables.<table>.rows[i]…`), and returns the rows that passed,
 * normalised. `seen` carries keys across slices, because a Pi key may appear
 * once per table and request (each row must have one meaning).
 */
export function validateRows(table: MirroredTable, rows: unknown[], offset: number, seen: Map<unknown, number>, problems: Problems): SyncRow[] {
  const schema = rowSchemas[table.name];
  const valid: SyncRow[] = [];
  for (let j = 0; j < rows.length; j++) {
    const i = offset + j;
    const parsed = schema.safeParse(rows[j]);
    if (!parsed.success) {
      // Past the kept ones, a problem is only counted: no path is built for it.
      if (problems.count >= MAX_PROBLEMS) problems.count += parsed.error.issues.length;
      else for (const issue of parsed.error.issues) problems.add({ ...issue, path: ["tables", table.name, "rows", i, ...issue.path] });
      continue;
    }
    const key = parsed.data[table.key];
    const first = seen.get(key);
    if (first !== undefined) {
      problems.add({ code: "custom", input: key, path: ["tables", table.name, "rows", i, table.key], message: `duplicate ${table.key} ${JSON.stringify(key)} (also row ${first})` });
      continue;
    }
    seen.set(key, i);
    valid.push(parsed.data);
  }
  return valid;
}

const lastSyncedId = z.union([z.number(), z.string()]).nullish().openapi({ description: "The Pi's mark before this batch; informational" });

/** What the OpenAPI document shows for a table: its full row shape. */
function documentedTable(t: MirroredTable) {
  return z
    .object({ lastSyncedId, rows: z.array(rowSchemas[t.name]).openapi({ description: `Rows keyed by the Pi's ${t.key}, each key once` }) })
    .openapi(`SyncTable_${t.name}`);
}

/**
 * What the route validates up front: the table's envelope. Its rows are
 * checked by validateRows while the batch is written (lib/sync/write-batch.ts), so
 * checking one slice overlaps the database writing the one before.
 */
const envelopeTable = z.object({ lastSyncedId, rows: z.array(z.unknown(), { error: "expected an array of rows" }) });

export const documentedTables = Object.fromEntries(TABLES.map((t) => [t.name, documentedTable(t)])) as Record<TableName, ReturnType<typeof documentedTable>>;
export const envelopeTables = Object.fromEntries(TABLES.map((t) => [t.name, envelopeTable])) as Record<TableName, typeof envelopeTable>;
