/**
 * obd2-sync: the Pi's sync agent. Pushes the EclipseTuner database's new and
 * changed rows to OBD2-Server, exactly once, while the logger keeps writing,
 * backs the database and logs up there, and asks it to analyse a drive.
 * `bun client/main.ts <command>`, `node --import tsx client/main.ts <command>`,
 * or the compiled binary (scripts/build-client.ts).
 */
import { version } from "../lib/version.ts";
import { CliError, EXIT } from "./cli.ts";
import * as analyze from "./commands/analyze.ts";
import * as backup from "./commands/backup.ts";
import * as init from "./commands/init.ts";
import * as push from "./commands/push.ts";
import * as restore from "./commands/restore.ts";
import * as run from "./commands/run.ts";
import * as status from "./commands/status.ts";

const COMMANDS: Record<string, { usage: string; main(args: string[]): Promise<number> }> = { init, status, push, run, backup, restore, analyze };

const USAGE = `Usage: obd2-sync <command> [options]

Commands:
  init     create the agent's tables in the Pi's database (or adopt an existing sync_log)
  status   per table: mark, backlog, oldest unsynced row, quarantine, last error
  push     send everything not yet on the server, then print a summary
  run      the daemon: probe the server every --interval seconds and push when reachable
  backup   upload a consistent snapshot of the database (and changed log files) to the server
  restore  verify a downloaded database backup, move its ids past the server's, and
           unpack it into place (restore --offline: without asking the server)
  analyze  analyze --last-drive: ask the server to analyse the last completed drive and
           print its recommendations and findings

Common options:
  --db PATH          the Pi's SQLite database (default ./data/obd.db, or pi.database.path)
  --server URL       OBD2-Server base URL (companionService.baseUrl)
  --device-id ID     this Pi's device id (companionService.deviceId)
  --batch-size N     rows per POST (default 5000)
  --config FILE      the Pi app's JSON config (default ./obd_config.json)
  --json             machine-readable output

The API key is read from COMPANION_API_KEY (environment or .env), never from a flag.
Run \`obd2-sync help <command>\` (or \`obd2-sync <command> --help\`) for a command's options,
\`obd2-sync --version\` for the version.`;

/** The command `name` names; a usage error otherwise. */
function commandNamed(name: string) {
  const command = COMMANDS[name];
  if (!command) throw new CliError(`unknown command '${name}'`, "obd2-sync --help");
  return command;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === "--version" || name === "-V") {
    console.log(`obd2-sync ${version}`);
    return EXIT.ok;
  }
  if (name === "help" && args.length) {
    console.log(commandNamed(args[0]!).usage);
    return EXIT.ok;
  }
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(USAGE);
    return name ? EXIT.ok : EXIT.usage;
  }
  const command = commandNamed(name);
  if (args.includes("--help") || args.includes("-h")) {
    console.log(command.usage);
    return EXIT.ok;
  }
  return command.main(args);
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  if (err instanceof CliError) {
    console.error(`Error: ${err.message}\nTry: ${err.hint}`);
    process.exitCode = err.exitCode;
  } else {
    console.error(`Error: ${(err as Error)?.message ?? String(err)}\nTry: run again; if it persists, report it with the output of \`obd2-sync status\``);
    process.exitCode = EXIT.unsynced;
  }
}
