/**
 * `npm start`: the first-run path. On a fresh checkout with no .env and no
 * API_KEY it writes a .env with a generated API_KEY, then starts the Bun
 * server (which brings up the embedded MariaDB when DATABASE_URL is unset).
 */
import { randomBytes } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";

if (!existsSync(".env") && !process.env.API_KEY) {
  const key = randomBytes(24).toString("base64url");
  writeFileSync(
    ".env",
    `# Written by the first \`npm start\`; see .env.example for every setting.\n# Give the Pi this key as COMPANION_API_KEY.\nAPI_KEY=${key}\n`,
    { mode: 0o600 },
  );
  console.error("Created .env with a new API_KEY (give it to the Pi as COMPANION_API_KEY).");
}

await import("./server.bun.ts");
