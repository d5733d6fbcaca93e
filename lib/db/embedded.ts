/**
 * The embedded default: when DATABASE_URL is unset, a project-local MariaDB
 * under ./data/mariadb, created and started on demand. Its port and the
 * passwords of its users (obd2, and obd2_readonly for the --read-only tools)
 * live in ./data/mariadb.json (mode 0600).
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { findProgram, isRoot, provisionDatabase, startMariaDb } from "./mariadb-server.ts";

export type EmbeddedDb = {
  url: string;
  /** The URL of a user that may only SELECT from the database, created on first use. */
  readOnlyUrl(): Promise<string>;
  stop(): Promise<void>;
};

const INSTALL = "apt-get update && apt-get install -y mariadb-server";

function ensureInstalled(log: (msg: string) => void) {
  if (findProgram("mariadbd")) return;
  if (!isRoot()) {
    throw new Error(`MariaDB is not installed. Run:\n  sudo sh -c '${INSTALL}'\nor set DATABASE_URL to an existing MySQL/MariaDB database.`);
  }
  log(`MariaDB is not installed; running: ${INSTALL}`);
  const run = spawnSync("sh", ["-c", INSTALL], { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  if (run.status !== 0 || !findProgram("mariadbd")) throw new Error(`installing mariadb-server failed (exit ${run.status})`);
}

export async function startEmbeddedDb(root = process.cwd(), log: (msg: string) => void = console.error): Promise<EmbeddedDb> {
  ensureInstalled(log);
  const dataRoot = resolve(root, "data");
  mkdirSync(dataRoot, { recursive: true });
  const stateFile = join(dataRoot, "mariadb.json");
  const newPassword = () => randomBytes(18).toString("base64url");
  const state: { port?: number; password: string; readOnlyPassword?: string } = existsSync(stateFile) ? JSON.parse(readFileSync(stateFile, "utf8")) : { password: newPassword() };
  const server = await startMariaDb({ dataDir: join(dataRoot, "mariadb"), port: state.port ?? 3307 });
  const url = await provisionDatabase(server, { db: "obd2", user: "obd2", password: state.password });
  const save = () => writeFileSync(stateFile, JSON.stringify({ ...state, port: server.port }), { mode: 0o600 });
  save();
  log(`Embedded MariaDB ${server.owned ? "started" : "already running"} on 127.0.0.1:${server.port} (data in ${join(dataRoot, "mariadb")})`);
  return {
    url,
    async readOnlyUrl() {
      if (!state.readOnlyPassword) {
        state.readOnlyPassword = newPassword();
        save();
      }
      return provisionDatabase(server, { db: "obd2", user: "obd2_readonly", password: state.readOnlyPassword, readOnly: true });
    },
    stop: () => server.stop(),
  };
}
