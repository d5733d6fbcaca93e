/** `obd2-sync init`: creates the agent's tables in the Pi's database, or adopts an existing sync_log. */
import { EXIT, openPiDb, parseFlags, printJson, type ExitCode } from "../cli.ts";
import { loadConfig } from "../config.ts";
import { discoverTables } from "../delta.ts";
import { AGENT_TABLES, initStore } from "../store.ts";

export const usage = `Usage: obd2-sync init [--db PATH] [--config FILE] [--json]

Creates the agent's own tables (${AGENT_TABLES.join(", ")}) in the Pi's
database when they are missing. Safe to run again. An existing sync_log, such
as the Python client's, is adopted with its marks; the app's tables are
never changed. push and run do this themselves; init lets you check first.`;

export async function main(args: string[]): Promise<ExitCode> {
  const flags = parseFlags("init", args, {});
  const config = loadConfig(flags);
  const db = openPiDb(config.dbPath);
  try {
    const { present, missing, skipped } = discoverTables(db);
    const { adopted } = initStore(db, present.map((p) => p.name));
    const result = { db: config.dbPath, syncLog: adopted ? "adopted" : "created", agentTables: AGENT_TABLES, tables: present.map((p) => p.name), missing, skipped };
    if (flags.json) printJson(result);
    else {
      console.log(`${adopted ? "Adopted the existing sync_log (its marks are kept)" : "Created sync_log"} in ${config.dbPath}.`);
      console.log(`Agent tables ready: ${AGENT_TABLES.join(", ")}.`);
      console.log(`Tables to sync: ${present.map((p) => p.name).join(", ") || "none"}.`);
      if (missing.length) console.log(`Not in this database (skipped): ${missing.join(", ")}.`);
      if (skipped.length) console.log(`Not sent: ${skipped.map((s) => `${s.table} (${s.reason})`).join("; ")}.`);
    }
    return EXIT.ok;
  } finally {
    db.close();
  }
}
