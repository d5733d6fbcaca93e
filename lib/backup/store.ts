/**
 * Backup files on disk. Layout:
 *
 *   {BACKUP_DIR}/{deviceId}/{type}/{stem}-{YYYY-MM-DDTHH-MM-SS-mmm}[-n]{ext}
 *   {BACKUP_DIR}/{deviceId}/{type}/{that name}.sha256   (its hex digest)
 *
 * An upload streams into a temp file `.upload-*` in its target directory, or
 * in {BACKUP_DIR}/.incoming when the file arrives before the fields naming
 * that directory (same filesystem, so the rename stays atomic). The temp file
 * is fsynced, renamed under its final name, and the directory fsynced: a final
 * name only ever holds a whole file. `-n` separates uploads of one name within
 * one millisecond. One server process per BACKUP_DIR is assumed.
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readdirSync, renameSync, rmSync, writeSync } from "node:fs";
import { mkdir, open, readdir, readFile, rm, stat } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { z } from "zod";
import { DeviceIdSchema } from "../http/auth.ts";

const BACKUP_TYPES = ["database", "logs", "config"] as const;
export type BackupType = (typeof BACKUP_TYPES)[number];

export const BackupTypeSchema = z.enum(BACKUP_TYPES, { error: `must be one of ${BACKUP_TYPES.join(", ")}` });

export const ALLOWED_EXTENSIONS = ".db, .log, .json, .gz";
// ".db.gz" and friends stay whole; the gzip of something else is just ".gz".
const EXTENSION = String.raw`((?:\.(?:db|log|json|tar))?\.gz|\.(?:db|log|json))`;
const UPLOAD_NAME = new RegExp(`^(.*?)${EXTENSION}$`, "i");
const STORED_NAME = new RegExp(String.raw`^.+-(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3})(?:-(\d+))?${EXTENSION}$`);

const INCOMING = ".incoming";
const TEMP_PREFIX = ".upload-";
const SIDECAR = ".sha256";
const MAX_STEM = 100;

/**
 * The stem and extension an uploaded filename is stored under, or undefined
 * when its extension is not allowed. Any directory part is dropped, the stem
 * keeps only [A-Za-z0-9_.-] (no leading "." or "-") and at most 100 characters.
 */
export function splitUploadName(filename: string): { stem: string; ext: string } | undefined {
  const m = UPLOAD_NAME.exec(filename.split(/[\\/]/).pop()!);
  if (!m) return undefined;
  const stem = m[1]!.replace(/[^A-Za-z0-9_.-]+/g, "_").replace(/^[._-]+/, "").slice(0, MAX_STEM);
  return { stem: stem || "backup", ext: m[2]!.toLowerCase() };
}

const stampOf = (at: Date) => at.toISOString().slice(0, 23).replace(/[:.]/g, "-");

function storedName(stem: string, ext: string, at: Date, n: number): string {
  return `${stem}-${stampOf(at)}${n ? `-${n}` : ""}${ext}`;
}

/** `name` inside `dir`, refusing (as a bug, not bad input) anything that would resolve elsewhere. */
function inside(dir: string, name: string): string {
  const path = resolve(dir, name);
  if (!path.startsWith(resolve(dir) + sep)) throw new Error(`refusing a backup path outside ${dir}: ${JSON.stringify(name)}`);
  return path;
}

/** The directory of one device's backups of one type. */
export function backupDir(root: string, deviceId: string, type: BackupType): string {
  return inside(inside(root, deviceId), type);
}

/** Where a file that arrives before its fields is staged. */
export const incomingDir = (root: string) => join(resolve(root), INCOMING);

