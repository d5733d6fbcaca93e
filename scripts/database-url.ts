/**
 * For the npm scripts: DATABASE_URL from the configuration, or the embedded
 * default (started for the duration); with `readOnly`, a user of that
 * database that may only SELECT (the embedded one's obd2_readonly, or
 * READONLY_DATABASE_URL), checked before it is used.
 */
import * as mariadb from "mariadb";
import { loadDatabaseUrl, loadReadOnlyDatabaseUrl } from "../lib/config.ts";
import { startEmbeddedDb, type EmbeddedDb } from "../lib/db/embedded.ts";
import { connectionOptions } from "../lib/db/pools.ts";

/** What a user may do besides reading, as information_schema lists the current user's privileges (globally and on its database). */
export async function writePrivileges(url: string): Promise<string[]> {
  const conn = await mariadb.createConnection(connectionOptions(url));
  try {
    const grantee = `CONCAT("'", SUBSTRING_INDEX(CURRENT_USER(), '@', 1), "'@'", SUBSTRING_INDEX(CURRENT_USER(), '@', -1), "'")`;
    const rows: { p: string }[] = await conn.query(
      `SELECT PRIVILEGE_TYPE AS p FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = ${grantee}
       UNION SELECT PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = ${grantee} AND TABLE_SCHEMA = DATABASE()
       UNION SELECT PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE = ${grantee} AND TABLE_SCHEMA = DATABASE()`,
    );
    return rows.map((r) => r.p).filter((p) => !["USAGE", "SELECT", "SHOW VIEW"].includes(p));
  } finally {
    await conn.end();
  }
}

/** The read-only URL for `--read-only`; throws, saying what to do, when there is none or its user may write. */
async function readOnlyUrl(embedded: EmbeddedDb | undefined): Promise<string> {
  const url = embedded ? await embedded.readOnlyUrl() : loadReadOnlyDatabaseUrl();
  if (!url) {
    throw new Error(
      "--read-only needs READONLY_DATABASE_URL: a user of DATABASE_URL's database with SELECT only, e.g. " +
        "CREATE USER 'obd2_readonly'@'%' IDENTIFIED BY '<password>'; GRANT SELECT ON obd2.* TO 'obd2_readonly'@'%'; (see docs/operations.md)",
    );
  }
  const writes = await writePrivileges(url);
  if (writes.length) {
    const some = `${writes.slice(0, 4).join(", ")}${writes.length > 4 ? ", …" : ""}`;
    throw new Error(`READONLY_DATABASE_URL's user may change data (${some}); give it SELECT only, or use another user`);
  }
  return url;
}

/** Runs `work` on the database; any failure (configuration included) is printed as `Error: …` with exit code 1. */
export async function withDatabaseUrl(work: (url: string) => Promise<void>, { readOnly = false } = {}): Promise<void> {
  let embedded: EmbeddedDb | undefined;
  try {
    const DATABASE_URL = loadDatabaseUrl();
    if (!DATABASE_URL) embedded = await startEmbeddedDb();
    await work(readOnly ? await readOnlyUrl(embedded) : (DATABASE_URL ?? embedded!.url));
  } catch (err) {
    console.error(`Error: ${(err as Error).message}`);
    process.exitCode = 1;
  } finally {
    await embedded?.stop();
  }
}
