/**
 * A /sync body with its rows left as text until they are needed. JSON.parse
 * of a whole body materialises every row at once: 9.9 MB of 3.3 million
 * empty rows `{}` is ~280 MB of objects and a second of blocked event loop.
 * So one pass over the text (yielding to the event loop as it goes) finds
 * each `tables.<name>.rows` array and where every SLICE-th element of it
 * starts, without building anything; the rest of the body (the envelope,
 * with those arrays emptied) is parsed at once, and each table's rows are
 * parsed a slice at a time when lib/sync/write-batch.ts validates them.
 *
 * What a slice costs is bounded too: a row's values are numbers, strings,
 * null, or one level of object or array of those (a JSON column sent as a
 * value, a blob the agent sends as {"blobHex": …}), with MAX_ROW_KEYS values
 * in all, so a row nested deeper or holding more is refused by the pass
 * itself, named by its table and index, before anything is parsed. Memory is
 * then the text plus one slice of small rows, whatever the body holds.
 *
 * The pass follows JSON's structure (strings with their escapes, nesting) and
 * JSON.parse's meaning: keys are compared decoded, and of duplicate keys the
 * last wins. It checks no syntax itself: the envelope and every slice go
 * through JSON.parse, so a body that is not JSON is refused like any other.
 */
import { z } from "@hono/zod-openapi";
import { ApiError, validationError } from "../http/errors.ts";
import type { Issue } from "./row-schemas.ts";

/** A table's rows: how many, and those in [from, to) parsed anew on each call. An array is one too. */
export type Rows = { readonly length: number; slice(from: number, to: number): unknown[] };

const malformedJson = () => new ApiError(400, "Malformed JSON in request body");

/** Rows per slice: validation and writing go a slice at a time (lib/sync/write-batch.ts). */
export const SLICE_ROWS = 1000;
/** More values than any mirrored table has columns (a nested object's or array's count too); a row with more is refused unparsed. */
const MAX_ROW_KEYS = 64;
/** The envelope is ids, a few marks and the tables' names: a few hundred bytes. */
const MAX_ENVELOPE_BYTES = 64 * 1024;
/** Characters scanned between yields to the event loop (a few milliseconds' work). */
const YIELD_EVERY = 1 << 20;
/** Refused rows named one by one; the rest are counted. */
const NAMED_ROWS = 20;

const QUOTE = 34, BACKSLASH = 92, COMMA = 44, OPEN_OBJECT = 123, CLOSE_OBJECT = 125, OPEN_ARRAY = 91, CLOSE_ARRAY = 93;
const isSpace = (c: number) => c === 32 || c === 10 || c === 13 || c === 9;
const yieldNow = () => new Promise((resolve) => setImmediate(resolve));

/** A table's rows array, as positions in the text: `[` and `]`, and where elements 0, SLICE_ROWS, 2 × SLICE_ROWS … start. */
type Span = { table: string; open: number; close: number; length: number; starts: number[]; refused: Issue[]; refusedCount: number };

class TextRows implements Rows {
  constructor(
    private readonly text: string,
    private readonly span: Span,
  ) {}

  get length() {
    return this.span.length;
  }

  slice(from: number, to: number): unknown[] {
    to = Math.min(to, this.length);
    if (from >= to) return [];
    if (from % SLICE_ROWS !== 0 || (to < this.length && to % SLICE_ROWS !== 0)) {
      throw new Error(`rows are read in slices of ${SLICE_ROWS}, not [${from}, ${to})`);
    }
    const start = this.span.starts[from / SLICE_ROWS]!;
    // The element after the slice starts just past its comma; the last slice ends at the closing bracket.
    const end = to < this.length ? this.span.starts[to / SLICE_ROWS]! - 1 : this.span.close;
    let rows: unknown;
    try {
      rows = JSON.parse(`[${this.text.slice(start, end)}]`);
    } catch {
      throw malformedJson();
    }
    if (!Array.isArray(rows) || rows.length !== to - from) throw malformedJson();
    return rows;
  }
}