async function fsyncPath(path: string) {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export type Staged = { path: string; sizeBytes: number; sha256: string };

/**
 * Streams `chunks` into a new temp file in `dir` and fsyncs it, hashing as it
 * goes. Each write completes before the next chunk is read, so a slow disk
 * slows the sender. Past `maxBytes` it throws `tooLarge()`. On any failure
 * (including the source's, such as a disconnect) the temp file is removed.
 */
export async function stageUpload(dir: string, chunks: AsyncIterable<Uint8Array>, maxBytes: number, tooLarge: () => Error): Promise<Staged> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${TEMP_PREFIX}${randomBytes(8).toString("hex")}.tmp`);
  const hash = createHash("sha256");
  let sizeBytes = 0;
  const file = await open(path, "wx", 0o600);
  try {
    for await (const chunk of chunks) {
      sizeBytes += chunk.byteLength;
      if (sizeBytes > maxBytes) throw tooLarge();
      hash.update(chunk);
      // Synchronous on purpose: under Bun an awaited FileHandle.write keeps each chunk alive until a
      // later GC (RSS +70-80 MB for a 100-400 MB upload, against +30 MB flat this way). A write into
      // the page cache takes microseconds, and the next chunk is not read until it returns.
      for (let done = 0; done < chunk.byteLength; ) done += writeSync(file.fd, chunk, done);
    }
    await file.sync();
  } catch (err) {
    await file.close().catch(() => {});
    await rm(path, { force: true });
    throw err;
  }
  await file.close();
  return { path, sizeBytes, sha256: hash.digest("hex") };
}

/** Removes a staged upload that will not be committed. */
export const discardStaged = (staged: Staged) => rm(staged.path, { force: true });

/**
 * Gives a staged upload its final name in `dir` (with its sidecar) and makes
 * that durable; returns the name. The sidecar goes first, so a crash between
 * the renames leaves an orphan sidecar (swept at start-up), never a backup
 * without its digest.
 */
export async function commitUpload(staged: Staged, dir: string, stem: string, ext: string, at: Date): Promise<string> {
  await mkdir(dir, { recursive: true });
  const sidecarTemp = join(dir, `${TEMP_PREFIX}${randomBytes(8).toString("hex")}${SIDECAR}.tmp`);
  try {
    const handle = await open(sidecarTemp, "wx", 0o600);
    try {
      await handle.writeFile(`${staged.sha256}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    // Synchronous from the existence check to the renames: no other request of
    // this process can pick the same name in between.
    let name = storedName(stem, ext, at, 0);
    for (let n = 1; existsSync(inside(dir, name)) || existsSync(inside(dir, name + SIDECAR)); n++) name = storedName(stem, ext, at, n);
    renameSync(sidecarTemp, inside(dir, name + SIDECAR));
    renameSync(staged.path, inside(dir, name));
    await fsyncPath(dir);
    if (dirname(staged.path) !== dir) await fsyncPath(dirname(staged.path));
    return name;
  } finally {
    await rm(sidecarTemp, { force: true });
  }
}

export type StoredBackup = {
  deviceId: string;
  type: BackupType;
  filename: string;
  sizeBytes: number;
  storedAt: Date;
  /** The digest from the sidecar; null when the sidecar is missing (a file placed by hand). */
  sha256: string | null;
};

type Named = { filename: string; stamp: string; n: number };

/** Newest first: by the time in the name, then the same-millisecond counter, then the name. */
const newestFirst = (a: Named, b: Named) => b.stamp.localeCompare(a.stamp) || b.n - a.n || b.filename.localeCompare(a.filename);

/** The backups in one directory (files named as this module names them), newest first. */
async function backupsIn(dir: string): Promise<Named[]> {
  const entries = await readdir(dir).catch((err) => {
    if (err.code === "ENOENT") return [] as string[];
    throw err;
  });
  const named: Named[] = [];
  for (const filename of entries) {
    const m = STORED_NAME.exec(filename);
    if (m) named.push({ filename, stamp: m[1]!, n: Number(m[2] ?? 0) });
  }
  return named.sort(newestFirst);
}

/**
 * Keeps the newest `keep` backups in `dir` and deletes the rest with their
 * sidecars. `justStored` is always kept, whatever the clock said when it was
 * named. Returns the deleted names.
 */
