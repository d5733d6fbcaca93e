/**
 * The database tools a new user reaches for: `npm run db` (a mariadb shell
 * whose password never appears on a command line), `--read-only` on it and
 * on `npm run studio` (a user that may only SELECT, checked before use), and
 * Studio stopping quietly on Ctrl-C. Real subprocesses on a real database;
 * the embedded default's read-only user is covered in tests/entries.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { freePort } from "../lib/db/mariadb-server.ts";
import { freshDatabase, queryOnce, type TestDb } from "./helpers/db.ts";
import { BUN, killStarted, ROOT, start } from "./helpers/server-process.ts";

let db: TestDb;
let readOnly: string;
beforeAll(async () => {
  db = await freshDatabase();
  await db.query("INSERT INTO devices (device_id) VALUES ('pi-tools')");
  const user = `ro_${db.name.slice(-10)}`;
  await db.query(`CREATE USER '${user}'@'127.0.0.1' IDENTIFIED BY 'read-only-pass'`);
  await db.query(`GRANT SELECT ON \`${db.name}\`.* TO '${user}'@'127.0.0.1'`);
  const url = new URL(db.url);
  url.username = user;
  url.password = "read-only-pass";
  readOnly = url.toString();
});
afterAll(async () => {
  await killStarted();
  await db.drop();
});

const password = () => decodeURIComponent(new URL(db.url).password);

/** `bun scripts/db.ts …` in an empty directory (no .env), with exactly `env`. */
function dbTool(args: string[], env: Record<string, string>) {
  const run = Bun.spawnSync([BUN, join(ROOT, "scripts/db.ts"), ...args], { cwd: "/tmp", env: { PATH: process.env.PATH!, ...env } });
  return { code: run.exitCode, stdout: run.stdout.toString(), stderr: run.stderr.toString() };
}

/** Processes whose command line contains `marker`, with their arguments. */
function processesWith(marker: string): { pid: number; args: string[] }[] {
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .flatMap((pid) => {
      try {
        const args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
        return args.some((a) => a.includes(marker)) ? [{ pid: Number(pid), args }] : [];
      } catch {
        return []; // it exited while we looked
      }
    });
}

