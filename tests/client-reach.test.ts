/**
 * How the agent finds the server, as a new user meets it: manual commands
 * look at GET /api/v1/ping first and fail at once, naming the host, the port
 * and the kind of failure (refused, no such host, timeout); a base URL
 * copied with /api/v1 works; a 404 names the URL requested; retries show on
 * a terminal as they happen; and a push's last line says what really
 * reached the server.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { createServer, type Server, type Socket } from "node:net";
import { existsSync } from "node:fs";
import { freePort } from "../lib/db/mariadb-server.ts";
import { API_KEY } from "./helpers/app.ts";
import { marks, mirrorOf, piDatabase, runAgent, runAgentOnTerminal, sqliteCount, startServer, tempDir, writeConfig, type TempDir } from "./helpers/client-agent.ts";
import { startStub, type Reply, type Stub } from "./helpers/client-stub.ts";

const KEY = "reach-key-0123456789abcdef";
const DEVICE = "pi-reach";

let tmp: TempDir;
let db: string;
let stub: Stub | undefined;
beforeEach(() => {
  tmp = tempDir();
  db = tmp.path("obd.db");
  piDatabase(db);
});
afterEach(async () => {
  await stub?.stop();
  stub = undefined;
  tmp.remove();
});

const env = { COMPANION_API_KEY: KEY };
const agent = (args: string[]) => runAgent([...args, "--db", db, "--device-id", DEVICE], { cwd: tmp.dir, env });
/** What each manual command that talks to the server needs on top of --server. */
const MANUAL: [string, string[]][] = [
  ["push", ["push"]],
  ["backup", ["backup"]],
  ["analyze", ["analyze", "--last-drive"]],
];

/** A listener that accepts connections and never answers (a wedged server, or another program on the port). */
async function silentServer(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets: Socket[] = [];
  const server: Server = createServer((socket) => void sockets.push(socket));
  await new Promise<void>((ready) => server.listen(0, "127.0.0.1", ready));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((done) => (sockets.forEach((s) => s.destroy()), server.close(() => done()))) };
}

