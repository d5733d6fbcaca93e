/**
 * A private MariaDB server living in a directory of its own. `npm start` uses
 * one under ./data/mariadb as the embedded default; the test harness uses a
 * throwaway one in a temp dir.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import * as mariadb from "mariadb";

export type MariaDbServer = {
  port: number;
  socket: string;
  /** True when this process started mariadbd (and stop() will end it). */
  owned: boolean;
  /** Runs statements as root over the socket. */
  rootQuery(sql: string, values?: unknown[]): Promise<unknown>;
  stop(): Promise<void>;
};

const SBIN = ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"];

/** Path of a MariaDB program, or undefined when it is not installed. */
export function findProgram(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(":"), ...SBIN].filter((d) => d.startsWith("/"));
  return dirs.map((d) => join(d, name)).find((p) => existsSync(p));
}

/** A TCP port nobody is listening on right now. */
export async function freePort(preferred = 0): Promise<number> {
  const tryPort = (port: number) =>
    new Promise<number | undefined>((done) => {
      const srv = createServer();
      srv.once("error", () => done(undefined));
      srv.listen(port, "127.0.0.1", () => {
        const { port: got } = srv.address() as { port: number };
        srv.close(() => done(got));
      });
    });
  return (preferred && (await tryPort(preferred))) || (await tryPort(0))!;
}

// Unix socket paths are limited to 107 bytes; deep checkouts exceed that.
function socketPath(dataDir: string): string {
  const inDir = join(dataDir, "mysqld.sock");
  if (inDir.length < 100) return inDir;
  const tag = createHash("sha1").update(dataDir).digest("hex").slice(0, 12);
  return join(tmpdir(), `obd2-mariadb-${tag}.sock`);
}

async function rootConnection(socket: string) {
  return mariadb.createConnection({ socketPath: socket, user: "root", connectTimeout: 1000 });
}

async function canConnect(socket: string): Promise<boolean> {
  try {
    await (await rootConnection(socket)).end();
    return true;
  } catch {
    return false;
  }
}

/** Whether this process runs as root (mariadbd then needs --user=root, and apt-get may be run). */
export function isRoot() {
  return typeof process.getuid === "function" && process.getuid() === 0;
}

/**
 * Starts mariadbd on dataDir (initialising it on first use) and waits until it
 * accepts connections. When a mariadbd already serves that directory it is
 * reused and left running on stop().
 */
export async function startMariaDb(opts: {
  dataDir: string;
  port?: number;
  /** Extra mariadbd flags, e.g. durability trade-offs for throwaway test data. */
  extraArgs?: string[];
}): Promise<MariaDbServer> {
  const dataDir = resolve(opts.dataDir);
  const socket = socketPath(dataDir);
  const mariadbd = findProgram("mariadbd");
  const installDb = findProgram("mariadb-install-db");
  if (!mariadbd || !installDb) throw new Error("mariadbd is not installed (apt-get install -y mariadb-server)");

  const userArgs = isRoot() ? ["--user=root"] : [];
  const pidFile = join(dataDir, "mysqld.pid");
  let child: ChildProcess | undefined;
  let port = opts.port ?? 0;

  if (existsSync(pidFile) && (await canConnect(socket))) {
    const [row] = (await query(socket, "SELECT @@port AS port")) as { port: number }[];
    port = Number(row!.port);
  } else {
    if (!existsSync(join(dataDir, "mysql"))) {
      mkdirSync(dataDir, { recursive: true });
      const init = spawnSync(
        installDb,
        ["--no-defaults", `--datadir=${dataDir}`, "--auth-root-authentication-method=normal", "--skip-test-db", ...userArgs],
        { encoding: "utf8" },
      );
      if (init.status !== 0) throw new Error(`mariadb-install-db failed:\n${init.stdout}\n${init.stderr}`);
    }
    port = await freePort(port);
    const errorLog = join(dataDir, "error.log");
    child = spawn(
      mariadbd,
      [
        "--no-defaults",
        `--datadir=${dataDir}`,
        `--socket=${socket}`,
        `--port=${port}`,
        "--bind-address=127.0.0.1",
        `--pid-file=${pidFile}`,
        `--log-error=${errorLog}`,
        "--skip-log-bin",
        "--local-infile=1",
        "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_unicode_ci",
        ...userArgs,
        ...(opts.extraArgs ?? []),
      ],
      { stdio: "ignore" },
    );
    let exited: number | null | undefined;
    child.once("exit", (code) => (exited = code));
    const deadline = Date.now() + 60_000;
    while (!(await canConnect(socket))) {
      if (exited !== undefined || Date.now() > deadline) {
        child.kill("SIGKILL");
        const tail = existsSync(errorLog) ? readFileSync(errorLog, "utf8").split("\n").slice(-15).join("\n") : "";
        throw new Error(`mariadbd did not start (exit ${exited ?? "timeout"}):\n${tail}`);
      }
      await sleep(100);
    }
  }

  const owned = child !== undefined;
  return {
    port,
    socket,
    owned,
    rootQuery: (sql, values) => query(socket, sql, values),
    async stop() {
      if (!child || child.exitCode !== null) return;
      const exited = new Promise((done) => child!.once("exit", done));
      child.kill("SIGTERM");
      // Unref'd, so a prompt exit does not keep this process alive for the rest of the grace period.
      await Promise.race([exited, sleep(30_000, undefined, { ref: false })]);
      if (child.exitCode === null) child.kill("SIGKILL");
    },
  };
}

async function query(socket: string, sql: string, values?: unknown[]) {
  const conn = await rootConnection(socket);
  try {
    return await conn.query(sql, values);
  } finally {
    await conn.end();
  }
}

/** Creates database `db` and a TCP user for it (idempotent; `readOnly`: SELECT only) and returns its mysql:// URL. */
export async function provisionDatabase(
  server: MariaDbServer,
  { db, user, password, allDatabases = false, readOnly = false }: { db: string; user: string; password: string; allDatabases?: boolean; readOnly?: boolean },
): Promise<string> {
  const ident = /^[A-Za-z0-9_]+$/;
  if (!ident.test(db) || !ident.test(user)) throw new Error("database and user names must be [A-Za-z0-9_]+");
  await server.rootQuery(`CREATE DATABASE IF NOT EXISTS \`${db}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await server.rootQuery(`CREATE USER IF NOT EXISTS '${user}'@'127.0.0.1' IDENTIFIED BY ?`, [password]);
  await server.rootQuery(`ALTER USER '${user}'@'127.0.0.1' IDENTIFIED BY ?`, [password]);
  // The test harness user also creates users and grants (tests/ops.test.ts runs setup-mysql.sh).
  const on = allDatabases ? "*.*" : `\`${db}\`.*`;
  await server.rootQuery(`GRANT ${readOnly ? "SELECT" : "ALL"} ON ${on} TO '${user}'@'127.0.0.1'${allDatabases ? " WITH GRANT OPTION" : ""}`);
  return `mysql://${user}:${encodeURIComponent(password)}@127.0.0.1:${server.port}/${db}`;
}