describe("npm run db", () => {
  test("opens a mariadb shell on DATABASE_URL as its user, passing options through", () => {
    const run = dbTool(["-N", "-e", "SELECT CURRENT_USER(), DATABASE(), (SELECT COUNT(*) FROM devices)"], { DATABASE_URL: db.url });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout.trim().split("\t")).toEqual([`${new URL(db.url).username}@127.0.0.1`, db.name, "1"]);
  });

  test("gives the password in a 0600 defaults file, never on the client's command line, and removes the file after", async () => {
    const marker = `obd2-db-marker-${Date.now()}`;
    const tool = start([BUN, join(ROOT, "scripts/db.ts"), "-e", `SELECT '${marker}', SLEEP(20)`], "/tmp", { DATABASE_URL: db.url });
    let client: { pid: number; args: string[] } | undefined;
    for (let tries = 0; !client && tries < 400; tries++) {
      client = processesWith(marker).find((p) => /\/(mariadb|mysql)$/.test(p.args[0]!));
      if (!client) await Bun.sleep(50);
    }
    expect(client).toBeDefined();
    expect(client!.args.join(" ")).not.toContain(password());
    const defaults = client!.args.find((a) => a.startsWith("--defaults-extra-file="))!.slice("--defaults-extra-file=".length);
    expect(client!.args[1]).toBe(`--defaults-extra-file=${defaults}`);
    expect(statSync(defaults).mode & 0o777).toBe(0o600);
    expect(statSync(dirname(defaults)).mode & 0o777).toBe(0o700);
    expect(readFileSync(defaults, "utf8")).toContain(`password="${password()}"`);
    process.kill(client!.pid, "SIGTERM");
    expect(await tool.exited).not.toBe(0);
    expect(existsSync(dirname(defaults))).toBe(false);
  });

  test("--read-only connects as READONLY_DATABASE_URL's user: reading works, changing data is denied", async () => {
    const run = dbTool(["--read-only", "-N", "-e", "SELECT COUNT(*) FROM devices; DELETE FROM devices"], { DATABASE_URL: db.url, READONLY_DATABASE_URL: readOnly });
    expect(run.stdout.trim()).toBe("1");
    expect(run.stderr).toContain("DELETE command denied");
    expect(run.code).toBe(1);
    expect(await queryOnce(db.url, "SELECT COUNT(*) AS n FROM devices")).toEqual([{ n: 1n }]);
  });

  test("--read-only without READONLY_DATABASE_URL, or with a user that may write, is refused before connecting", () => {
    const missing = dbTool(["--read-only", "-e", "SELECT 1"], { DATABASE_URL: db.url });
    expect(missing).toEqual({ code: 1, stdout: "", stderr: expect.stringMatching(/^Error: --read-only needs READONLY_DATABASE_URL: a user of DATABASE_URL's database with SELECT only/) });
    const writable = dbTool(["--read-only", "-e", "SELECT 1"], { DATABASE_URL: db.url, READONLY_DATABASE_URL: db.url });
    expect(writable).toEqual({ code: 1, stdout: "", stderr: expect.stringMatching(/^Error: READONLY_DATABASE_URL's user may change data \(INSERT, UPDATE, DELETE, /) });
  });
});

describe("npm run studio", () => {
  /** Studio on a terminal (util-linux `script`), stopped with Ctrl-C once it listens; its output and exit code, and the DATABASE_URL Studio itself was given. */
  async function studioUntilCtrlC(args: string[], env: Record<string, string>) {
    const port = await freePort();
    // exec: no shell waits in between, to take the Ctrl-C itself.
    const p = Bun.spawn(["script", "-qefc", ["exec", BUN, join(ROOT, "scripts/studio.ts"), "--port", String(port), ...args].join(" "), "/dev/null"], {
      cwd: "/tmp",
      env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? "/tmp", ...env },
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
    let output = "";
    const read = (async () => {
      for await (const chunk of p.stdout) output += new TextDecoder().decode(chunk);
    })();
    let studioUrl: string | undefined;
    for (let tries = 0; tries < 1200 && p.exitCode === null; tries++) {
      const answered = await fetch(`http://127.0.0.1:${port}/`).then((r) => r.ok, () => false);
      if (answered) {
        const prisma = processesWith("studio").find((s) => s.args.includes(String(port)) && s.args.some((a) => a.endsWith("prisma") || a.includes("prisma/build")));
        const environ = prisma ? readFileSync(`/proc/${prisma.pid}/environ`, "utf8").split("\0") : [];
        studioUrl = environ.find((e) => e.startsWith("DATABASE_URL="))?.slice("DATABASE_URL=".length);
        break;
      }
      await Bun.sleep(100);
    }
    p.stdin.write("\x03"); // Ctrl-C: the terminal sends SIGINT to the whole foreground group
    p.stdin.flush();
    const code = await p.exited;
    await read;
    return { code, output, studioUrl };
  }

  test("Ctrl-C stops it quietly, exit 0", async () => {
    const run = await studioUntilCtrlC([], { DATABASE_URL: db.url });
    expect(run.output).toContain("Prisma Studio is running at");
    expect(run.studioUrl).toBe(db.url);
    expect(run.output).not.toContain("Error");
    expect(run.code).toBe(0);
  }, 120_000);

  test("--read-only gives Studio the read-only user, and says so", async () => {
    const run = await studioUntilCtrlC(["--read-only"], { DATABASE_URL: db.url, READONLY_DATABASE_URL: readOnly });
    expect(run.output).toContain("Read-only: Studio connects as a user that may only SELECT; saving an edit fails.");
    expect(run.studioUrl).toBe(readOnly);
    expect(run.code).toBe(0);
  }, 120_000);

  test("--read-only with a user that may write is refused", () => {
    const run = Bun.spawnSync([BUN, join(ROOT, "scripts/studio.ts"), "--read-only"], { cwd: "/tmp", env: { PATH: process.env.PATH!, DATABASE_URL: db.url, READONLY_DATABASE_URL: db.url } });
    expect(run.exitCode).toBe(1);
    expect(run.stderr.toString()).toStartWith("Error: READONLY_DATABASE_URL's user may change data (");
  });
});
