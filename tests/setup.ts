/**
 * Preloaded by bunfig.toml: one throwaway MariaDB (mariadbd from Debian) in a
 * temp dir on a free port for the whole run, unless TEST_DATABASE_URL names a
 * server to use instead. Each test file makes its own database on it
 * (tests/helpers/db.ts).
 */
import { afterAll } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { provisionDatabase, startMariaDb } from "../lib/db/mariadb-server.ts";

// Home servers often run in their local time zone. Every stored time is UTC, so the
// suite runs away from UTC to show no time depends on the process's zone.
process.env.TZ ??= "America/New_York";

if (!process.env.TEST_DATABASE_URL) {
  const dir = mkdtempSync(join(tmpdir(), "obd2-test-mariadb-"));
  const server = await startMariaDb({
    dataDir: join(dir, "data"),
    // Throwaway data: trade durability for speed.
    extraArgs: ["--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0", "--innodb-buffer-pool-size=256M"],
  });
  process.env.TEST_DATABASE_URL = await provisionDatabase(server, {
    db: "obd2_test",
    user: "obd2_test",
    password: "obd2-test-password",
    allDatabases: true,
  });
  afterAll(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });
}
