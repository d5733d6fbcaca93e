/**
 * The agent's side of the wire: the gzip POST /api/v1/sync, the streamed
 * multipart POST /api/v1/backup and GET /api/v1/sync/state (for restore),
 * with timeouts and bounded retries, the cheap GET /api/v1/ping probe, and
 * POST /api/v1/analyze (one attempt, for `analyze`).
 * It classifies every answer; deciding what a rejected chunk means is
 * sync.ts's job.
 *
 * Retried (exponential backoff with jitter, a budget per run): network
 * errors, timeouts, 5xx and 429, never sooner than a Retry-After says. Not
 * retried: 401/403 (AuthError), 404 (NotFound: a wrong base URL or an older
 * server), other 4xx
 * (ServerRefused), except a sync's 400, 413 and 422: answers about the
 * chunk's content, which the caller acts on, and a sync's 409 with
 * conflicts (DatabaseConflict): the server holds another database's rows
 * under this device id.
 */
import type { Problem } from "../lib/http/errors.ts";
import { closeSync, openSync, readSync } from "node:fs";
import { TABLES, type TableName } from "../lib/tables.ts";
import type { Item } from "./delta.ts";
import { collectGarbage, gzip } from "./native.ts";
import { sleep, Stopped, type Shutdown } from "./shutdown.ts";

/** One problem of a 422, as the server reports it. */
export type { Problem };
type Counts = { inserted: number; updated: number; errors: number; unknownColumns?: string[] };

export type SyncAnswer =
  | { kind: "ok"; tables: Record<string, Counts> }
  | { kind: "too-large"; detail: string }
  | { kind: "malformed"; detail: string }
  | { kind: "invalid"; detail: string; problems: Problem[] };

/** The key was refused (401) or may not act for this device (403). Stops the run. */
export class AuthError extends Error {}
/** The server answered with a 4xx that retrying cannot fix (400, 404, 409, 415, …). */
export class ServerRefused extends Error {}
/**
 * A sync's 409 with conflicts: the server already holds rows under this
 * device id, with the same keys, that came from another database. Nothing of
 * the chunk was stored; retrying sends the same conflict.
 */
export class DatabaseConflict extends ServerRefused {
  constructor(
    readonly detail: string,
    /** Up to 5: table, id (the Pi's key), stored and sent identity values. */
    readonly conflicts: unknown[],
  ) {
    super(detail);
  }
}
/** The server stayed unreachable or failing through the run's retry budget. */
export class Unreachable extends Error {}
/** The server answered 404 to `url`: the base URL is wrong, or the server is older than the agent. Stops the run. */
export class NotFound extends Error {
  constructor(
    readonly method: string,
    readonly url: string,
  ) {
    super(`the server answered 404 Not Found to ${method} ${url}`);
  }
}

/** A backup file to upload; its text fields go before it in the form, so the server checks them before storing a byte. */
export type Upload = { path: string; name: string; type: "database" | "logs"; deviceId: string; sha256: string; size: number };

/** What POST /api/v1/backup answered with 200: the name the server stored the file under, and its own digest of it. */
export type StoredBackup = { filename: string; storedAt: string; sizeBytes: number; sha256: string };

/** What GET /api/v1/sync/state answered: per integer-keyed table the highest Pi id the server holds for the device (null: none), and its drive counter. */
export type ServerState = { tables: Partial<Record<TableName, number | null>>; lastDriveId: number | null };

/** A retry about to wait: the failure, which retry of the run's budget it is, and the wait. */
export type RetryNotice = { reason: string; attempt: number; of: number; waitMs: number };

export type TransportOptions = {
  serverUrl: string;
  apiKey: string;
  requestTimeoutMs: number;
  retries: number;
  retryBaseMs: number;
  shutdown: Shutdown;
  /** Called before each retry's wait (a manual command on a terminal shows it). */
  onRetry?: (retry: RetryNotice) => void;
};

const RETRY_CAP_MS = 60_000;

const COMMA = Buffer.from(",");

/**
 * The request body for one table's chunk, as UTF-8. The rows' JSON bytes are
 * spliced in as SQLite wrote them. `key` names the key column of a table the
 * server does not know, when it is not `id`.
 */
export function syncBody(a: { deviceId: string; batchId: string; table: string; key?: string; lastSyncedId?: number; items: Item[]; lastDriveId?: number }): Uint8Array {
  const mark = a.lastSyncedId === undefined ? "" : `"lastSyncedId":${a.lastSyncedId},`;
  const key = a.key === undefined ? "" : `"key":${JSON.stringify(a.key)},`;
  const drive = a.lastDriveId === undefined ? "" : `,"driveCounter":{"lastDriveId":${a.lastDriveId}}`;
  const parts: Uint8Array[] = [Buffer.from(`{"deviceId":${JSON.stringify(a.deviceId)},"batchId":${JSON.stringify(a.batchId)},"tables":{${JSON.stringify(a.table)}:{${mark}${key}"rows":[`)];
  a.items.forEach((item, i) => (i ? parts.push(COMMA, item.json) : parts.push(item.json)));
  parts.push(Buffer.from(`]}}${drive}}`));
  return Buffer.concat(parts);
}

