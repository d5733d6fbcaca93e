/**
 * `obd2-sync analyze --last-drive`: the agent as a subprocess on a simulated
 * Pi database, against a loopback server that records the request and
 * answers as POST /api/v1/analyze's contract says it may, and once end to
 * end against the real app with an Ollama-protocol server.
 */
import { afterEach, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { openDb } from "../client/sqlite.ts";
import { initStore, raiseMark } from "../client/store.ts";
import { toSqlDatetime } from "../lib/time.ts";
import { API_KEY } from "./helpers/app.ts";
import { startFakeOllama } from "./helpers/fake-ollama.ts";
import { piDatabase, runAgent, sqliteExec, sqliteValue, startServer, tempDir, type TempDir } from "./helpers/client-agent.ts";

// Each test runs the agent as a subprocess; bunfig's [test] timeout is not applied by this Bun, and 5 s is tight on a busy 2-core machine.
setDefaultTimeout(60_000);

type Seen = { headers: Headers; body: any };
type Analyzer = { url: string; seen: Seen[]; stop(): void };

/** Records each POST /api/v1/analyze and answers it with `status` and `body` ("hang": never answers). */
function startAnalyzer(status: number, body: unknown): Analyzer {
  const seen: Seen[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      if (new URL(req.url).pathname === "/api/v1/ping") return Response.json({ status: "ok" });
      if (req.method !== "POST" || new URL(req.url).pathname !== "/api/v1/analyze") return Response.json({ detail: "Not Found" }, { status: 404 });
      seen.push({ headers: req.headers, body: await req.json() });
      return body === "hang" ? new Promise<Response>(() => {}) : Response.json(body, { status });
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, seen, stop: () => server.stop(true) };
}

const FINDINGS = [
  { code: "coolant_overtemp", severity: "warning", parameter: "COOLANT_TEMP", message: "Coolant peaked at 104 °C and stayed above 100 °C for 90 s", evidence: { maxC: 104, secondsAbove: 90 } },
  { code: "low_voltage", severity: "info", parameter: "CONTROL_MODULE_VOLTAGE", message: "Voltage dipped to 12.1 V", evidence: { minV: 12.1 } },
];
const ANALYSED = {
  status: "ok",
  analysisId: 42,
  // Out of order on purpose: the agent prints them by rank.
  recommendations: [
    { rank: 2, category: "cooling", recommendation: "Confirm the radiator fan relay engages near 98 °C.", confidence: 0.6 },
    { rank: 1, category: "fuel", recommendation: "Check the intake couplers for a boost leak.", confidence: 0.8 },
    { rank: 3, category: "timing", recommendation: "Re-log a 3rd-gear pull on 93 octane.", confidence: 0.35 },
  ],
  findings: FINDINGS,
  model: "gemma2:2b",
  processingTimeMs: 8123,
};
const NO_DATA = { status: "ok", recommendations: [], findings: [], message: "No drive data found for the specified time window" };

let tmp: TempDir;
let db: string;
let analyzer: Analyzer | undefined;
beforeEach(() => {
  tmp = tempDir();
  db = tmp.path("obd.db");
  piDatabase(db, { drives: 2, minutes: 3 });
});
afterEach(() => {
  analyzer?.stop();
  analyzer = undefined;
  tmp.remove();
});

const exec = (sql: string) => sqliteExec(db, sql);
/** The simulator writes events in time order, so the last by id is the latest. */
const lastEvent = (type: string) => String(sqliteValue(db, `SELECT timestamp FROM connection_log WHERE event_type = '${type}' ORDER BY id DESC LIMIT 1`));
/** Moves the realtime_data mark past every reading, as a finished push leaves it. */
function markAllPushed() {
  const d = openDb(db);
  try {
    initStore(d, ["realtime_data"]);
    raiseMark(d, "realtime_data", Number(d.prepare("SELECT max(id) AS id FROM realtime_data").get()!.id));
  } finally {
    d.close();
  }
}

const analyze = (url: string, ...args: string[]) =>
  runAgent(["analyze", "--last-drive", "--db", db, "--server", url, "--device-id", "eclipse-pi", ...args], { cwd: tmp.dir, env: { COMPANION_API_KEY: API_KEY } });

describe("analyze --last-drive against a server speaking the contract", () => {
  test("sends the last drive's window, the device, its profile and the focus areas, and prints recommendations by rank, then findings", async () => {
    // In the last drive, most readings have no profile and the rest "performance"; the first drive's "daily" rows lie outside the window.
    exec("UPDATE realtime_data SET profile_id = CASE WHEN id % 3 = 0 THEN 'performance' ELSE NULL END WHERE drive_id = 2");
    markAllPushed();
    analyzer = startAnalyzer(200, ANALYSED);
    const run = await analyze(analyzer.url, "--focus", "fuel, cooling");

    expect(analyzer.seen).toHaveLength(1);
    const [{ headers, body }] = analyzer.seen as [Seen];
    expect(headers.get("x-api-key")).toBe(API_KEY);
    expect(body).toEqual({
      deviceId: "eclipse-pi",
      profileId: "performance",
      driveStartTime: lastEvent("drive_start").replace(" ", "T"),
      driveEndTime: lastEvent("drive_end").replace(" ", "T"),
      focusAreas: ["fuel", "cooling"],
    });
    expect(body.driveStartTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?$/);

    const start = toSqlDatetime(lastEvent("drive_start"))!.slice(0, 19);
    const end = toSqlDatetime(lastEvent("drive_end"))!.slice(0, 19);
    expect(run.stdout).toBe(
      [
        `Drive ${start} to ${end} UTC (3m 2s), device eclipse-pi, profile performance`,
        "Recommendations (gemma2:2b, 8.1 s):",
        "  1. [fuel] Check the intake couplers for a boost leak. (confidence 0.80)",
        "  2. [cooling] Confirm the radiator fan relay engages near 98 °C. (confidence 0.60)",
        "  3. [timing] Re-log a 3rd-gear pull on 93 octane. (confidence 0.35)",
        "Findings:",
        "  [warning] COOLANT_TEMP: Coolant peaked at 104 °C and stayed above 100 °C for 90 s",
        "  [info] CONTROL_MODULE_VOLTAGE: Voltage dipped to 12.1 V",
        "",
      ].join("\n"),
    );
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
  });

  test("readings of the drive not pushed yet are reported after the analysis", async () => {
    analyzer = startAnalyzer(200, ANALYSED);
    const run = await analyze(analyzer.url);
    expect(analyzer.seen[0]!.body.profileId).toBe("daily");
    expect(analyzer.seen[0]!.body).not.toHaveProperty("focusAreas");
    expect(run.stderr).toBe("Warning: the analysis may lack readings: 2,340 of the drive's 2,340 readings are on the Pi only; run `obd2-sync push`, then analyze again.\n");
    expect(run.code).toBe(0);
  });

  test("--json prints the server's answer as it came", async () => {
    markAllPushed();
    analyzer = startAnalyzer(200, ANALYSED);
    const run = await analyze(analyzer.url, "--json");
    expect(JSON.parse(run.stdout)).toEqual(ANALYSED);
    expect(run.code).toBe(0);
  });

  test("a later drive logged in the T…Z form is the last one, and a drive still running is not", async () => {
    exec(`INSERT INTO connection_log (timestamp, event_type, success) VALUES
            ('2026-04-19T11:00:00Z', 'drive_start', 1), ('2026-04-19T11:04:30Z', 'drive_end', 1), ('2026-04-19T12:00:00Z', 'drive_start', 1)`);
    analyzer = startAnalyzer(200, NO_DATA);
    const run = await analyze(analyzer.url);
    expect(analyzer.seen[0]!.body).toEqual({ deviceId: "eclipse-pi", driveStartTime: "2026-04-19T11:00:00Z", driveEndTime: "2026-04-19T11:04:30Z" });
    expect(run.stdout).toContain("Drive 2026-04-19 11:00:00 to 2026-04-19 11:04:30 UTC (4m 30s), device eclipse-pi\n");
    expect(run.stderr).toBe(
      "Error: the server holds no readings of this drive, and the Pi has none between its drive_start and drive_end either\nTry: nothing to analyse: the logger recorded no readings during that drive\n",
    );
    expect(run.code).toBe(1);
  });

  test("no data on the server: the message, and the readings still on the Pi with a hint to push", async () => {
    analyzer = startAnalyzer(200, NO_DATA);
    const run = await analyze(analyzer.url);
    expect(run.stdout).toEndWith("\nNo drive data found for the specified time window\n");
    expect(run.stderr).toBe("Error: the server holds no readings of this drive; 2,340 of the drive's 2,340 readings are on the Pi only\nTry: run `obd2-sync push` first, then analyze again\n");
    expect(run.code).toBe(1);
  });

  test("no completed drive: a clear message, exit 2, and nothing sent", async () => {
    analyzer = startAnalyzer(200, ANALYSED);
    exec("DELETE FROM connection_log WHERE event_type = 'drive_end'");
    const none = await analyze(analyzer.url);
    expect(none.stderr).toStartWith("Error: no completed drive to analyse: connection_log has no drive_end\nTry: ");
    expect(none.code).toBe(2);

    // A drive_end with no drive_start since the previous drive_end is not a drive (the server's queue agrees).
    exec("INSERT INTO connection_log (timestamp, event_type, success) VALUES ('2026-04-19 08:10:00', 'drive_end', 1), ('2026-04-19 08:20:00.000000', 'drive_end', 1)");
    const unpaired = await analyze(analyzer.url);
    expect(unpaired.stderr).toStartWith(
      "Error: no completed drive to analyse: the last drive_end (2026-04-19 08:20:00.000000) has no drive_start after the drive_end before it (2026-04-19 08:10:00)\n",
    );
    expect(unpaired.code).toBe(2);
    expect(analyzer.seen).toHaveLength(0);
  });

  test("Ollama unavailable (503): the findings the body carries are printed, and the reason; exit 1", async () => {
    markAllPushed();
    analyzer = startAnalyzer(503, { detail: "Ollama unavailable", ollamaUrl: "http://127.0.0.1:11434", model: "gemma2:2b", analysisId: 43, findings: FINDINGS });
    const run = await analyze(analyzer.url);
    expect(run.stdout).toEndWith(
      "Findings:\n  [warning] COOLANT_TEMP: Coolant peaked at 104 °C and stayed above 100 °C for 90 s\n  [info] CONTROL_MODULE_VOLTAGE: Voltage dipped to 12.1 V\n",
    );
    expect(run.stdout).not.toContain("Recommendations");
    expect(run.stderr).toBe(
      "Error: the server could not reach Ollama at http://127.0.0.1:11434 (model gemma2:2b), so there are no recommendations\nTry: start Ollama on the server (`systemctl start ollama`), then run analyze again\n",
    );
    expect(run.code).toBe(1);
  });

  test("an Ollama error (502) and a timeout on the server (504) say so, with the findings; exit 1", async () => {
    markAllPushed();
    analyzer = startAnalyzer(502, { detail: "Ollama error", ollamaError: 'model "gemma2:2b" not found, try pulling it first', analysisId: 44, findings: [FINDINGS[0]] });
    const bad = await analyze(analyzer.url);
    expect(bad.stdout).toContain("  [warning] COOLANT_TEMP: Coolant peaked at 104 °C");
    expect(bad.stderr).toStartWith('Error: Ollama failed: model "gemma2:2b" not found, try pulling it first\n');
    expect(bad.code).toBe(1);
    analyzer.stop();

    analyzer = startAnalyzer(504, { detail: "Analysis timed out after 120 s", analysisId: 45, findings: [] });
    const slow = await analyze(analyzer.url);
    expect(slow.stdout).toEndWith("Findings: none; every rule-based check passed.\n");
    expect(slow.stderr).toStartWith("Error: the server stopped the analysis: Analysis timed out after 120 s\nTry: raise ANALYSIS_TIMEOUT_SECONDS");
    expect(slow.code).toBe(1);
  });

  test("a refused key (401) is a clear configuration error, exit 2", async () => {
    analyzer = startAnalyzer(401, { detail: "Invalid or missing API key" });
    const run = await analyze(analyzer.url);
    expect(run.stderr).toBe(
      "Error: the server refused the API key (401 Invalid or missing API key)\nTry: set COMPANION_API_KEY to a key the server accepts for this device (`npm run device -- add <id>` on the server)\n",
    );
    expect(run.stdout).toBe("");
    expect(run.code).toBe(2);
  });

  test("no answer within --timeout: says so and how to wait longer; exit 1", async () => {
    analyzer = startAnalyzer(200, "hang");
    const run = await analyze(analyzer.url, "--timeout", "0.2");
    expect(analyzer.seen).toHaveLength(1);
    expect(run.stderr).toBe(`Error: server ${analyzer.url}: no analysis within 0.2 s\nTry: pass a longer --timeout; the server gives up after its ANALYSIS_TIMEOUT_SECONDS\n`);
    expect(run.code).toBe(1);
  });

  test("bad flags name themselves", async () => {
    const url = "http://127.0.0.1:9";
    expect((await runAgent(["analyze", "--db", db, "--server", url, "--device-id", "p"], { cwd: tmp.dir, env: { COMPANION_API_KEY: API_KEY } })).stderr).toStartWith(
      "Error: analyze needs --last-drive",
    );
    const timeout = await analyze(url, "--timeout", "soon");
    expect(timeout.stderr).toStartWith('Error: --timeout must be a number of seconds from 0 to 3600 (got "soon")\n');
    expect(timeout.code).toBe(2);
    expect((await analyze(url, "--focus", " , ")).stderr).toStartWith("Error: --focus needs at least one area\n");
  });
});

test("end to end: before the push the real server has no data for the drive; after it, the analysis comes back", async () => {
  const fake = startFakeOllama({
    reply: () => JSON.stringify([{ rank: 1, category: "fuel", recommendation: "Trims look healthy; no change needed.", confidence: 0.7 }]),
  });
  const server = await startServer({ OLLAMA_BASE_URL: fake.url });
  try {
    const before = await analyze(server.url);
    expect(before.stdout).toContain("No drive data found for the specified time window");
    expect(before.stderr).toContain("on the Pi only\nTry: run `obd2-sync push` first");
    expect(before.code).toBe(1);
    expect(fake.chats).toHaveLength(0);

    const push = await runAgent(["push", "--db", db, "--server", server.url, "--device-id", "eclipse-pi"], { cwd: tmp.dir, env: { COMPANION_API_KEY: API_KEY } });
    expect(push.code).toBe(0);
    const after = await analyze(server.url, "--focus", "fuel");
    expect(after.stdout).toContain("Recommendations (gemma2:2b, ");
    expect(after.stdout).toContain("  1. [fuel] Trims look healthy; no change needed. (confidence 0.70)\n");
    expect(after.stderr).toBe("");
    expect(after.code).toBe(0);
    expect(fake.chats).toHaveLength(1);

    const [row] = await server.db.pool.query(
      { sql: "SELECT drive_start, drive_end, profile_source_id, status FROM analysis_history WHERE device_id = ? ORDER BY analysis_id DESC LIMIT 1", dateStrings: true },
      ["eclipse-pi"],
    );
    expect(row).toEqual({ drive_start: toSqlDatetime(lastEvent("drive_start")), drive_end: toSqlDatetime(lastEvent("drive_end")), profile_source_id: "daily", status: "completed" });
  } finally {
    fake.stop();
    await server.stop();
  }
});
