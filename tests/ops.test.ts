/**
 * The deployment files: the systemd units (systemd-analyze verify and the
 * directives the deployment relies on), the shell scripts (bash -n,
 * shellcheck), install-service.sh as a dry run into a directory, and
 * setup-mysql.sh twice against the test MariaDB.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { queryOnce as query } from "./helpers/db.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BUN = join(ROOT, "node_modules/.bin/bun");
const tmp = mkdtempSync(join(tmpdir(), "obd2-ops-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: "utf8", env: { ...process.env, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const which = (name: string) => run("sh", ["-c", `command -v ${name}`]).stdout.trim() || undefined;

type Unit = Record<string, Record<string, string[]>>;

/** A unit file as section -> key -> values (a key may repeat). */
function parseUnit(text: string): Unit {
  const unit: Unit = {};
  let section = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) unit[(section = header[1]!)] ??= {};
    else {
      const eq = line.indexOf("=");
      if (eq < 0) throw new Error(`not a directive: ${line}`);
      ((unit[section] ??= {})[line.slice(0, eq).trim()] ??= []).push(line.slice(eq + 1).trim());
    }
  }
  return unit;
}

const unitText = (name: string) => readFileSync(join(ROOT, "systemd", name), "utf8");

const HARDENING = { NoNewPrivileges: ["true"], ProtectSystem: ["strict"], PrivateTmp: ["true"] };
const RESTART = { Restart: ["on-failure"], RestartSec: ["10"] };

describe("systemd/obd2-server.service", () => {
  const unit = parseUnit(unitText("obd2-server.service"));

  test("should run bun on the install's server entry as obd2, with the install's .env", () => {
    expect(unit.Service).toMatchObject({
      Type: ["simple"],
      ExecStart: ["/opt/obd2-server/node_modules/.bin/bun run scripts/server.bun.ts"],
      WorkingDirectory: ["/opt/obd2-server"],
      EnvironmentFile: ["/opt/obd2-server/.env"],
      User: ["obd2"],
      Group: ["obd2"],
    });
    expect(unit.Install).toEqual({ WantedBy: ["multi-user.target"] });
  });

  test("should start after the network and the database, and restart on failure", () => {
    expect(unit.Unit!.After!.join(" ").split(/\s+/).sort()).toEqual(["mariadb.service", "mysql.service", "network-online.target"]);
    expect(unit.Unit!.Wants).toEqual(["network-online.target"]);
    expect(unit.Service).toMatchObject(RESTART);
  });

  test("should log JSON lines: NODE_ENV=production, so pino-pretty never runs under systemd", () => {
    expect(unit.Service!.Environment).toContain("NODE_ENV=production");
  });

  test("should be hardened, writable only in ./data, and give the 10 s drain time to finish", () => {
    expect(unit.Service).toMatchObject({ ...HARDENING, ProtectHome: ["true"], ReadWritePaths: ["/opt/obd2-server/data"] });
    expect(Number(unit.Service!.TimeoutStopSec)).toBeGreaterThanOrEqual(20);
  });
});

describe("systemd/obd2-sync.service", () => {
  const unit = parseUnit(unitText("obd2-sync.service"));

  test("should run the agent's daemon with daily backups, not restarting on a configuration error", () => {
    expect(unit.Service).toMatchObject({
      Type: ["simple"],
      ExecStart: ["/usr/local/bin/obd2-sync run --backup-every 24"],
      EnvironmentFile: ["/etc/obd2-sync.env"],
      ...RESTART,
      RestartPreventExitStatus: ["2"],
    });
    expect(unit.Unit!.After).toEqual(["network-online.target"]);
  });

  test("should be hardened and write only to the database directory", () => {
    const app = unit.Service!.WorkingDirectory![0]!;
    expect(unit.Service).toMatchObject({ ...HARDENING, ProtectHome: ["tmpfs"], BindReadOnlyPaths: [app], BindPaths: [`${app}/data`] });
    expect(unit.Service!.ReadWritePaths).toBeUndefined();
  });
});