type Exchanged = { res: Response; body: Record<string, unknown>; detail: string };

/** A failure worth retrying: why, and how long the server asked to be left alone (Retry-After), if it did. */
class Retry {
  constructor(
    readonly why: string,
    readonly afterMs = 0,
  ) {}
}

/** A Retry-After header (seconds, or an HTTP date) in milliseconds; 0 when absent or unreadable. */
function retryAfterMs(res: Response, now = Date.now()): number {
  const value = res.headers.get("retry-after")?.trim();
  if (!value) return 0;
  const ms = /^\d+$/.test(value) ? Number(value) * 1000 : Date.parse(value) - now;
  return Number.isFinite(ms) ? Math.max(0, Math.min(RETRY_CAP_MS, ms)) : 0;
}

/** Why a request got no answer, in the kinds a person acts on differently. */
type FailureKind = "refused" | "no-such-host" | "timeout" | "network";

const CODES: Record<string, FailureKind> = {
  ECONNREFUSED: "refused",
  ConnectionRefused: "refused",
  ENOTFOUND: "no-such-host",
  EAI_AGAIN: "no-such-host",
  EAI_NONAME: "no-such-host",
  DNSException: "no-such-host",
};

const errorCode = (err: unknown): string | undefined => {
  const e = err as { code?: string; cause?: { code?: string } };
  return e?.cause?.code ?? e?.code;
};

function failureKind(err: unknown): FailureKind {
  if ((err as { name?: string })?.name === "TimeoutError") return "timeout";
  return CODES[errorCode(err) ?? ""] ?? "network";
}

const KIND_TEXT: Record<Exclude<FailureKind, "network">, string> = { refused: "connection refused", "no-such-host": "no such host", timeout: "timed out" };

const describeError = (err: unknown): string => {
  const kind = failureKind(err);
  if (kind !== "network") return KIND_TEXT[kind];
  if (errorCode(err) === "ECONNRESET") return "connection reset";
  return errorCode(err) ?? (err as Error)?.message ?? String(err);
};

/** Why GET /api/v1/ping did not answer OBD2-Server's {"status":"ok"}: no answer (with its kind), or another answer. */
export type PingFailure = { kind: FailureKind; message: string } | { kind: "answer"; status: number; message: string };

/** True when GET /api/v1/ping answers {"status":"ok"} within `timeoutMs`; otherwise why not. */
export async function pingServer(serverUrl: string, timeoutMs: number, stop: AbortSignal): Promise<true | PingFailure> {
  try {
    const res = await fetch(`${serverUrl}/api/v1/ping`, { signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), stop]) });
    const body = await readJson(res);
    if (res.status === 200 && body.status === "ok") return true;
    return { kind: "answer", status: res.status, message: `GET ${serverUrl}/api/v1/ping answered ${res.status}, not OBD2-Server's {"status":"ok"}` };
  } catch (err) {
    if (stop.aborted) throw new Stopped("stopped");
    return { kind: failureKind(err), message: describeError(err) };
  }
}

async function readJson(res: Response): Promise<Record<string, unknown>> {
  const text = await res.text();
  try {
    const v = JSON.parse(text);
    return typeof v === "object" && v !== null ? v : {};
  } catch {
    return { detail: text.slice(0, 200) };
  }
}

export class SyncClient {
  /** Retries used so far in this run (the budget is o.retries). */
  private retried = 0;

  constructor(private readonly o: TransportOptions) {}

  /** POSTs one body, retrying transient failures within the run's budget. */
  sync(body: Uint8Array): Promise<SyncAnswer> {
    const gz = gzip(body);
    return this.retrying(() => this.attempt(gz));
  }

  /** Uploads one backup file, streamed from disk, retrying transient failures within the run's budget. */
  upload(file: Upload): Promise<StoredBackup> {
    return this.retrying(() => this.attemptUpload(file));
  }

  /** What the server holds for `deviceId`, retrying transient failures within the run's budget. */
  syncState(deviceId: string): Promise<ServerState> {
    return this.retrying(() => this.attemptState(deviceId));
  }

