/**
 * For the sync agent's tests: temp dirs, Pi databases from the drive
 * simulator, the agent run as a real subprocess (Bun, Node or the compiled
 * binary), the real app served on loopback, and a row-for-row comparison of
 * MySQL against the Pi's SQLite file.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { discoverTables } from "../../client/delta.ts";
import { openDb, type SqlValue } from "../../client/sqlite.ts";
import { TABLES, type TableName } from "../../lib/tables.ts";
import { toSqlDatetime } from "../../lib/time.ts";
import { simulate, type SimulateOptions } from "../../scripts/simulate/index.ts";
import { testApp, type TestApp } from "./app.ts";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const MAIN = join(ROOT, "client/main.ts");
export const BUN = join(ROOT, "node_modules/.bin/bun");
const TSX = fileURLToPath(import.meta.resolve("tsx"));

export type TempDir = { dir: string; path(name: string): string; remove(): void };

export function tempDir(prefix = "obd2-client-"): TempDir {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, path: (name) => join(dir, name), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A Pi database written by the drive simulator (small by default). */
export function piDatabase(path: string, opts: Omit<SimulateOptions, "out"> = {}) {
  return simulate({ out: path, ...(opts.realtimeRows === undefined ? { drives: 1, minutes: 1 } : {}), ...opts });
}

/** Writes obd_config.json with a companionService section into `dir`. */
export function writeConfig(dir: string, section: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  writeFileSync(join(dir, "obd_config.json"), JSON.stringify({ ...extra, companionService: section }));
}

export type Runtime = "bun" | "node" | { binary: string };

function command(runtime: Runtime): string[] {
  if (runtime === "bun") return [BUN, MAIN];
  if (runtime === "node") return ["node", "--import", TSX, MAIN];
  return [runtime.binary];
}

/** Starts the agent; the environment is only PATH plus `env`, so a developer's own key never leaks in. */
export function spawnAgent(args: string[], { cwd, env = {}, runtime = "bun" }: { cwd: string; env?: Record<string, string>; runtime?: Runtime }) {
  return Bun.spawn([...command(runtime), ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
}

/** Reads `stream` until it has `lines` complete lines (Infinity: to its end); returns the text, and leaves the stream readable. */
export async function readLines(stream: ReadableStream<Uint8Array>, lines: number): Promise<string> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let out = "";
  try {
    while ((out.match(/\n/g) ?? []).length < lines) {
      const r = await reader.read();
      if (r.done) break;
      out += decoder.decode(r.value, { stream: true });
    }
  } finally {
    reader.releaseLock();
  }
  return out;
}

export const firstLine = async (stream: ReadableStream<Uint8Array>) => (await readLines(stream, 1)).split("\n")[0];

export type AgentRun = { code: number; stdout: string; stderr: string };

export async function runAgent(args: string[], opts: { cwd: string; env?: Record<string, string>; runtime?: Runtime }): Promise<AgentRun> {
  const p = spawnAgent(args, opts);
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}

const shellWord = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

/**
 * Runs the agent (under Bun) on a pseudo-terminal, as a person at a terminal
 * would: util-linux `script` gives it a tty for stdin, stdout and stderr.
 * `input` is typed at it. Its output arrives as one stream, with \n for \r\n.
 */
export async function runAgentOnTerminal(args: string[], { cwd, env = {}, input }: { cwd: string; env?: Record<string, string>; input?: string }): Promise<{ code: number; output: string }> {
  const p = Bun.spawn(["script", "-qefc", `exec ${[BUN, MAIN, ...args].map(shellWord).join(" ")}`, "/dev/null"], {
    cwd,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
  });
  if (input !== undefined) {
    p.stdin.write(input);
    p.stdin.flush();
  }
  const [output, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
  p.stdin.end();
  return { code, output: output.replaceAll("\r\n", "\n") };
}

/** The real app on a fresh database, served over HTTP on loopback. */
export async function startServer(env: Record<string, string> = {}): Promise<TestApp & { url: string; stop(): Promise<void> }> {
  const t = await testApp(env);
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: t.app.fetch });
  return {
    ...t,
    url: `http://127.0.0.1:${server.port}`,
    async stop() {
      await server.stop(true);
      await t.close();
    },
  };
}

/** The first column of the first row of `sql` on the file. */
export function sqliteValue(dbPath: string, sql: string): SqlValue | undefined {
  const db = openDb(dbPath);
  try {
    const row = db.prepare(sql).get();
    return row ? Object.values(row)[0] : undefined;
  } finally {
    db.close();
  }
}

/** Runs `sql` (one or more statements) on the file. */
export function sqliteExec(dbPath: string, sql: string) {
  const db = openDb(dbPath);
  try {
    db.exec(sql);
  } finally {
    db.close();
  }
}