describe("manual commands look at the server first and fail at once", () => {
  // Six retries 30 s apart: without the first look, every case below would wait minutes and time out.
  beforeEach(() => writeConfig(tmp.dir, { retries: 6, retryBaseSeconds: 30, timeouts: { pingSeconds: 0.5 } }));

  for (const [name, args] of MANUAL) {
    test(`${name} to a closed port: connection refused, naming host and port; exit 1, nothing written`, async () => {
      const port = await freePort();
      const run = await agent([...args, "--server", `http://127.0.0.1:${port}`]);
      expect(run.stderr).toBe(
        `Error: cannot reach the server at 127.0.0.1:${port}: connection refused (nothing listens on port ${port})\n` +
          `Try: start OBD2-Server there (\`npm start\`), or fix the host and port in --server (or companionService.baseUrl); check with curl http://127.0.0.1:${port}/api/v1/ping\n`,
      );
      expect(run.code).toBe(1);
      expect(marks(db)).toEqual({});
      expect(existsSync(`${db}.sync-lock`)).toBe(false);
    });

    test(`${name} to a host name that does not resolve: no such host; exit 1`, async () => {
      const run = await agent([...args, "--server", "http://no-such-host.invalid:8000"]);
      expect(run.stderr).toBe(
        "Error: cannot reach the server at no-such-host.invalid:8000: no such host (the name no-such-host.invalid does not resolve)\n" +
          "Try: check the host name in --server (or companionService.baseUrl), or use the server's IP address\n",
      );
      expect(run.code).toBe(1);
    });
  }

  test("a server that accepts the connection but never answers: a timeout after the ping timeout; exit 1", async () => {
    const silent = await silentServer();
    try {
      const run = await agent(["push", "--server", silent.url]);
      const where = silent.url.slice("http://".length);
      expect(run.stderr).toBe(
        `Error: the server at ${where} did not answer GET /api/v1/ping within 0.5 s (timeout)\n` +
          `Try: check that OBD2-Server runs at ${where} and is not overloaded: curl ${silent.url}/api/v1/ping (the wait is companionService.timeouts.pingSeconds)\n`,
      );
      expect(run.code).toBe(1);
      expect(marks(db)).toEqual({});
    } finally {
      await silent.close();
    }
  });

  test("a URL where something else answers 404: the URL requested, and exit 2", async () => {
    const requests: string[] = [];
    const other = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => (requests.push(`${req.method} ${new URL(req.url).pathname}`), new Response("Not Found", { status: 404 })) });
    const url = `http://127.0.0.1:${other.port}`;
    try {
      const run = await agent(["push", "--server", `${url}/obd2`]);
      expect(run.stderr).toBe(
        `Error: GET ${url}/obd2/api/v1/ping answered 404, not OBD2-Server's {"status":"ok"}: no OBD2-Server API at that URL\n` +
          `Try: check --server (or companionService.baseUrl): it is the server's base URL, e.g. http://127.0.0.1:${other.port}, without a path\n`,
      );
      expect(run.code).toBe(2);
      expect(requests).toEqual(["GET /obd2/api/v1/ping"]);
    } finally {
      await other.stop(true);
    }
  });

  test("status says whether the server answers, and still exits by the backlog alone", async () => {
    const port = await freePort();
    const down = await runAgent(["status", "--db", db, "--server", `http://127.0.0.1:${port}`], { cwd: tmp.dir });
    expect(down.stdout.split("\n").slice(0, 2)).toEqual([
      `obd2-sync 0.1.0  database ${db}`,
      `Server: cannot reach the server at 127.0.0.1:${port}: connection refused (nothing listens on port ${port})`,
    ]);
    expect(down.code).toBe(1); // rows are waiting
    const json = JSON.parse((await runAgent(["status", "--db", db, "--server", `http://127.0.0.1:${port}`, "--json"], { cwd: tmp.dir })).stdout);
    expect(json).toMatchObject({ version: "0.1.0", server: `http://127.0.0.1:${port}`, serverReachable: false, serverProblem: expect.stringContaining("connection refused") });
    stub = await startStub(() => "ok");
    const up = await runAgent(["status", "--db", db, "--server", stub.url], { cwd: tmp.dir });
    expect(up.stdout.split("\n")[1]).toBe(`Server: ${stub.url} answers`);
  });
});

describe("against the real server", () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server.stop());

  test("a base URL copied with /api/v1/ works: the suffix is dropped", async () => {
    const run = await runAgent(["push", "--db", db, "--server", `${server.url}/api/v1/`, "--device-id", "pi-suffix"], { cwd: tmp.dir, env: { COMPANION_API_KEY: API_KEY } });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const { pi, server: mysql } = await mirrorOf(server, db, "pi-suffix");
    expect(mysql).toEqual(pi);
  });

  test("the closing line says how many rows went, and then that there was nothing new", async () => {
    db = tmp.path("two-drives.db");
    piDatabase(db, { drives: 2, minutes: 1 });
    const args = ["push", "--db", db, "--server", server.url, "--device-id", "pi-closing"];
    const first = await runAgent(args, { cwd: tmp.dir, env: { COMPANION_API_KEY: API_KEY } });
    const rows = sqliteCount(db, "SELECT (SELECT COUNT(*) FROM profiles) + (SELECT COUNT(*) FROM vehicle_info) + (SELECT COUNT(*) FROM calibration_sessions) + (SELECT COUNT(*) FROM realtime_data) + (SELECT COUNT(*) FROM statistics) + (SELECT COUNT(*) FROM ai_recommendations) + (SELECT COUNT(*) FROM connection_log) + (SELECT COUNT(*) FROM alert_log)");
    expect(first.stdout.trimEnd().split("\n").at(-1)).toBe(`Pushed ${rows.toLocaleString("en-US")} rows of ${db} to ${server.url} as pi-closing. Everything is on the server.`);
    expect(rows).toBeGreaterThan(999); // so the comma shows
    const second = await runAgent(args, { cwd: tmp.dir, env: { COMPANION_API_KEY: API_KEY } });
    expect(second.stdout.trimEnd().split("\n").at(-1)).toBe(`Nothing new to push from ${db} to ${server.url} as pi-closing. Everything is on the server.`);
    expect(second.code).toBe(0);
  });

  test("a refused key: the closing line says nothing was pushed", async () => {
    const run = await runAgent(["push", "--db", db, "--server", server.url, "--device-id", "pi-refused"], { cwd: tmp.dir, env: { COMPANION_API_KEY: "not-the-key-0123456789" } });
    expect(run.code).toBe(2);
    expect(run.stdout).not.toContain("Pushed");
    expect(run.stdout.trimEnd().split("\n").at(-1)).toMatch(new RegExp(`^Nothing was pushed to ${server.url} as pi-refused: [\\d,]+ rows are not on the server \\(${db}\\)\\.$`));
    expect(run.stderr).toStartWith("Error: the server refused the API key (401 Invalid API key)\n");
  });
});

