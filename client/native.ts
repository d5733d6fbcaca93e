/**
 * gzip and SHA-256 through Bun's built-ins on Bun (the compiled agent), and
 * node:zlib / node:crypto on Node. On Bun those node: modules are extra
 * JavaScript layers that cost the agent about 10 MB of RSS on the Pi.
 */
const isBun = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined";
const node = isBun ? undefined : { zlib: await import("node:zlib"), crypto: await import("node:crypto") };

// Level 3: most of level 6's ratio on telemetry JSON for a fraction of the Pi's CPU.
const LEVEL = 3;

export function gzip(text: string | Uint8Array): Uint8Array<ArrayBuffer> {
  return node ? (node.zlib.gzipSync(text, { level: LEVEL }) as Uint8Array<ArrayBuffer>) : Bun.gzipSync(text as string | Uint8Array<ArrayBuffer>, { level: LEVEL });
}

export type Sha256 = { update(data: string | Uint8Array): unknown; digest(encoding: "hex"): string };

/** An incremental SHA-256, for a file hashed a piece at a time. */
export function sha256Hasher(): Sha256 {
  return node ? node.crypto.createHash("sha256") : new Bun.CryptoHasher("sha256");
}

export function sha256Hex(text: string | Uint8Array): string {
  const hash = sha256Hasher();
  hash.update(text);
  return hash.digest("hex");
}

/**
 * Bun's collector runs lazily: left alone, a long drain's garbage (row
 * objects, JSON, gzip buffers) grows the agent to ~90 MB of RSS. Collecting
 * after every page read and every chunk sent keeps it flat, for a few
 * percent of a drain's time. Node's collector needs no help.
 */
export function collectGarbage() {
  if (isBun) Bun.gc(true);
}
