/**
 * `push --resend-all`, for a server that lost its database while the Pi
 * believes everything is synced: every row goes again (the server upserts,
 * so a second resend changes nothing), only after a yes on a terminal or
 * --yes, and the marks, row hashes and quarantine agree afterwards.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { openDb } from "../client/sqlite.ts";
import { TABLES } from "../lib/tables.ts";
import { API_KEY } from "./helpers/app.ts";
import { marks, mirrorOf, piDatabase, runAgent, runAgentOnTerminal, sqliteCount, sqliteExec, startServer, tempDir, type TempDir } from "./helpers/client-agent.ts";

const DEVICE = "pi-resend";
const env = { COMPANION_API_KEY: API_KEY };

let tmp: TempDir;
let db: string;
let server: Awaited<ReturnType<typeof startServer>>;
beforeEach(async () => {
  tmp = tempDir();
  db = tmp.path("obd.db");
  piDatabase(db);
  server = await startServer();
});
afterEach(async () => {
  await server.stop();
  tmp.remove();
});

const push = (...args: string[]) => runAgent(["push", "--db", db, "--server", server.url, "--device-id", DEVICE, "--batch-size", "200", ...args], { cwd: tmp.dir, env });
const exec = (sql: string) => sqliteExec(db, sql);
const quarantine = () => {
  const d = openDb(db);
  try {
    return d.prepare("SELECT table_name, row_key, attempts FROM sync_quarantine ORDER BY CAST(row_key AS INTEGER)").all();
  } finally {
    d.close();
  }
};
/** The simulated file has the eight older tables only; the newer ones count 0. */
const inFile = () => TABLES.filter((t) => sqliteCount(db, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '${t.name}'`) > 0);
const mutableRows = () => inFile().filter((t) => t.mutable).reduce((n, t) => n + sqliteCount(db, `SELECT COUNT(*) FROM ${t.name}`), 0);

/** The server loses its database: a new one, empty, at a new address. */
async function serverLost() {
  await server.stop();
  server = await startServer();
}

test("after the server lost its data, --resend-all --yes sends every row again; marks, hashes and quarantine agree; a second resend changes nothing", async () => {
  exec("UPDATE realtime_data SET value = 'NaN' WHERE id IN (50, 60)");
  expect((await push()).code).toBe(1); // rows 50 and 60 in quarantine
  await serverLost();
  const believed = await push("--json");
  expect(JSON.parse(believed.stdout).sent).toBe(0); // the Pi thinks all is on the server
  expect(await mirrorOf(server, db, DEVICE).then((m) => m.server.realtime_data)).toEqual([]);

  exec("UPDATE realtime_data SET value = 0 WHERE id = 50"); // fixed on the Pi meanwhile; 60 is still bad
  const before = marks(db);
  const unasked = await push("--resend-all");
  expect(unasked).toEqual({
    code: 2,
    stdout: "",
    stderr: "Error: push --resend-all asks before sending every row again, and there is no terminal to ask on\nTry: add --yes to resend without asking: obd2-sync push --resend-all --yes\n",
  });
  expect(marks(db)).toEqual(before);

  const resent = await push("--resend-all", "--yes", "--json");
  expect(resent.code).toBe(1); // row 60 is still refused
  const result = JSON.parse(resent.stdout);
  const rows = inFile().reduce((n, t) => n + sqliteCount(db, `SELECT COUNT(*) FROM ${t.name}`), 0);
  expect(result.sent).toBe(rows - 1);
  const { pi, server: mysql } = await mirrorOf(server, db, DEVICE, { realtime_data: [60] });
  expect(mysql).toEqual(pi);
  // Row 50 was accepted and left quarantine; row 60 was refused again and is there once.
  expect(quarantine()).toEqual([{ table_name: "realtime_data", row_key: "60", attempts: 2 }]);
  expect(marks(db)).toEqual(before);
  expect(sqliteCount(db, "SELECT COUNT(*) FROM sync_row_hash")).toBe(mutableRows());

  const next = await push("--json");
  expect(JSON.parse(next.stdout).sent).toBe(0);
  const status = JSON.parse((await runAgent(["status", "--db", db, "--json"], { cwd: tmp.dir })).stdout);
  expect(status.tables.map((t: { backlog: number }) => t.backlog)).toEqual(status.tables.map(() => 0));

  const again = JSON.parse((await push("--resend-all", "--yes", "--json")).stdout);
  expect(again.tables.reduce((n: number, t: { inserted: number }) => n + t.inserted, 0)).toBe(0);
  expect(again.sent).toBe(rows - 1);
  expect(await mirrorOf(server, db, DEVICE, { realtime_data: [60] }).then((m) => m.server)).toEqual(mysql);
  expect(quarantine()).toEqual([{ table_name: "realtime_data", row_key: "60", attempts: 3 }]);
});

test("on a terminal --resend-all asks first: no keeps everything as it was, yes resends", async () => {
  expect((await push()).code).toBe(0);
  await serverLost();
  const before = marks(db);
  const args = ["push", "--db", db, "--server", server.url, "--device-id", DEVICE, "--resend-all"];
  const rows = inFile().reduce((n, t) => n + sqliteCount(db, `SELECT COUNT(*) FROM ${t.name}`), 0);
  const question = `Send all ${rows.toLocaleString("en-US")} rows of ${db} to ${server.url} as ${DEVICE} again (the server keeps one copy of each)? [y/N] `;

  const declined = await runAgentOnTerminal(args, { cwd: tmp.dir, env, input: "n\n" });
  expect(declined.output).toContain(question);
  expect(declined.output).toEndWith("Nothing was resent.\n");
  expect(declined.code).toBe(1);
  expect(marks(db)).toEqual(before);
  expect(await mirrorOf(server, db, DEVICE).then((m) => m.server.realtime_data)).toEqual([]);

  const agreed = await runAgentOnTerminal(args, { cwd: tmp.dir, env, input: "y\n" });
  expect(agreed.output).toContain(question);
  expect(agreed.output).toContain(`Pushed ${rows.toLocaleString("en-US")} rows of ${db} to ${server.url} as ${DEVICE}. Everything is on the server.`);
  expect(agreed.code).toBe(0);
  const { pi, server: mysql } = await mirrorOf(server, db, DEVICE);
  expect(mysql).toEqual(pi);
});

test("--yes without --resend-all is a usage error", async () => {
  expect((await push("--yes")).stderr).toBe("Error: --yes goes with --resend-all\nTry: obd2-sync push --resend-all --yes\n");
});
