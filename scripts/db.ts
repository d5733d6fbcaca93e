/**
 * `npm run db [-- --read-only] [-- <mariadb options>]`: a `mariadb` (or
 * `mysql`) shell on the configured database: DATABASE_URL, or the embedded
 * default, started for the session. The credentials go to the client in a
 * defaults file (mode 0600, in a private temp directory, removed afterwards),
 * never on its command line, where `ps` would show the password to every
 * user. --read-only connects as a user that may only SELECT.
 *
 *   npm run db
 *   npm run db -- -e 'SELECT device_id, last_seen FROM devices'
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findProgram } from "../lib/db/mariadb-server.ts";
import { withDatabaseUrl } from "./database-url.ts";

/** An option-file value: double-quoted, with the escapes the client's option parser reads. */
const optionValue = (s: string) => `"${s.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n")}"`;

/** The [client] section for `url`; over TCP, as the server's driver connects (localhost would otherwise mean the socket). */
function clientOptions(url: string): string {
  const u = new URL(url);
  const lines = [
    "[client]",
    `user=${optionValue(decodeURIComponent(u.username))}`,
    `password=${optionValue(decodeURIComponent(u.password))}`,
    `host=${optionValue(u.hostname.replace(/^\[|\]$/g, ""))}`,
    `port=${u.port || 3306}`,
    "protocol=TCP",
    `database=${optionValue(decodeURIComponent(u.pathname.slice(1)))}`,
  ];
  return `${lines.join("\n")}\n`;
}

const args = process.argv.slice(2);
const readOnly = args.includes("--read-only");
const client = findProgram("mariadb") ?? findProgram("mysql");
if (!client) {
  console.error("Error: no mariadb client on this machine\nTry: apt-get install -y mariadb-client");
  process.exitCode = 2;
} else {
  await withDatabaseUrl(
    async (url) => {
      const dir = mkdtempSync(join(tmpdir(), "obd2-db-"));
      const defaults = join(dir, "client.cnf");
      try {
        writeFileSync(defaults, clientOptions(url), { mode: 0o600 });
        // --defaults-extra-file must come first; the rest is the user's.
        const shell = spawn(client, [`--defaults-extra-file=${defaults}`, ...args.filter((a) => a !== "--read-only")], { stdio: "inherit" });
        // Ctrl-C belongs to the shell (it cancels a query); this process waits for it to exit.
        const ignore = () => {};
        process.on("SIGINT", ignore);
        const code = await new Promise<number | null>((done) => shell.once("exit", done));
        process.off("SIGINT", ignore);
        process.exitCode = code ?? 1;
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    { readOnly },
  );
}
