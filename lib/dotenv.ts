/**
 * `.env` files: KEY=VALUE lines, `#` comments, an optional `export`, and
 * surrounding quotes. Shared by the server's config and the Pi agent, so it
 * imports nothing (the agent's binary stays small).
 */
import { existsSync, readFileSync } from "node:fs";

export function parseDotenv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m) continue;
    let value = m[2]!;
    const quoted = /^(["'])(.*)\1$/.exec(value);
    value = quoted ? quoted[2]! : value.replace(/\s+#.*$/, "");
    out[m[1]!] = value;
  }
  return out;
}

/** The variables of the `.env` file at `path`; none when there is no such file. */
export function readDotenv(path: string): Record<string, string> {
  return existsSync(path) ? parseDotenv(readFileSync(path, "utf8")) : {};
}