export const sqliteCount = (dbPath: string, sql: string) => Number(sqliteValue(dbPath, sql) ?? 0);

/** sync_log marks by table, read straight from the file ({} before there is a sync_log). */
export function marks(dbPath: string): Record<string, number> {
  const db = openDb(dbPath);
  try {
    if (!db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'sync_log'").get()) return {};
    return Object.fromEntries(db.prepare("SELECT table_name, last_synced_id FROM sync_log").all().map((r) => [r.table_name, Number(r.last_synced_id)]));
  } finally {
    db.close();
  }
}

/** A value as both sides should hold it: datetimes in MySQL's UTC DATETIME(6) form, JSON parsed. */
function normalise(kind: string, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (kind === "datetime") return toSqlDatetime(String(v)) ?? `unparseable ${String(v)}`;
  if (kind === "json") return typeof v === "string" ? JSON.parse(v) : v;
  if (typeof v === "bigint") return Number(v);
  return v;
}

/** MariaDB's JSON is LONGTEXT (text); MySQL 8's comes back parsed. */
const parsed = (v: unknown) => (typeof v === "string" ? JSON.parse(v) : (v ?? null));

/**
 * The Pi's rows and the server's rows for `deviceId`, both normalised and
 * sorted by key: each mirrored table with the columns the server does not
 * know as `extra` (null when none), and each other table the agent sends as
 * `unmapped:<table>`, from unmapped_rows. Columns the Pi lacks must be NULL
 * on the server.
 */
export async function mirrorOf(t: TestApp, dbPath: string, deviceId: string, skip: Record<string, (string | number)[]> = {}) {
  const db = openDb(dbPath);
  const pi: Record<string, unknown[]> = {};
  const server: Record<string, unknown[]> = {};
  const byKey = (a: any, b: any) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  try {
    for (const table of TABLES) {
      const have = db.prepare("SELECT name FROM pragma_table_info(?)").all(table.name).map((r) => String(r.name));
      if (!have.includes(table.key)) continue;
      const cols = table.columns.filter((c) => have.includes(c.name));
      const missing = table.columns.filter((c) => !have.includes(c.name));
      const known = new Set([table.key, ...cols.map((c) => c.name)]);
      const unknown = have.filter((c) => !known.has(c));
      const key = (v: unknown) => (table.keyType === "int" ? Number(v) : String(v));
      const omit = new Set((skip[table.name] ?? []).map(String));
      pi[table.name] = db
        .prepare(`SELECT * FROM "${table.name}"`)
        .all()
        .filter((r) => !omit.has(String(r[table.key])))
        .map((r) => ({
          key: key(r[table.key]),
          ...Object.fromEntries(cols.map((c) => [c.name, normalise(c.type.kind, r[c.name])])),
          extra: unknown.length ? Object.fromEntries(unknown.map((c) => [c, r[c]])) : null,
        }))
        .sort(byKey);
      const rows: any[] = await t.db.pool.query({ sql: `SELECT * FROM \`${table.name}\` WHERE source_device = ?`, dateStrings: true }, [deviceId]);
      server[table.name] = rows
        .map((r) => {
          for (const c of missing) if (r[c.name] !== null) throw new Error(`${table.name}.${c.name} should be NULL on the server`);
          return { key: key(r.source_id), ...Object.fromEntries(cols.map((c) => [c.name, normalise(c.type.kind, r[c.name])])), extra: parsed(r.extra) };
        })
        .sort(byKey);
    }
    const sent = discoverTables(db).present.filter((src) => !src.mirrored);
    for (const src of sent) {
      const omit = new Set((skip[src.name] ?? []).map(String));
      pi[`unmapped:${src.name}`] = db
        .prepare(`SELECT * FROM "${src.name}"`)
        .all()
        .filter((r) => r[src.table.key] !== null && !omit.has(String(r[src.table.key])))
        .map((r) => ({ key: String(r[src.table.key]), data: r }))
        .sort(byKey);
      server[`unmapped:${src.name}`] = [];
    }
    const unmapped: any[] = await t.db.pool.query("SELECT table_name, source_id, data FROM unmapped_rows WHERE source_device = ?", [deviceId]);
    for (const r of unmapped) (server[`unmapped:${r.table_name}`] ??= []).push({ key: r.source_id, data: parsed(r.data) });
    for (const rows of Object.values(server)) rows.sort(byKey);
  } finally {
    db.close();
  }
  return { pi, server };
}

/** Rows the server holds for `deviceId` in `table`. */
export async function serverCount(t: TestApp, table: TableName, deviceId: string): Promise<number> {
  const [row] = await t.db.pool.query(`SELECT COUNT(*) AS n FROM \`${table}\` WHERE source_device = ?`, [deviceId]);
  return Number(row.n);
}
