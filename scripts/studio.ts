/**
 * `npm run studio [-- --port <n>]`: Prisma Studio (default port 5555) on
 * DATABASE_URL or the embedded default, which stays up while Studio runs.
 * Prisma's native schema engine cannot be downloaded offline and Studio does
 * not need it, so a stand-in is named instead.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { withDatabaseUrl } from "./database-url.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

function parsePort(args: string[]): number | string {
  if (!args.length) return 5555;
  const [flag, value, ...extra] = args;
  if ((flag !== "--port" && flag !== "-p") || extra.length) return `unexpected argument ${flag === "--port" || flag === "-p" ? extra[0] : flag}`;
  const port = Number(value);
  return Number.isInteger(port) && port >= 1 && port <= 65535 ? port : `--port needs a port number (1-65535), not ${value ?? "nothing"}`;
}

const port = parsePort(process.argv.slice(2));
if (typeof port === "string") {
  console.error(`Error: ${port}\nTry: npm run studio -- --port 5555`);
  process.exitCode = 2;
} else {
  await withDatabaseUrl(async (url) => {
    const studio = spawn(join(root, "node_modules/.bin/prisma"), ["studio", "--port", String(port), "--browser", "none"], {
      cwd: root,
      stdio: "inherit",
      // prisma.config.ts reads DATABASE_URL from the environment.
      env: { ...process.env, DATABASE_URL: url, PRISMA_SCHEMA_ENGINE_BINARY: join(root, "scripts/no-schema-engine.sh") },
    });
    const forward = (signal: NodeJS.Signals) => studio.kill(signal);
    process.on("SIGINT", forward).on("SIGTERM", forward);
    const code = await new Promise<number | null>((done) => studio.once("exit", done));
    process.off("SIGINT", forward).off("SIGTERM", forward);
    if (code) throw new Error(`prisma studio exited with code ${code}`);
  });
}