  /** Runs `attempt` until it gives an answer; a Retry from it is a reason to try again. */
  private async retrying<T>(attempt: () => Promise<T | Retry>): Promise<T> {
    for (let n = 0; ; n++) {
      const failure = await attempt();
      if (!(failure instanceof Retry)) return failure;
      if (this.retried >= this.o.retries) throw new Unreachable(`${failure.why}; gave up after ${this.retried} ${this.retried === 1 ? "retry" : "retries"}`);
      this.retried++;
      const backoff = Math.min(RETRY_CAP_MS, this.o.retryBaseMs * 2 ** n);
      // A busy server's Retry-After is a floor: coming back sooner only earns another 429.
      const waitMs = Math.max(failure.afterMs, backoff / 2 + Math.random() * (backoff / 2));
      this.o.onRetry?.({ reason: failure.why, attempt: this.retried, of: this.o.retries, waitMs });
      await sleep(waitMs, this.o.shutdown.stop);
    }
  }

  /**
   * POST /api/v1/analyze once, without retries: an analysis takes minutes of
   * the server's model, and its 502/503/504 carry findings worth showing.
   * Returns any answer but 401/403 (AuthError) and 404 (NotFound); no answer is Unreachable.
   */
  async analyze(payload: unknown, signal: AbortSignal): Promise<{ status: number; body: Record<string, unknown> }> {
    const init = { headers: { "content-type": "application/json", "x-api-key": this.o.apiKey }, body: JSON.stringify(payload) };
    const answer = await this.exchange("POST", "/api/v1/analyze", init, signal);
    if (answer instanceof Retry) throw new Unreachable(answer.why);
    return { status: answer.res.status, body: answer.body };
  }

  /** One request: the answer and its JSON with the statuses every request shares handled, or a Retry saying why it is worth trying again. */
  private async request(method: "GET" | "POST", path: string, init: RequestInit, signal: AbortSignal): Promise<Exchanged | Retry> {
    const answer = await this.exchange(method, path, init, signal);
    if (answer instanceof Retry) return answer;
    const { res, detail } = answer;
    if (res.status === 429 || res.status >= 500) return new Retry(`${method} ${path.split("?")[0]} answered ${res.status} (${detail})`, retryAfterMs(res));
    return answer;
  }

  /** One request and its JSON, 401/403 thrown as AuthError; a Retry when no answer came. */
  private async exchange(method: "GET" | "POST", path: string, init: RequestInit, signal: AbortSignal): Promise<Exchanged | Retry> {
    if (this.o.shutdown.stop.aborted) throw new Stopped("stopped");
    let res: Response;
    let body: Record<string, unknown>;
    try {
      res = await fetch(`${this.o.serverUrl}${path}`, { method, ...init, signal: AbortSignal.any([signal, this.o.shutdown.abort]) });
      body = await readJson(res);
    } catch (err) {
      if (this.o.shutdown.abort.aborted) throw new Stopped("stopped");
      return new Retry(`${method} ${path.split("?")[0]} failed: ${describeError(err)}`);
    }
    const detail = typeof body.detail === "string" ? body.detail : `HTTP ${res.status}`;
    if (res.status === 401 || res.status === 403) throw new AuthError(`the server refused the API key (${res.status} ${detail})`);
    if (res.status === 404) throw new NotFound(method, `${this.o.serverUrl}${path}`);
    return { res, body, detail };
  }

  /** One GET of the device's state: its answer, checked, or a Retry. */
  private async attemptState(deviceId: string): Promise<ServerState | Retry> {
    const path = `/api/v1/sync/state?deviceId=${encodeURIComponent(deviceId)}`;
    const answer = await this.request("GET", path, { headers: { "x-api-key": this.o.apiKey } }, AbortSignal.timeout(this.o.requestTimeoutMs));
    if (answer instanceof Retry) return answer;
    const { res, body, detail } = answer;
    if (res.status !== 200) throw new ServerRefused(`GET /api/v1/sync/state answered ${res.status} (${detail})`);
    const id = (v: unknown) => v === null || (typeof v === "number" && Number.isSafeInteger(v));
    const reported = (typeof body.tables === "object" && body.tables !== null ? body.tables : {}) as Record<string, { maxSourceId?: unknown } | null>;
    const tables: ServerState["tables"] = {};
    for (const t of TABLES.filter((t) => t.keyType === "int")) {
      const max = reported[t.name]?.maxSourceId;
      if (!id(max)) throw new ServerRefused(`GET /api/v1/sync/state answered 200 without tables.${t.name}.maxSourceId (${JSON.stringify(body).slice(0, 200)})`);
      tables[t.name] = max as number | null;
    }
    if (body.deviceId !== deviceId || !id(body.lastDriveId)) throw new ServerRefused(`GET /api/v1/sync/state answered 200 without this device's state (${JSON.stringify(body).slice(0, 200)})`);
    return { tables, lastDriveId: body.lastDriveId as number | null };
  }