/** Index of the quote that closes the string opened at `at`, or -1. Inline, not indexOf: most strings here are short. */
function stringEnd(text: string, at: number): number {
  for (let i = at + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) return i;
    if (c === BACKSLASH) i++;
  }
  return -1;
}

function refuse(span: Span, row: number, message: string) {
  if (span.refusedCount++ < NAMED_ROWS) span.refused.push({ code: "custom", input: undefined, path: ["tables", span.table, "rows", row], message });
}

/** Where a scan of a rows array stands between two chunks of it. */
type RowsScan = {
  span: Span;
  /** 0: between rows; 1: inside a row; more: nested in a row. */
  depth: number;
  /** The next character at depth 0 that is not a space begins a row. */
  expectRow: boolean;
  row: number;
  keys: number;
  /** The row is already refused. */
  flagged: boolean;
};

/**
 * Scans [from, to) of a rows array: counts its rows, records where each slice
 * starts (just past the "[" or the comma before its first row), and refuses
 * rows that are not flat objects. Returns the index of the array's "]", or
 * where it stopped (at or past `to`). Synchronous and branch-light: it runs
 * over every byte of every row of every sync.
 */
function scanRowsChunk(text: string, from: number, to: number, s: RowsScan): { closed: boolean; at: number } {
  const span = s.span;
  // Locals in the loop, the state written back at the end: property access per byte costs.
  let { depth, expectRow, row, keys, flagged } = s;
  let closed = false;
  let i = from;
  for (; i < to; i++) {
    const c = text.charCodeAt(i);
    if (expectRow) {
      if (isSpace(c)) continue;
      if (c === CLOSE_ARRAY && span.length === 0) {
        closed = true;
        break;
      }
      expectRow = false;
      row = span.length++;
      keys = 0;
      flagged = c === OPEN_ARRAY;
      if (flagged) refuse(span, row, "expected a row object, got array");
    }
    if (c === QUOTE) {
      const end = stringEnd(text, i);
      if (end < 0) throw malformedJson();
      if (depth === 1 && keys === 0) keys = 1;
      i = end;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth === 3 && !flagged) {
        flagged = true;
        refuse(span, row, "a row's values must be numbers, strings, null, or one object or array of those, not nested deeper");
      }
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      if (depth === 0) {
        closed = true;
        break;
      }
      depth--;
    } else if (c === COMMA) {
      if (depth === 0) {
        expectRow = true;
        if (span.length % SLICE_ROWS === 0) span.starts.push(i + 1);
      } else if (depth <= 2 && ++keys > MAX_ROW_KEYS && !flagged) {
        flagged = true;
        refuse(span, row, `more than ${MAX_ROW_KEYS} values`);
      }
    }
  }
  Object.assign(s, { depth, expectRow, row, keys, flagged });
  // Not closed: a string may have run past `to`, and the next chunk starts after it.
  return { closed, at: i };
}

/** Scans the rows array whose "[" is at `at`, a chunk at a time with yields between; returns the index of its "]". */
async function scanRows(text: string, at: number, span: Span): Promise<number> {
  span.starts.push(at + 1);
  const scan: RowsScan = { span, depth: 0, expectRow: true, row: -1, keys: 0, flagged: false };
  for (let from = at + 1; from < text.length; ) {
    const { closed, at: stop } = scanRowsChunk(text, from, Math.min(from + YIELD_EVERY, text.length), scan);
    if (closed) return stop;
    from = stop;
    await yieldNow();
  }
  throw malformedJson();
}

/** What a container is to the scan: the body, its tables object, or one table. Others are only counted. */
type Role = "root" | "tables" | "table";
type Frame = { role: Role; key?: string; expectKey: boolean; table?: string };

