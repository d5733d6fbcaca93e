/**
 * `npm run device -- <command>`: per-device API keys, on DATABASE_URL or the
 * embedded default. A device key `<id>.<secret>` may act only for its device;
 * only a salted hash of it is stored, so `add` shows the key once.
 */
import { DeviceIdSchema, newDeviceKey } from "../lib/http/auth.ts";
import { createDb, type Db } from "../lib/db/pools.ts";
import { migrate } from "../lib/db/migrate.ts";
import { withDatabaseUrl } from "./database-url.ts";

const USAGE = `Usage: npm run device -- <command>

  add <id>       Issue a key for device <id>, creating the device if needed.
                 Re-adding rotates the key: the old one stops working.
  revoke <id>    Remove the device's key (its data stays).
  list [--json]  Every device: id, display name, last seen, whether it has a key.

A device id is 1-64 characters of A-Z a-z 0-9 _ . -`;

type Command = { name: "add" | "revoke"; id: string } | { name: "list"; json: boolean };

class UsageError extends Error {}

function parseCommand(args: string[]): Command {
  const [name, ...rest] = args;
  if (name === "add" || name === "revoke") {
    const [id, ...extra] = rest;
    if (!id) throw new UsageError(`${name} needs a device id`);
    if (extra.length) throw new UsageError(`unexpected argument ${extra[0]}`);
    const valid = DeviceIdSchema.safeParse(id);
    if (!valid.success) throw new UsageError(`invalid device id "${id}": ${valid.error.issues[0]!.message}`);
    return { name, id };
  }
  if (name === "list") {
    const extra = rest.filter((a) => a !== "--json");
    if (extra.length) throw new UsageError(`unexpected argument ${extra[0]}`);
    return { name, json: rest.includes("--json") };
  }
  throw new UsageError(name ? `unknown command ${name}` : "missing command");
}

async function add(db: Db, id: string) {
  const { key, hash } = newDeviceKey(id);
  const existing = await db.prisma.devices.findUnique({ where: { device_id: id }, select: { api_key_hash: true } });
  await db.prisma.devices.upsert({ where: { device_id: id }, create: { device_id: id, api_key_hash: hash }, update: { api_key_hash: hash } });
  const what = !existing ? "Created device" : existing.api_key_hash ? "New key (the old one no longer works) for device" : "New key for device";
  console.error(`${what} ${id}. Give the Pi this key as COMPANION_API_KEY; it is not shown again:`);
  console.log(key);
}

async function revoke(db: Db, id: string) {
  const { count } = await db.prisma.devices.updateMany({ where: { device_id: id }, data: { api_key_hash: null } });
  if (count === 0) throw new Error(`no device ${id} (see npm run device -- list)`);
  console.error(`Revoked the key of device ${id}; only API_KEY can act for it now.`);
}

async function list(db: Db, json: boolean) {
  const devices = (
    await db.prisma.devices.findMany({
      select: { device_id: true, display_name: true, last_seen: true, api_key_hash: true },
      orderBy: { device_id: "asc" },
    })
  ).map((d) => ({ id: d.device_id, displayName: d.display_name, lastSeen: d.last_seen?.toISOString() ?? null, hasKey: d.api_key_hash !== null }));
  if (json) return console.log(JSON.stringify(devices, null, 2));
  if (!devices.length) return console.error("No devices yet: npm run device -- add <id>");
  const rows = [["ID", "NAME", "LAST SEEN", "KEY"], ...devices.map((d) => [d.id, d.displayName ?? "-", d.lastSeen ?? "never", d.hasKey ? "yes" : "no"])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(r.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd());
}

const args = process.argv.slice(2);
let command: Command | undefined;
if (args[0] === "help" || args.includes("--help") || args.includes("-h")) {
  console.log(USAGE);
} else {
  try {
    command = parseCommand(args);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`Error: ${err.message}\nTry: npm run device -- --help`);
    process.exitCode = 2;
  }
}

if (command) {
  const run = command;
  await withDatabaseUrl(async (url) => {
    // The server migrates on start; so does this, so keys can be issued before its first start.
    await migrate(url);
    const db = createDb(url, { connectionLimit: 1 });
    try {
      if (run.name === "list") await list(db, run.json);
      else if (run.name === "add") await add(db, run.id);
      else await revoke(db, run.id);
    } finally {
      await db.close();
    }
  });
}
