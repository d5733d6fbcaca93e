/**
 * A real HTTP server on loopback that answers POST /api/v1/sync the way the
 * contract says the server may, for failure injection the real server cannot
 * be made to produce on demand: 500s, 429, hangs (timeouts), dropped
 * connections, 401, 413, 422 naming rows, receipts that do not add up.
 * GET /api/v1/ping answers {"status":"ok"}.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";

export type StubRequest = { batchId: string; table: string; rows: Record<string, unknown>[]; body: any; headers: IncomingMessage["headers"]; at: number };

/** "ok" answers with a receipt counting every row as inserted. */
export type Reply = "ok" | "hang" | "drop" | { status: number; body?: unknown; headers?: Record<string, string> };

export type Stub = { url: string; requests: StubRequest[]; stop(): Promise<void> };

/** `answer` may return a promise, to hold a request until the test lets it go. */
export async function startStub(answer: (req: StubRequest, index: number) => Reply | Promise<Reply>): Promise<Stub> {
  const requests: StubRequest[] = [];
  const respond = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(JSON.stringify(body));
  };
  const server = createServer((req, res) => {
    if (req.method === "GET" && req.url === "/api/v1/ping") return respond(res, 200, { status: "ok" });
    // The agent's status report after a push: taken, not recorded (tests count the syncs).
    if (req.method === "POST" && /^\/api\/v1\/devices\/[^/]+\/status$/.test(req.url ?? "")) return void req.resume().on("end", () => respond(res, 200, {}));
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      const raw = Buffer.concat(chunks);
      const body = JSON.parse((req.headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw).toString("utf8"));
      const table = Object.keys(body.tables)[0]!;
      const request: StubRequest = { batchId: body.batchId, table, rows: body.tables[table].rows, body, headers: req.headers, at: Date.now() };
      const index = requests.push(request) - 1;
      const reply = await answer(request, index);
      if (reply === "hang") return;
      if (reply === "drop") return void req.socket.destroy();
      if (reply === "ok") {
        return respond(res, 200, {
          status: "ok",
          batchId: request.batchId,
          tablesProcessed: { [table]: { inserted: request.rows.length, updated: 0, errors: 0 } },
          syncedAt: new Date().toISOString(),
          driveDataReceived: false,
          autoAnalysisTriggered: false,
        });
      }
      respond(res, reply.status, reply.body ?? { detail: `HTTP ${reply.status}` }, reply.headers);
    });
  });
  await new Promise<void>((ready) => server.listen(0, "127.0.0.1", ready));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    async stop() {
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
    },
  };
}
