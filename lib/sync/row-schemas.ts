/**
 * Strict zod schemas for rows arriving from the Pi, built from lib/tables.ts
 * (which a test checks against prisma/schema.prisma). Each known column's
 * value must fit its MySQL column, so a row that passes can never fail at the
 * database for its shape. Datetimes come out normalised to MySQL DATETIME(6)
 * strings in UTC. Columns the table does not know are not refused: they are
 * kept, as sent, in the row's `extra` JSON.
 */
import { z } from "@hono/zod-openapi";
import { EXTRA_COLUMN, KEY_ALIAS, TABLES, TEXT_KEY_LENGTH, type Column, type ColumnType, type MirroredTable, type TableName } from "../tables.ts";
import { parseDatetime } from "../time.ts";
import { MAX_PROBLEMS, quote } from "../http/errors.ts";

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
    case "json":
      return jsonText(type.bytes);
  }
}

/** JSON as the Pi stores it (text holding JSON), or a JSON value itself; out comes the JSON text to store. */
function jsonText(bytes: number): z.ZodType {
  return z
    .union([z.string(), z.record(z.string(), z.unknown()), z.array(z.unknown()), z.number(), z.boolean()], expected("JSON text or a JSON value"))
    .transform((value, ctx) => {
      const text = typeof value === "string" ? value : JSON.stringify(value);
      if (typeof value === "string") {
        try {
          JSON.parse(text);
        } catch {
          ctx.addIssue({ code: "custom", message: `expected JSON text, got ${describe(text)}` });
          return z.NEVER;
        }
      }
      if (utf8Bytes(text) > bytes) {
        ctx.addIssue({ code: "custom", message: `longer than ${bytes} bytes` });
        return z.NEVER;
      }
      return text;
    });
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

/** The key's names as a row may carry it: the Pi's own, and `id` as the Python client renames it. */
const keyNames = (table: MirroredTable) => (table.key === KEY_ALIAS ? table.key : `${table.key} (or ${KEY_ALIAS})`);

function keySchema(table: MirroredTable): z.ZodType {
  return table.keyType === "int"
    ? z.int(expected(`an integer key, ${keyNames(table)}`))
    : z.string(expected(`a text key, ${keyNames(table)}`)).min(1, "empty key").max(TEXT_KEY_LENGTH, `longer than ${TEXT_KEY_LENGTH} characters`).refine(...wellFormed);
}

/** The known columns of a row; validateRows has moved everything else to `extra` first. */
function rowSchema(table: MirroredTable) {
  const shape: Record<string, z.ZodType> = { [table.key]: keySchema(table) };
  for (const col of table.columns) shape[col.name] = columnSchema(col);
  return z.strictObject(shape, { error: (iss) => `expected a row object, got ${describe(iss.input)}` });
}

export type SyncRow = Record<string, unknown>;
export type Issue = z.ZodError["issues"][number];

/** A batch's problems: the first MAX_PROBLEMS kept for the answer, and all of them counted. */
export class Problems {
  readonly kept: Issue[] = [];
  count = 0;

  add(issue: Issue) {
    if (this.count++ < MAX_PROBLEMS) this.kept.push(issue);
  }
}

/** Each table's strict row schema; its output has datetimes normalised. */
const rowSchemas = Object.fromEntries(TABLES.map((t) => [t.name, rowSchema(t)])) as Record<TableName, ReturnType<typeof rowSchema>>;
const knownColumns = Object.fromEntries(TABLES.map((t) => [t.name, new Set([t.key, ...t.columns.map((c) => c.name)])])) as Record<TableName, Set<string>>;

const isRowObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * A row as its known columns, with the key under the Pi's name, and its
 * unknown columns apart. `id` stands for the key only when the Pi's key name
 * is absent; next to it, `id` is just another unknown column.
 */
function splitRow(table: MirroredTable, row: Record<string, unknown>): { known: Record<string, unknown>; aliased: boolean; extra?: Record<string, unknown> } {
  const known = knownColumns[table.name];
  const aliased = table.key !== KEY_ALIAS && !Object.hasOwn(row, table.key) && Object.hasOwn(row, KEY_ALIAS);
  let extra: Record<string, unknown> | undefined;
  for (const name in row) {
    // No prototype, so a column called "__proto__" is kept like any other.
    if (!known.has(name) && !(aliased && name === KEY_ALIAS)) (extra ??= Object.create(null) as Record<string, unknown>)[name] = row[name];
  }
  // The common row (known columns only, key under its own name) goes to zod as it came.
  if (!aliased && !extra) return { known: row, aliased };
  const picked: Record<string, unknown> = {};
  for (const name in row) if (known.has(name)) picked[name] = row[name];
  if (aliased) picked[table.key] = row[KEY_ALIAS];
  return { known: picked, aliased, extra };
}

/** What an unknown column's name must be to be kept: one a later migration could make a column of. */
const COLUMN_NAME = /^[^\p{Cc}]{1,64}$/u;
const COLUMN_NAME_RULE = "a column the server does not know is kept only under a name of 1 to 64 characters without control characters";

/** The first unknown column whose name could never become a column, if any. */
function unkeepableColumn(extra: Record<string, unknown>): string | undefined {
  for (const name in extra) if (!COLUMN_NAME.test(name)) return name;
  return undefined;
}

/**
 * Validates one slice of a table's rows, the first of them at index `offset`
 * in the request: adds each problem to `problems`, with its place in the
 * request (`tables.<table>.rows[i]…`), and returns the rows that passed,
 * normalised, each with `extra`: its unknown columns as JSON text, or null.
 * Their names are added to `unknown`. `seen` carries keys across slices,
 * because a Pi key may appear once per table and request (each row must have
 * one meaning).
 */
export function validateRows(table: MirroredTable, rows: unknown[], offset: number, seen: Map<unknown, number>, problems: Problems, unknown: Set<string>): SyncRow[] {
  const schema = rowSchemas[table.name];
  const valid: SyncRow[] = [];
  for (let j = 0; j < rows.length; j++) {
    const i = offset + j;
    const row = rows[j];
    const split = isRowObject(row) ? splitRow(table, row) : { known: row, aliased: false, extra: undefined };
    const badName = split.extra && unkeepableColumn(split.extra);
    if (badName !== undefined) problems.add({ code: "custom", input: undefined, path: ["tables", table.name, "rows", i, badName], message: `column name ${quote(badName)} cannot be kept: ${COLUMN_NAME_RULE}` });
    const parsed = schema.safeParse(split.known);
    const keyName = split.aliased ? KEY_ALIAS : table.key;
    if (!parsed.success || badName !== undefined) {
      if (parsed.success) continue;
      // Past the kept ones, a problem is only counted: no path is built for it.
      if (problems.count >= MAX_PROBLEMS) problems.count += parsed.error.issues.length;
      else {
        for (const issue of parsed.error.issues) {
          const path = split.aliased && issue.path[0] === table.key ? [KEY_ALIAS, ...issue.path.slice(1)] : issue.path;
          problems.add({ ...issue, path: ["tables", table.name, "rows", i, ...path] });
        }
      }
      continue;
    }
    const key = parsed.data[table.key];
    const first = seen.get(key);
    if (first !== undefined) {
      problems.add({ code: "custom", input: key, path: ["tables", table.name, "rows", i, keyName], message: `duplicate ${table.key} ${JSON.stringify(key)} (also row ${first})` });
      continue;
    }
    seen.set(key, i);
    if (split.extra) for (const name in split.extra) unknown.add(name);
    parsed.data[EXTRA_COLUMN] = split.extra ? JSON.stringify(split.extra) : null;
    valid.push(parsed.data);
  }
  return valid;
}

const lastSyncedId = z.union([z.number(), z.string()]).nullish().openapi({ description: "The Pi's mark before this batch; informational" });

/** What the OpenAPI document shows for a table: its full row shape, open to columns the server keeps in `extra`. */
function documentedTable(t: MirroredTable) {
  const row = rowSchemas[t.name].catchall(z.unknown().openapi({ description: "A column the server does not know: kept in the row's extra JSON" }));
  const key = t.key === KEY_ALIAS ? `the Pi's ${t.key}` : `the Pi's ${t.key}, or ${KEY_ALIAS} as the Python client renames it`;
  return z.object({ lastSyncedId, rows: z.array(row).openapi({ description: `Rows keyed by ${key}, each key once` }) }).openapi(`SyncTable_${t.name}`);
}

/** A row of a table the server does not know, ready for unmapped_rows: its key as text and the whole row as JSON. */
export type UnmappedRow = { sourceId: string; data: string };

/**
 * Validates one slice of the rows of a table the server does not know, the
 * first of them at index `offset`: each must be an object whose `key` column
 * holds an integer or a well-formed text of 1 to 64 characters, once per
 * request. Nothing else about it is checked; it is kept as sent.
 */
export function validateUnmappedRows(table: string, key: string, rows: unknown[], offset: number, seen: Map<string, number>, problems: Problems): UnmappedRow[] {
  const valid: UnmappedRow[] = [];
  for (let j = 0; j < rows.length; j++) {
    const i = offset + j;
    const row = rows[j];
    const problem = (message: string, path: (string | number)[] = []) => problems.add({ code: "custom", input: row, path: ["tables", table, "rows", i, ...path], message });
    if (!isRowObject(row)) {
      problem(`expected a row object, got ${describe(row)}`);
      continue;
    }
    const id = row[key];
    const text = Number.isSafeInteger(id) ? String(id) : typeof id === "string" && id.length >= 1 && id.length <= TEXT_KEY_LENGTH && wellFormed[0](id) ? id : undefined;
    if (text === undefined) {
      problem(`expected the key ${key}: an integer or a well-formed text of 1 to ${TEXT_KEY_LENGTH} characters, got ${id === undefined ? "nothing" : describe(id)}`, [key]);
      continue;
    }
    const first = seen.get(text);
    if (first !== undefined) {
      problem(`duplicate ${key} ${JSON.stringify(id)} (also row ${first})`, [key]);
      continue;
    }
    seen.set(text, i);
    valid.push({ sourceId: text, data: JSON.stringify(row) });
  }
  return valid;
}

/** The envelope of a table the server does not know; its rows are kept in unmapped_rows. */
export const unmappedTable = z
  .object({
    lastSyncedId,
    key: z
      .string()
      .min(1)
      .max(64)
      .optional()
      .openapi({ description: `The rows' key column (default ${KEY_ALIAS})` }),
    rows: z.array(z.unknown(), { error: "expected an array of rows" }).openapi({ description: "Rows as the Pi has them, each key once" }),
  })
  .openapi("SyncUnmappedTable", { description: "A table the server does not know yet: its rows are kept as JSON in unmapped_rows" });

/**
 * What the route validates up front: the table's envelope. Its rows are
 * checked by validateRows while the batch is written (lib/sync/write-batch.ts), so
 * checking one slice overlaps the database writing the one before.
 */
const envelopeTable = z.object({ lastSyncedId, rows: z.array(z.unknown(), { error: "expected an array of rows" }) });

export const documentedTables = Object.fromEntries(TABLES.map((t) => [t.name, documentedTable(t)])) as Record<TableName, ReturnType<typeof documentedTable>>;
export const envelopeTables = Object.fromEntries(TABLES.map((t) => [t.name, envelopeTable])) as Record<TableName, typeof envelopeTable>;