export async function rotate(dir: string, keep: number, justStored: string): Promise<string[]> {
  const others = (await backupsIn(dir)).filter((b) => b.filename !== justStored);
  const doomed = others.slice(Math.max(0, keep - 1)).map((b) => b.filename);
  for (const name of doomed) {
    // The file before its sidecar, so a crash in between leaves an orphan sidecar, not a file without a digest.
    await rm(inside(dir, name), { force: true });
    await rm(inside(dir, name + SIDECAR), { force: true });
  }
  return doomed;
}

/**
 * The path of a stored backup named by a request, or undefined when the name
 * is not one this module gives a backup (a sidecar, a temp file, anything
 * with a directory part): the only files a download may read.
 */
export function storedBackupPath(root: string, deviceId: string, type: BackupType, filename: string): string | undefined {
  if (!STORED_NAME.test(filename) || /[/\\]/.test(filename) || filename.startsWith(".")) return undefined;
  return inside(backupDir(root, deviceId, type), filename);
}

/** The digest recorded in a backup's sidecar at upload, or null without one. */
export async function recordedDigest(path: string): Promise<string | null> {
  const sidecar = await readFile(path + SIDECAR, "utf8").catch(() => "");
  return /^[0-9a-f]{64}$/.exec(sidecar.trim())?.[0] ?? null;
}

/** Names of the directories in `dir`; none when it does not exist. */
function subdirs(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name);
}

/** Stored backups, newest first, of one device and/or type or of all. */
export async function listBackups(root: string, filter: { deviceId?: string; type?: BackupType }): Promise<StoredBackup[]> {
  const devices = filter.deviceId ? [filter.deviceId] : subdirs(root).filter((d) => DeviceIdSchema.safeParse(d).success);
  const types = filter.type ? [filter.type] : BACKUP_TYPES;
  const found: (Named & { deviceId: string; type: BackupType; dir: string })[] = [];
  for (const deviceId of devices) {
    for (const type of types) {
      const dir = backupDir(root, deviceId, type);
      for (const b of await backupsIn(dir)) found.push({ ...b, deviceId, type, dir });
    }
  }
  found.sort(newestFirst);
  const out: StoredBackup[] = [];
  for (const b of found) {
    const info = await stat(inside(b.dir, b.filename)).catch(() => undefined);
    if (!info?.isFile()) continue; // rotated away since the directory was read
    const sha256 = await recordedDigest(inside(b.dir, b.filename));
    out.push({
      deviceId: b.deviceId,
      type: b.type,
      filename: b.filename,
      sizeBytes: info.size,
      storedAt: new Date(b.stamp.replace(/T(\d\d)-(\d\d)-(\d\d)-/, "T$1:$2:$3.") + "Z"),
      sha256,
    });
  }
  return out;
}

/**
 * Removes what interrupted uploads left behind: everything in
 * {root}/.incoming, `.upload-*` temp files in backup directories, and
 * sidecars whose backup is gone. Real backups are left alone. Call it at
 * start-up, before the server takes uploads. Returns the removed paths.
 */
export function sweepStaleUploads(root: string): string[] {
  const incoming = incomingDir(root);
  const stale = existsSync(incoming) ? readdirSync(incoming).map((name) => join(incoming, name)) : [];
  for (const device of subdirs(root).filter((d) => d !== INCOMING)) {
    for (const type of subdirs(join(root, device))) {
      const dir = join(resolve(root), device, type);
      for (const name of readdirSync(dir)) {
        const backup = name.slice(0, -SIDECAR.length);
        const orphanSidecar = name.endsWith(SIDECAR) && STORED_NAME.test(backup) && !existsSync(join(dir, backup));
        if (name.startsWith(TEMP_PREFIX) || orphanSidecar) stale.push(join(dir, name));
      }
    }
  }
  for (const path of stale) rmSync(path, { recursive: true, force: true });
  return stale;
}
