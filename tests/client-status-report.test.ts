/**
 * The agent reports its backlog to the server after each push (push, and
 * each round of run that finds the server), so the dashboard shows how far
 * behind the Pi is without SSH to the car. Real agent, real server, real
 * MariaDB: what the server holds is what `status --json` says on the Pi.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { version } from "../lib/version.ts";
import { API_KEY } from "./helpers/app.ts";
import { piDatabase, runAgent, spawnAgent, sqliteExec, startServer, tempDir, type TempDir } from "./helpers/client-agent.ts";

const DEVICE = "pi-report";
const env = { COMPANION_API_KEY: API_KEY };

let tmp: TempDir;
let server: Awaited<ReturnType<typeof startServer>>;
beforeAll(async () => {
  tmp = tempDir();
  server = await startServer();
});
afterAll(async () => {
  await server.stop();
  tmp.remove();
});

const reported = async () => (await server.call(`/api/v1/devices/${DEVICE}/status`)).json();

test("a push should leave the server holding the Pi's version, backlog per table and quarantine, as status shows them", async () => {
  const db = tmp.path("obd.db");
  piDatabase(db, { drives: 1, minutes: 2 });
  sqliteExec(db, "UPDATE realtime_data SET value = 'NaN' WHERE id = 7");
  const push = await runAgent(["push", "--db", db, "--server", server.url, "--device-id", DEVICE, "--json"], { cwd: tmp.dir, env });
  expect(push.code).toBe(1); // row 7 is quarantined
  expect(JSON.parse(push.stdout).statusReported).toBe(true);

  const local = JSON.parse((await runAgent(["status", "--db", db, "--json"], { cwd: tmp.dir })).stdout);
  const stored = await reported();
  expect(stored).toMatchObject({ deviceId: DEVICE, agentVersion: version, pendingRows: 0, quarantinedRows: 1 });
  const byTable = (tables: { table: string; pending?: number; backlog?: number; quarantined: number }[]) =>
    Object.fromEntries(tables.map((t) => [t.table, { pending: t.pending ?? t.backlog, quarantined: t.quarantined }]));
  expect(byTable(stored.tables)).toEqual(byTable(local.tables));
  expect(stored.quarantine.map((q: { table: string; key: string }) => `${q.table} ${q.key}`)).toEqual(["realtime_data 7"]);
});

test("each round of the daemon should report again, so rows logged since show as the Pi's backlog", async () => {
  const device = "pi-report-daemon";
  const db = tmp.path("daemon.db");
  piDatabase(db, { drives: 1, minutes: 1 });
  const status = async () => (await server.call(`/api/v1/devices/${device}/status`)).json();
  const daemon = spawnAgent(["run", "--db", db, "--server", server.url, "--device-id", device, "--interval", "0.1"], { cwd: tmp.dir, env });
  try {
    await until(async () => (await server.call(`/api/v1/devices/${device}/status`)).status === 200);
    expect(await status()).toMatchObject({ pendingRows: 0, quarantinedRows: 0 });
    // Rows the server refuses stay on the Pi (quarantined); the next round's report counts them.
    sqliteExec(db, "INSERT INTO realtime_data (timestamp, parameter_name, value) SELECT 'not a time', parameter_name, value FROM realtime_data ORDER BY id LIMIT 3");
    await until(async () => (await status()).quarantinedRows === 3);
    expect((await status()).tables.find((t: { table: string }) => t.table === "realtime_data")).toMatchObject({ pending: 0, quarantined: 3 });
  } finally {
    daemon.kill("SIGTERM");
    await daemon.exited;
  }
});

/** Polls `check` until it holds (the daemon's rounds are its own). */
async function until(check: () => Promise<boolean>, ms = 30_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition never held");
    await Bun.sleep(50);
  }
}