describe("answers after the first look", () => {
  beforeEach(() => writeConfig(tmp.dir, { batchSize: 200, retries: 3, retryBaseSeconds: 0.01 }));

  test("a 404 on /sync stops the push at once with an Error/Try naming the URL requested; exit 2", async () => {
    stub = await startStub(() => ({ status: 404, body: { detail: "Not Found" } }));
    const run = await agent(["push", "--server", stub.url]);
    expect(run.stderr).toBe(
      `Error: the server answered 404 Not Found to POST ${stub.url}/api/v1/sync\n` +
        "Try: check --server (or companionService.baseUrl): it is the server's base URL, e.g. http://<host>:8000, without a path; if it is, update OBD2-Server (it has no /api/v1/sync)\n",
    );
    expect(run.code).toBe(2);
    // Not one 404 per table: the first one ends the run.
    expect(stub.requests).toHaveLength(1);
  });

  test("a push cut short says how many rows went and how many did not", async () => {
    stub = await startStub((req) => (req.table === "realtime_data" && (req.rows[0]!.id as number) > 200 ? { status: 503, body: { detail: "busy" } } : "ok"));
    const run = await agent(["push", "--server", stub.url]);
    expect(run.code).toBe(1);
    expect(run.stdout.trimEnd().split("\n").at(-1)).toMatch(new RegExp(`^Pushed [\\d,]+ rows of ${db} to ${stub.url} as ${DEVICE}, but [\\d,]+ rows are not on the server yet\\.$`));
  });

  test("on a terminal, each retry shows as it starts waiting; without one, nothing extra is printed", async () => {
    const failures: Reply[] = [{ status: 503, body: { detail: "busy" } }, { status: 503, body: { detail: "busy" } }];
    const answer = (req: { table: string }) => (req.table === "realtime_data" && failures.length ? failures.shift()! : "ok");
    stub = await startStub(answer);
    const onTerminal = await runAgentOnTerminal(["push", "--db", db, "--server", stub.url, "--device-id", DEVICE], { cwd: tmp.dir, env });
    expect(onTerminal.code).toBe(0);
    const retries = onTerminal.output.split(/[\r\n]/).map((l) => l.replace(/^\x1b\[K/, "")).filter((l) => l.includes("; retry "));
    expect(retries).toEqual(["POST /api/v1/sync answered 503 (busy); retry 1/3 in 0.0 s", "POST /api/v1/sync answered 503 (busy); retry 2/3 in 0.0 s"]);
    expect(onTerminal.output).toContain("Everything is on the server.");

    failures.push({ status: 503, body: { detail: "busy" } });
    const again = tmp.path("again.db");
    piDatabase(again);
    const piped = await runAgent(["push", "--db", again, "--server", stub.url, "--device-id", DEVICE], { cwd: tmp.dir, env });
    expect(failures).toEqual([]);
    expect(piped.stderr).toBe("");
    expect(piped.code).toBe(0);
  });
});