  /** One POST of a sync body: an answer, or a Retry. */
  private async attempt(gz: Uint8Array<ArrayBuffer>): Promise<SyncAnswer | Retry> {
    const answer = await this.request(
      "POST",
      "/api/v1/sync",
      { headers: { "content-type": "application/json", "content-encoding": "gzip", "x-api-key": this.o.apiKey }, body: gz },
      AbortSignal.timeout(this.o.requestTimeoutMs),
    );
    if (answer instanceof Retry) return answer;
    const { res, body, detail } = answer;
    if (res.status === 200) {
      const tables = body.tablesProcessed;
      return { kind: "ok", tables: typeof tables === "object" && tables !== null ? (tables as Record<string, Counts>) : {} };
    }
    if (res.status === 413) return { kind: "too-large", detail };
    if (res.status === 400) return { kind: "malformed", detail };
    if (res.status === 422) return { kind: "invalid", detail, problems: Array.isArray(body.errors) ? (body.errors as Problem[]) : [] };
    if (res.status === 409 && Array.isArray(body.conflicts)) throw new DatabaseConflict(detail, body.conflicts);
    throw new ServerRefused(`POST /api/v1/sync answered ${res.status} (${detail})`);
  }

  /**
   * One upload. A large file on a slow link may take longer than the request
   * timeout, so the timeout is for a stall: no piece of the file taken by the
   * socket, or no answer after the last one, for that long.
   */
  private async attemptUpload(file: Upload): Promise<StoredBackup | Retry> {
    const stalled = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const progress = () => {
      clearTimeout(timer);
      timer = setTimeout(() => stalled.abort(new DOMException("no progress", "TimeoutError")), this.o.requestTimeoutMs);
    };
    progress();
    const form = multipartBody(file, progress);
    try {
      const answer = await this.request(
        "POST",
        "/api/v1/backup",
        // duplex: Node's fetch needs it for a streamed body; Bun ignores it.
        { headers: { "content-type": form.contentType, "content-length": String(form.length), "x-api-key": this.o.apiKey }, body: form.stream, duplex: "half" } as RequestInit,
        stalled.signal,
      );
      if (answer instanceof Retry) return answer;
      const { res, body, detail } = answer;
      if (res.status !== 200) throw new ServerRefused(`POST /api/v1/backup answered ${res.status} (${detail})`);
      if (typeof body.filename !== "string" || body.sha256 !== file.sha256) {
        throw new ServerRefused(`POST /api/v1/backup answered 200 without storing ${file.name} as sent (${JSON.stringify(body).slice(0, 200)})`);
      }
      return { filename: body.filename, storedAt: String(body.storedAt), sizeBytes: Number(body.sizeBytes), sha256: body.sha256 };
    } finally {
      clearTimeout(timer);
      form.close();
    }
  }
}

/** How much of a file the agent holds at once when it copies, gzips or uploads one. */
export const FILE_PIECE_BYTES = 256 * 1024;

/** Quoted for a Content-Disposition parameter (the server's reader takes backslash escapes). */
const quoted = (s: string) => `"${s.replace(/[\r\n]/g, "").replace(/["\\]/g, "\\$&")}"`;

/**
 * A multipart/form-data body of `file` with its fields first. The file is
 * read from disk a piece at a time as the socket takes it, calling `onPiece`
 * for each; its length is exact, so the server can refuse an oversized file
 * from the Content-Length alone.
 */
function multipartBody(file: Upload, onPiece: () => void) {
  const boundary = `obd2-sync-${crypto.randomUUID()}`;
  const part = (disposition: string) => `--${boundary}\r\nContent-Disposition: form-data; ${disposition}\r\n`;
  const fields = { type: file.type, deviceId: file.deviceId, sha256: file.sha256 };
  const head = Buffer.from(
    Object.entries(fields)
      .map(([name, value]) => `${part(`name="${name}"`)}\r\n${value}\r\n`)
      .join("") + `${part(`name="file"; filename=${quoted(file.name)}`)}Content-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  let fd: number | undefined;
  let left = file.size;
  let pieces = 0;
  const close = () => {
    if (fd !== undefined) closeSync(fd);
    fd = undefined;
  };
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(head);
    },
    pull(controller) {
      onPiece();
      fd ??= openSync(file.path, "r");
      const piece = new Uint8Array(Math.min(FILE_PIECE_BYTES, left));
      const n = left > 0 ? readSync(fd, piece) : 0;
      if (left > 0 && n === 0) throw new Error(`${file.path} is shorter than the ${file.size} bytes announced`);
      left -= n;
      // Pieces the socket has sent are garbage: collect them now and then, or Bun's lazy collector lets them pile up.
      if (++pieces % 4 === 0) collectGarbage();
      if (n > 0) return controller.enqueue(piece.subarray(0, n));
      close();
      controller.enqueue(tail);
      controller.close();
    },
    cancel: close,
  });
  return { stream, length: head.length + file.size + tail.length, contentType: `multipart/form-data; boundary=${boundary}`, close };
}
