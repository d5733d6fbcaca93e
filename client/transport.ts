/**
 * The agent's side of the wire: the gzip POST /api/v1/sync with timeouts and
 * bounded retries, and the cheap GET /api/v1/ping probe. It classifies every
 * answer; deciding what a rejected chunk means is sync.ts's job.
 *
 * Retried (exponential backoff with jitter, a budget per run): network
 * errors, timeouts, 5xx and 429. Not retried: 401/403 (AuthError), other 4xx
 * (ServerRefused), except 400, 413 and 422: answers about the chunk's
 * content, which the caller acts on.
 */
import type { TableName } from "../lib/tables.ts";
import type { Item } from "./delta.ts";
import { gzip } from "./native.ts";
import { sleep, Stopped, type Shutdown } from "./shutdown.ts";

export type Problem = { path: string; message: string; table?: string; row?: number; column?: string };
export type Counts = { inserted: number; updated: number; errors: number };

export type SyncAnswer =
  | { kind: "ok"; tables: Record<string, Counts> }
  | { kind: "too-large"; detail: string }
  | { kind: "malformed"; detail: string }
  | { kind: "invalid"; detail: string; problems: Problem[] };

/** The key was refused (401) or may not act for this device (403). Stops the run. */
export class AuthError extends Error {}
/** The server answered with a 4xx that retrying cannot fix (400, 404, 409, 415, …). */
export class ServerRefused extends Error {}
/** The server stayed unreachable or failing through the run's retry budget. */
export class Unreachable extends Error {}

export type TransportOptions = {
  serverUrl: string;
  apiKey: string;
  requestTimeoutMs: number;
  retries: number;
  retryBaseMs: number;
  shutdown: Shutdown;
};

const RETRY_CAP_MS = 60_000;

const COMMA = Buffer.from(",");

/** The request body for one table's chunk, as UTF-8. The rows' JSON bytes are spliced in as SQLite wrote them. */
export function syncBody(a: { deviceId: string; batchId: string; table: TableName; lastSyncedId?: number; items: Item[]; lastDriveId?: number }): Uint8Array {
  const mark = a.lastSyncedId === undefined ? "" : `"lastSyncedId":${a.lastSyncedId},`;
  const drive = a.lastDriveId === undefined ? "" : `,"driveCounter":{"lastDriveId":${a.lastDriveId}}`;
  const parts: Uint8Array[] = [Buffer.from(`{"deviceId":${JSON.stringify(a.deviceId)},"batchId":${JSON.stringify(a.batchId)},"tables":{"${a.table}":{${mark}"rows":[`)];
  a.items.forEach((item, i) => (i ? parts.push(COMMA, item.json) : parts.push(item.json)));
  parts.push(Buffer.from(`]}}${drive}}`));
  return Buffer.concat(parts);
}

const describeError = (err: unknown): string => {
  const e = err as { name?: string; code?: string; message?: string; cause?: { code?: string } };
  if (e.name === "TimeoutError") return "timed out";
  return e.cause?.code ?? e.code ?? e.message ?? String(err);
};

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

  /** True when GET /api/v1/ping answers {"status":"ok"} within `timeoutMs`; otherwise why not. */
  async ping(timeoutMs: number): Promise<true | string> {
    try {
      const res = await fetch(`${this.o.serverUrl}/api/v1/ping`, { signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), this.o.shutdown.stop]) });
      const body = await readJson(res);
      return res.status === 200 && body.status === "ok" ? true : `GET /api/v1/ping answered ${res.status}, not OBD2-Server's {"status":"ok"}`;
    } catch (err) {
      return describeError(err);
    }
  }

  /** POSTs one body, retrying transient failures within the run's budget. */
  async sync(body: Uint8Array): Promise<SyncAnswer> {
    const gz = gzip(body);
    for (let attempt = 0; ; attempt++) {
      const failure = await this.attempt(gz);
      if (typeof failure !== "string") return failure;
      if (this.retried >= this.o.retries) throw new Unreachable(`${failure}; gave up after ${this.retried} ${this.retried === 1 ? "retry" : "retries"}`);
      this.retried++;
      const backoff = Math.min(RETRY_CAP_MS, this.o.retryBaseMs * 2 ** attempt);
      await sleep(backoff / 2 + Math.random() * (backoff / 2), this.o.shutdown.stop);
    }
  }

  /** One POST: an answer, or a string saying why it is worth retrying. */
  private async attempt(gz: Uint8Array<ArrayBuffer>): Promise<SyncAnswer | string> {
    if (this.o.shutdown.stop.aborted) throw new Stopped("stopped");
    let res: Response;
    let body: Record<string, unknown>;
    try {
      res = await fetch(`${this.o.serverUrl}/api/v1/sync`, {
        method: "POST",
        headers: { "content-type": "application/json", "content-encoding": "gzip", "x-api-key": this.o.apiKey },
        body: gz,
        signal: AbortSignal.any([AbortSignal.timeout(this.o.requestTimeoutMs), this.o.shutdown.abort]),
      });
      body = await readJson(res);
    } catch (err) {
      if (this.o.shutdown.abort.aborted) throw new Stopped("stopped");
      return `POST /api/v1/sync failed: ${describeError(err)}`;
    }
    const detail = typeof body.detail === "string" ? body.detail : `HTTP ${res.status}`;
    if (res.status === 200) {
      const tables = body.tablesProcessed;
      return { kind: "ok", tables: typeof tables === "object" && tables !== null ? (tables as Record<string, Counts>) : {} };
    }
    if (res.status === 401 || res.status === 403) throw new AuthError(`the server refused the API key (${res.status} ${detail})`);
    if (res.status === 413) return { kind: "too-large", detail };
    if (res.status === 400) return { kind: "malformed", detail };
    if (res.status === 422) return { kind: "invalid", detail, problems: Array.isArray(body.errors) ? (body.errors as Problem[]) : [] };
    if (res.status === 429 || res.status >= 500) return `POST /api/v1/sync answered ${res.status} (${detail})`;
    throw new ServerRefused(`POST /api/v1/sync answered ${res.status} (${detail})`);
  }
}
