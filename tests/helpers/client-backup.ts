/**
 * For the backup tests: a real HTTP server on loopback that answers POST
 * /api/v1/backup as told (500, 413, 401, a hang) and records what it
 * received, read with the server's own multipart reader; the rows of a
 * SQLite file, to compare a restored database with its source; and the
 * daemon's JSON log lines as they arrive.
 */
import { createHash } from "node:crypto";
import { multipartBoundary, readMultipart } from "../../lib/http/multipart.ts";
import { openDb } from "../../client/sqlite.ts";

export const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** One upload as the stub received it: its text fields, the order of all parts, and the file. */
export type BackupRequest = { fields: Record<string, string>; order: string[]; filename?: string; bytes: Buffer };

/** "ok" answers 200 the way the real server does; "hang" never answers. */
export type BackupReply = "ok" | "hang" | { status: number; body?: unknown };

export type BackupStub = { url: string; requests: BackupRequest[]; stop(): Promise<void> };

/** GET /api/v1/ping answers {"status":"ok"}; anything but a backup upload answers 404. */
export async function startBackupStub(answer: (req: BackupRequest, index: number) => BackupReply | Promise<BackupReply>): Promise<BackupStub> {
  const requests: BackupRequest[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      const path = new URL(req.url).pathname;
      if (path === "/api/v1/ping") return Response.json({ status: "ok" });
      if (req.method !== "POST" || path !== "/api/v1/backup" || !req.body) return Response.json({ detail: "Not Found" }, { status: 404 });
      const received: BackupRequest = { fields: {}, order: [], bytes: Buffer.alloc(0) };
      for await (const part of readMultipart(req.body, multipartBoundary(req.headers.get("content-type") ?? undefined)!)) {
        const bytes = Buffer.concat(await Array.fromAsync(part.body));
        received.order.push(part.name);
        if (part.filename === undefined) received.fields[part.name] = bytes.toString("utf8");
        else Object.assign(received, { filename: part.filename, bytes });
      }
      const index = requests.push(received) - 1;
      const reply = await answer(received, index);
      if (reply === "hang") return new Promise<Response>(() => {});
      if (reply === "ok") {
        const stored = { filename: `stored-${index}.gz`, storedAt: new Date().toISOString(), sizeBytes: received.bytes.length, sha256: sha256(received.bytes) };
        return Response.json({ status: "ok", ...stored });
      }
      return Response.json(reply.body ?? { detail: `HTTP ${reply.status}` }, { status: reply.status });
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, requests, stop: () => server.stop(true) };
}

/** Every row of every table of a SQLite file except `except`, each table's rows in a fixed order. */
export function allRows(path: string, except: string[] = []): Record<string, string[]> {
  const db = openDb(path);
  try {
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .all()
      .map((r) => String(r.name))
      .filter((name) => !except.includes(name));
    // VACUUM may renumber the rowids of tables without an INTEGER PRIMARY KEY: compare contents, not order.
    return Object.fromEntries(tables.map((t) => [t, db.prepare(`SELECT * FROM "${t}"`).all().map((row) => JSON.stringify(row)).sort()]));
  } finally {
    db.close();
  }
}

/** Reads a daemon's stdout as JSON lines, for waiting on what it logs. */
export function logLines(stream: ReadableStream<Uint8Array>) {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  const lines: Record<string, any>[] = [];
  let partial = "";
  let ended = false;
  const more = async () => {
    const r = await reader.read();
    if (r.done) return void (ended = true);
    const text = partial + decoder.decode(r.value, { stream: true });
    const complete = text.split("\n");
    partial = complete.pop()!;
    lines.push(...complete.filter(Boolean).map((l) => JSON.parse(l)));
  };
  return {
    lines,
    /** Reads until `done(lines)` holds; throws if the output ends first. */
    async until(done: (lines: Record<string, any>[]) => boolean, what: string) {
      while (!done(lines)) {
        if (ended) throw new Error(`the daemon's output ended before ${what}: ${JSON.stringify(lines)}`);
        await more();
      }
    },
    /** Reads to the end of the output. */
    async rest() {
      while (!ended) await more();
      return lines;
    },
  };
}