describe.skipIf(!which("systemd-analyze"))("systemd-analyze verify", () => {
  // verify needs the ExecStart binaries to exist: check copies pointing at real files.
  const real: Record<string, [string, string]> = {
    "obd2-server.service": ["/opt/obd2-server/node_modules/.bin/bun", BUN],
    "obd2-sync.service": ["/usr/local/bin/obd2-sync", BUN],
  };
  for (const [name, [from, to]] of Object.entries(real)) {
    test(`${name} should verify without a warning`, () => {
      const dir = join(tmp, "verify");
      mkdirSync(dir, { recursive: true });
      const copy = join(dir, name);
      writeFileSync(copy, unitText(name).replaceAll(from, to));
      const r = run("systemd-analyze", ["verify", copy]);
      // Warnings (an unknown key, say) leave the exit code 0; only those about this file count.
      expect({ status: r.status, warnings: r.stderr.split("\n").filter((l) => l.includes(name)) }).toEqual({ status: 0, warnings: [] });
    });
  }
});

describe("shell scripts", () => {
  const scripts = readdirSync(join(ROOT, "scripts"))
    .filter((f) => f.endsWith(".sh"))
    .map((f) => `scripts/${f}`);

  test("should include the two deployment scripts", () => {
    expect(scripts).toEqual(expect.arrayContaining(["scripts/install-service.sh", "scripts/setup-mysql.sh"]));
  });

  test("should pass bash -n", () => {
    for (const s of scripts) expect({ s, ...run("bash", ["-n", s]) }).toEqual({ s, status: 0, stdout: "", stderr: "" });
  });

  const shellcheck = which("shellcheck");
  if (!shellcheck && !process.env.CI) console.warn("skipping shellcheck: not installed (apt-get install -y shellcheck)");
  // CI installs it (.ci/run), so there a missing shellcheck fails instead of skipping.
  test.skipIf(!shellcheck && !process.env.CI)("should pass shellcheck", () => {
    if (!shellcheck) throw new Error("shellcheck is not installed (apt-get install -y shellcheck)");
    expect(run(shellcheck, scripts)).toEqual({ status: 0, stdout: "", stderr: "" });
  });

  test("should print their usage with --help", () => {
    for (const s of scripts.filter((s) => !s.endsWith("no-schema-engine.sh"))) {
      const r = run(s, ["--help"]);
      expect({ s, status: r.status }).toEqual({ s, status: 0 });
      expect(r.stdout).toStartWith(`Usage: `);
    }
  });
});

describe("scripts/install-service.sh --root", () => {
  /** An install dir with a stand-in bun and `env` as its .env (none when undefined). */
  function installDir(env?: string) {
    const dir = mkdtempSync(join(tmp, "install-"));
    mkdirSync(join(dir, "node_modules/.bin"), { recursive: true });
    writeFileSync(join(dir, "node_modules/.bin/bun"), "#!/bin/sh\n");
    chmodSync(join(dir, "node_modules/.bin/bun"), 0o755);
    if (env !== undefined) writeFileSync(join(dir, ".env"), env);
    return dir;
  }

  const install = (dir: string, root: string) => run("scripts/install-service.sh", ["--dir", dir, "--root", root]);
  const installedUnit = (root: string) => readFileSync(join(root, "etc/systemd/system/obd2-server.service"), "utf8");
  /** The shipped unit as it should be installed in `dir`. */
  const expectedUnit = (dir: string, writable = `${dir}/data`) =>
    unitText("obd2-server.service")
      .split("\n")
      .map((l) => (l.startsWith("#") ? l : l.replaceAll("/opt/obd2-server", dir)))
      .join("\n")
      .replace(/^ReadWritePaths=.*$/m, `ReadWritePaths=${writable}`);

  test("should lay out the unit with the install dir and print the systemctl commands, the same each run", () => {
    const dir = installDir("API_KEY=install-test-key-0123456789\n");
    const root = join(dir, "root");
    const first = install(dir, root);
    expect(first.status).toBe(0);
    expect(installedUnit(root)).toBe(expectedUnit(dir));
    expect(existsSync(join(root, dir, "data"))).toBe(true);
    const commands = first.stdout.split("\n").filter((l) => l.startsWith("would run: systemctl"));
    expect(commands).toEqual([
      "would run: systemctl daemon-reload",
      "would run: systemctl enable obd2-server",
      "would run: systemctl restart obd2-server",
    ]);
    expect(first.stdout).toContain(`would run: chown -R obd2:obd2 ${dir}/data`);

    const second = install(dir, root);
    expect(second).toEqual(first);
    expect(installedUnit(root)).toBe(expectedUnit(dir));
    expect(readdirSync(join(root, "etc/systemd/system"))).toEqual(["obd2-server.service"]);
  });

  test("should make a BACKUP_DIR outside ./data writable too", () => {
    const dir = installDir('API_KEY="install-test-key-0123456789"\nBACKUP_DIR=/srv/obd2-backups\n');
    const root = join(dir, "root");
    expect(install(dir, root).status).toBe(0);
    expect(installedUnit(root)).toBe(expectedUnit(dir, `${dir}/data /srv/obd2-backups`));
    expect(existsSync(join(root, "srv/obd2-backups"))).toBe(true);
  });

  test("should refuse without a .env, and install nothing", () => {
    const dir = installDir();
    const r = install(dir, join(dir, "root"));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`Error: ${dir}/.env is missing`);
    expect(existsSync(join(dir, "root"))).toBe(false);
  });

  test("should refuse a .env whose API_KEY is empty or commented out, and install nothing", () => {
    const dir = installDir("# API_KEY=commented-out-key-0123456789\nAPI_KEY=\nPORT=8000\n");
    const r = install(dir, join(dir, "root"));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`Error: API_KEY is not set in ${dir}/.env`);
    expect(existsSync(join(dir, "root"))).toBe(false);
  });
});

