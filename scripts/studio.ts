/**
 * `npm run studio [-- --port <n>] [-- --read-only]`: Prisma Studio (default
 * port 5555) on DATABASE_URL or the embedded default, which stays up while
 * Studio runs. Studio can edit rows; --read-only connects it as a user that
 * may only SELECT (database-url.ts), so an edit fails instead of changing
 * mirrored data. Prisma's native schema engine cannot be downloaded offline
 * and Studio does not need it, so a stand-in is named instead. Ctrl-C stops
 * Studio and the embedded MariaDB quietly.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { withDatabaseUrl } from "./database-url.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

function parseOptions(args: string[]): { port: number; readOnly: boolean } | string {
  try {
    const { values } = parseArgs({ args, options: { port: { type: "string", short: "p" }, "read-only": { type: "boolean" } }, strict: true });
    const port = Number(values.port ?? 5555);
    if (!Number.isInteger(port) || port < 1 || port > 65535) return `--port needs a port number (1-65535), not ${values.port}`;
    return { port, readOnly: values["read-only"] ?? false };
  } catch (err) {
    return (err as Error).message.split(". ")[0]!;
  }
}

const options = parseOptions(process.argv.slice(2));
if (typeof options === "string") {
  console.error(`Error: ${options}\nTry: npm run studio -- --port 5555 [--read-only]`);
  process.exitCode = 2;
} else {
  await withDatabaseUrl(
    async (url) => {
      const studio = spawn(join(root, "node_modules/.bin/prisma"), ["studio", "--port", String(options.port), "--browser", "none"], {
        cwd: root,
        stdio: "inherit",
        // prisma.config.ts reads DATABASE_URL from the environment.
        env: { ...process.env, DATABASE_URL: url, PRISMA_SCHEMA_ENGINE_BINARY: join(root, "scripts/no-schema-engine.sh") },
      });
      if (options.readOnly) console.error("Read-only: Studio connects as a user that may only SELECT; saving an edit fails.");
      let stopping = false;
      // Ctrl-C reaches Studio too (one process group); forwarding covers a signal sent to this process alone.
      const forward = (signal: NodeJS.Signals) => {
        stopping = true;
        studio.kill(signal);
      };
      process.on("SIGINT", forward).on("SIGTERM", forward);
      const code = await new Promise<number | null>((done) => studio.once("exit", done));
      process.off("SIGINT", forward).off("SIGTERM", forward);
      if (code && !stopping) throw new Error(`prisma studio exited with code ${code}`);
    },
    { readOnly: options.readOnly },
  );
}
