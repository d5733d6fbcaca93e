/**
 * `npm start`: the first-run path. On a fresh checkout with no .env and no
 * API_KEY it writes a .env with a generated admin API_KEY, then starts the
 * Bun server (which brings up the embedded MariaDB when DATABASE_URL is
 * unset), and says where the admin key is and how a Pi gets its own key.
 */
import { randomBytes } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";

/** The one way a Pi gets a key; .env.example and the README say the same. */
const PI_KEY = "a Pi gets its own key: npm run device -- add <id> (it prints the Pi's COMPANION_API_KEY once)";

if (!existsSync(".env") && !process.env.API_KEY) {
  const key = randomBytes(24).toString("base64url");
  writeFileSync(
    ".env",
    `# Written by the first \`npm start\`; see .env.example for every setting.\n# API_KEY is the admin key, for you and your scripts; ${PI_KEY}.\nAPI_KEY=${key}\n`,
    { mode: 0o600 },
  );
  console.error(`Created ${resolve(".env")} with a new admin API_KEY.`);
}

const { booted } = await import("./server.bun.ts");
booted.logger.info(`Admin key: ${process.env.API_KEY ? "API_KEY in the environment" : `API_KEY in ${resolve(".env")}`}, for you and your scripts`);
booted.logger.info(`For the Pi: ${PI_KEY}`);