describe("scripts/setup-mysql.sh", () => {
  const admin = new URL(process.env.TEST_DATABASE_URL!);
  const tag = randomBytes(4).toString("hex");
  const names = { user: `obd2_su_${tag}`, db: `obd2_s_${tag}`, testDb: `obd2_s_${tag}_t` };

  const adminQuery = <T = any>(sql: string) => query<T>(admin.toString(), sql);

  // The account's host is the one the test harness itself connects from.
  let host = "";
  afterAll(async () => {
    await adminQuery(`DROP DATABASE IF EXISTS \`${names.db}\``);
    await adminQuery(`DROP DATABASE IF EXISTS \`${names.testDb}\``);
    if (host) await adminQuery(`DROP USER IF EXISTS '${names.user}'@'${host}'`);
  });

  const setup = (password: string) =>
    run("scripts/setup-mysql.sh", [], {
      OBD2_DB_PASSWORD: password,
      OBD2_DB_USER: names.user,
      OBD2_DB_HOST: host,
      OBD2_DB_NAME: names.db,
      OBD2_TEST_DB_NAME: names.testDb,
      MYSQL_ADMIN_USER: decodeURIComponent(admin.username),
      MYSQL_ADMIN_PASSWORD: decodeURIComponent(admin.password),
      MYSQL_HOST: admin.hostname,
      MYSQL_PORT: admin.port || "3306",
    });

  const serviceUrl = (password: string) =>
    `mysql://${names.user}:${encodeURIComponent(password)}@${admin.hostname}:${admin.port || 3306}/${names.db}`;

  const asService = <T = any>(password: string, sql: string) => query<T>(serviceUrl(password), sql);

  test("should refuse to run without OBD2_DB_PASSWORD", () => {
    const r = setup("");
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("Error: OBD2_DB_PASSWORD is required");
  });

  test("should run twice, leaving a user with the second password and rights on its two databases only", async () => {
    const [me] = await adminQuery<{ u: string }[]>("SELECT CURRENT_USER() AS u");
    host = me!.u.slice(me!.u.lastIndexOf("@") + 1);
    // Quotes, backslashes and URL delimiters must survive SQL, the option file and the URL.
    const passwords = [`first'pa\\ss"word-${tag}`, `sec@nd:p/ss%w'rd-ä-${tag}`];
    for (const password of passwords) {
      const r = setup(password);
      expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: "" });
      expect(r.stdout).toContain(`DATABASE_URL=mysql://${names.user}:****@${admin.hostname}:${admin.port || 3306}/${names.db}`);
      expect(r.stdout + r.stderr).not.toContain(password);
    }
    const password = passwords[1]!;

    await expect(asService(passwords[0]!, "SELECT 1")).rejects.toThrow(/Access denied/);
    const dbs = (await asService<{ Database: string }[]>(password, "SHOW DATABASES")).map((r) => r.Database);
    expect(dbs.sort()).toEqual(["information_schema", names.db, names.testDb].sort());
    // _ in a GRANT is a wildcard; the grant must not stretch to names it would match.
    for (const other of [names.db.replaceAll("_", "x"), `obd2_other_${tag}`]) {
      await expect(asService(password, `CREATE DATABASE \`${other}\``)).rejects.toThrow(/Access denied/);
    }
    const [migrated] = await asService<{ n: bigint }[]>(password, "SELECT COUNT(*) AS n FROM _prisma_migrations WHERE finished_at IS NOT NULL");
    expect(Number(migrated!.n)).toBeGreaterThan(0);
    await asService(password, `CREATE TABLE \`${names.testDb}\`.probe (id INT)`);
  });
});