export type SplitBody = {
  /** The body with every tables.<name>.rows emptied, parsed. */
  envelope: unknown;
  /** Each table's rows, by table name. */
  rows: Map<string, Rows>;
  /** Rows refused unparsed (not flat objects): the first 20, and how many in all. */
  refused: { issues: Issue[]; count: number };
};

/** Splits a /sync body (see the top of this file). Throws ApiError 400 when the text is not JSON, 422 when the envelope is too large. */
export async function splitSyncBody(text: string): Promise<SplitBody> {
  const spans = new Map<string, Span>();
  const cut: Span[] = [];
  const frames: Frame[] = [];
  // Containers below the ones with a role are only counted; a frame would cost memory per level.
  let others = 0;
  const pace = { next: YIELD_EVERY };

  for (let i = 0; i < text.length; i++) {
    if (i >= pace.next) {
      await yieldNow();
      pace.next = i + YIELD_EVERY;
    }
    const c = text.charCodeAt(i);
    if (isSpace(c)) continue;
    const frame = others > 0 ? undefined : frames[frames.length - 1];
    if (c === QUOTE) {
      const end = stringEnd(text, i);
      if (end < 0) throw malformedJson();
      if (frame?.expectKey) {
        const raw = text.slice(i, end + 1);
        let key: string;
        try {
          key = raw.includes("\\") ? JSON.parse(raw) : raw.slice(1, -1);
        } catch {
          throw malformedJson();
        }
        frame.key = key;
        frame.expectKey = false;
        // Of duplicate keys the last wins: forget what an earlier one brought.
        if (frame.role === "root" && key === "tables") spans.clear();
        if (frame.role === "tables") spans.delete(key);
        if (frame.role === "table" && key === "rows") spans.delete(frame.table!);
      }
      i = end;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      const object = c === OPEN_OBJECT;
      if (frame?.role === "table" && frame.key === "rows" && !object) {
        const span: Span = { table: frame.table!, open: i, close: -1, length: 0, starts: [], refused: [], refusedCount: 0 };
        span.close = i = await scanRows(text, i, span);
        pace.next = i + YIELD_EVERY;
        spans.set(span.table, span);
        cut.push(span);
        continue;
      }
      const role: Role | undefined = !object || others > 0 ? undefined
        : frames.length === 0 ? "root"
        : frame?.role === "root" && frame.key === "tables" ? "tables"
        : frame?.role === "tables" ? "table"
        : undefined;
      if (role) frames.push({ role, expectKey: true, ...(role === "table" ? { table: frame!.key } : {}) });
      else others++;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      if (others > 0) others--;
      else if (!frames.pop()) throw malformedJson();
    } else if (c === COMMA && frame) {
      frame.expectKey = true;
    }
  }
  if (frames.length > 0 || others > 0) throw malformedJson();

  // The envelope: the text with each rows array's contents cut out.
  let envelopeText = "";
  let from = 0;
  for (const span of cut) {
    envelopeText += text.slice(from, span.open + 1);
    from = span.close;
  }
  envelopeText += text.slice(from);
  if (envelopeText.length > MAX_ENVELOPE_BYTES) {
    const message = `the body outside tables.<table>.rows is ${envelopeText.length} bytes; at most ${MAX_ENVELOPE_BYTES}`;
    throw validationError(new z.ZodError([{ code: "custom", path: [], message, input: undefined }]));
  }
  let envelope: unknown;
  try {
    envelope = JSON.parse(envelopeText);
  } catch {
    throw malformedJson();
  }
  const rows = new Map<string, Rows>();
  const refused: SplitBody["refused"] = { issues: [], count: 0 };
  for (const [table, span] of spans) {
    rows.set(table, new TextRows(text, span));
    refused.issues.push(...span.refused.slice(0, NAMED_ROWS - refused.issues.length));
    refused.count += span.refusedCount;
  }
  return { envelope, rows, refused };
}
