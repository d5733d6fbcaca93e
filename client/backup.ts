/**
 * Backups of the Pi's database and log files to OBD2-Server, and restoring
 * one. No file is ever held in memory, whatever its size: every step reads
 * and writes it a piece at a time.
 *
 * - The database: a snapshot taken with VACUUM INTO (one read transaction,
 *   so a consistent copy that includes commits still in the -wal file while
 *   the logger keeps writing; never a copy of the file), checked with
 *   PRAGMA integrity_check, gzipped and hashed, then uploaded with its sha256.
 * - Log files: each one matching the pattern whose size or modification
 *   time changed since its last successful upload, gzipped.
 * - Temp files go in one directory (next to the database unless told
 *   otherwise: a Pi's /tmp is a small tmpfs) and are removed however the
 *   run ends; what a killed run left is swept by the next one.
 * - sync_backup, the agent's own table in the Pi's database, remembers the
 *   last database backup and, per log file, what was uploaded.
 */
import { chmodSync, chownSync, closeSync, existsSync, fsyncSync, openSync, readdirSync, readSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { collectGarbage, gzip, sha256Hasher } from "./native.ts";
import { Stopped } from "./shutdown.ts";
import { openDb, type SqliteDb } from "./sqlite.ts";
import { BACKUP_DDL, hasTable } from "./store.ts";
import { AuthError, FILE_PIECE_BYTES, NotFound, Unreachable, type StoredBackup, type SyncClient, type Upload } from "./transport.ts";

/** The temp files of one backup or restore, all in `dir` and named `<prefix><random><suffix>`. */
export class TempFiles {
  private readonly made: string[] = [];

  constructor(
    readonly dir: string,
    readonly prefix: string,
  ) {}

  path(suffix: string): string {
    const path = join(this.dir, `${this.prefix}${crypto.randomUUID().slice(0, 8)}${suffix}`);
    this.made.push(path);
    return path;
  }

  /** Deletes every temp file made, with any journal SQLite left beside it. */
  remove() {
    for (const path of this.made) for (const extra of ["", "-journal", "-wal", "-shm"]) rmSync(path + extra, { force: true });
  }

  /** Deletes what an earlier run with the same prefix left when it was killed; one run per prefix at a time (a backup holds the lock). */
  sweep(): string[] {
    const stale = readdirSync(this.dir).filter((name) => name.startsWith(this.prefix));
    for (const name of stale) rmSync(join(this.dir, name), { force: true });
    return stale;
  }
}

/** The temp files of a backup of `dbPath`, in `dir`. */
export const backupTemp = (dbPath: string, dir: string) => new TempFiles(dir, `${basename(dbPath)}.obd2-backup-`);

type FileDigest = { size: number; sha256: string };

/** Lets a signal handler run between pieces, and stops at a stop signal. */
async function between(stop: AbortSignal) {
  await new Promise((next) => setImmediate(next));
  if (stop.aborted) throw new Stopped("stopped");
}

function writeAll(fd: number, bytes: Uint8Array) {
  for (let done = 0; done < bytes.byteLength; ) done += writeSync(fd, bytes, done);
}

/**
 * Copies `src` into a new file `dest` a piece at a time, gzipping it unless
 * `gzip` is false, and returns the size and sha256 of what it wrote. Each
 * gzipped piece is its own gzip member: a file of members one after another
 * is a valid .gz (RFC 1952; gunzip, zcat, Python and Node read it whole), and
 * each piece is compressed in one call to native.ts's gzip, so memory stays
 * at one piece. That costs under 1% of size against one long stream.
 */
async function copyFile(src: string, dest: string, o: { gzip: boolean; stop: AbortSignal }): Promise<FileDigest> {
  const hash = sha256Hasher();
  const input = openSync(src, "r");
  let size = 0;
  try {
    const out = openSync(dest, "wx", 0o600);
    try {
      const piece = new Uint8Array(FILE_PIECE_BYTES);
      for (let first = true; ; first = false) {
        const n = readSync(input, piece);
        // An empty file still gets one (empty) member: zero bytes are not a gzip file.
        if (n === 0 && !(first && o.gzip)) break;
        const bytes = o.gzip ? gzip(piece.subarray(0, n)) : piece.subarray(0, n);
        hash.update(bytes);
        writeAll(out, bytes);
        size += bytes.byteLength;
        collectGarbage();
        await between(o.stop);
      }
    } finally {
      closeSync(out);
    }
  } finally {
    closeSync(input);
  }
  return { size, sha256: hash.digest("hex") };
}

/**
 * Unpacks the gzip file `src` into a new file `dest`, streaming, and fsyncs
 * it. Returns the sha256 of `src` (hashed as it is read) and the bytes
 * unpacked. Throws on a corrupt or truncated .gz.
 */
export async function gunzipFile(src: string, dest: string, stop: AbortSignal): Promise<{ sha256: string; unpackedBytes: number }> {
  // Only restore unpacks: node:zlib is loaded for it alone.
  const [{ createGunzip }, { createReadStream }, { pipeline }] = await Promise.all([import("node:zlib"), import("node:fs"), import("node:stream/promises")]);
  const hash = sha256Hasher();
  let unpackedBytes = 0;
  let uncollected = 0;
  const out = openSync(dest, "wx", 0o600);
  try {
    await pipeline(
      createReadStream(src, { highWaterMark: FILE_PIECE_BYTES }),
      async function* (gz: AsyncIterable<Buffer>) {
        for await (const chunk of gz) {
          hash.update(chunk);
          yield chunk;
        }
      },
      createGunzip(),
      async (unzipped: AsyncIterable<Buffer>) => {
        for await (const chunk of unzipped) {
          if (stop.aborted) throw new Stopped("stopped");
          // Synchronous writes: see lib/backup/store.ts on Bun keeping awaited writes' chunks alive.
          writeAll(out, chunk);
          unpackedBytes += chunk.byteLength;
          uncollected += chunk.byteLength;
          if (uncollected >= FILE_PIECE_BYTES) {
            collectGarbage();
            uncollected = 0;
          }
        }
      },
    );
    fsyncSync(out);
  } finally {
    closeSync(out);
  }
  return { sha256: hash.digest("hex"), unpackedBytes };
}

/** Undefined when `path` is a whole SQLite database with at least one table; otherwise what is wrong with it. */
export function integrityProblem(path: string): string | undefined {
  let db: SqliteDb | undefined;
  try {
    db = openDb(path);
    db.exec("PRAGMA cache_size = -256");
    const problems = db
      .prepare("PRAGMA integrity_check(5)")
      .all()
      .map((row) => String(Object.values(row)[0]));
    if (problems.join() !== "ok") return problems.join("; ");
    if (!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table'").get()) return "it holds no tables";
    return undefined;
  } catch (err) {
    return (err as Error).message;
  } finally {
    db?.close();
  }
}

/**
 * Moves a checked file into place at `to` (replacing it), durably: fsync of
 * the file, the rename, fsync of the directory. A file it replaces passes on
 * its mode, and its owner when this process may give it (root), so the
 * logger can still write the restored database.
 */
export function moveIntoPlace(from: string, to: string) {
  if (existsSync(to)) {
    const was = statSync(to);
    chmodSync(from, was.mode & 0o7777);
    try {
      chownSync(from, was.uid, was.gid);
    } catch (err) {
      if ((err as { code?: string }).code !== "EPERM") throw err;
    }
  }
  const file = openSync(from, "r");
  try {
    fsyncSync(file);
  } finally {
    closeSync(file);
  }
  renameSync(from, to);
  const dir = openSync(dirname(to), "r");
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

/** Item 'database' is this database; a log file's item is its absolute path. */
const DATABASE_ITEM = "database";

type Recorded = { item: string; type: Upload["type"]; size: number; mtime: number | null; stored: StoredBackup };

function record(db: SqliteDb, r: Recorded) {
  db.transaction(() => {
    db.exec(BACKUP_DDL);
    db.prepare("INSERT OR REPLACE INTO sync_backup (item, type, file_size, file_mtime, stored_as, sha256, uploaded_at) VALUES (?, ?, ?, ?, ?, ?, ?)").run(
      r.item,
      r.type,
      r.size,
      r.mtime,
      r.stored.filename,
      r.stored.sha256,
      new Date().toISOString(),
    );
  });
}

function recorded(db: SqliteDb, item: string) {
  if (!hasTable(db, "sync_backup")) return undefined;
  return db.prepare("SELECT file_size, file_mtime, uploaded_at FROM sync_backup WHERE item = ?").get(item);
}

/** When this database was last backed up successfully, if ever. */
export function lastBackupAt(db: SqliteDb): Date | undefined {
  const row = recorded(db, DATABASE_ITEM);
  return row ? new Date(String(row.uploaded_at)) : undefined;
}

/**
 * The files `pattern` names, sorted. Wildcards (`*`, `?`, `[…]`) may appear
 * in the file name only, e.g. /home/pi/eclipse-obd/logs/*.log. A directory
 * that does not exist matches nothing.
 */
function matchFiles(pattern: string, cwd = process.cwd()): string[] {
  const full = resolve(cwd, pattern);
  const dir = dirname(full);
  const re = new RegExp(
    `^${basename(full)
      .replace(/[.+^${}()|\\]/g, "\\$&")
      .replaceAll("*", ".*")
      .replaceAll("?", ".")
      .replaceAll("[!", "[^")}$`,
  );
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => re.test(name) && statSync(join(dir, name)).isFile())
    .sort()
    .map((name) => join(dir, name));
}

/** True when a pattern has wildcards only in its file name (what matchFiles understands). */
export const wildcardsInNameOnly = (pattern: string) => !/[*?[]/.test(dirname(pattern));

export type BackupContext = {
  db: SqliteDb;
  dbPath: string;
  deviceId: string;
  client: SyncClient;
  temp: TempFiles;
  stop: AbortSignal;
};

/** journalMode and snapshotSeconds tell how long the logger's commits waited when the database is not in WAL mode. */
type DatabaseBackup = StoredBackup & { status: "ok"; databaseBytes: number; journalMode: string; snapshotSeconds: number };
type Failed = { status: "failed"; error: string };
type LogBackup = { path: string } & ({ status: "uploaded"; filename: string; sizeBytes: number; sha256: string } | { status: "unchanged" } | Failed);

export type BackupResult = {
  /** Undefined when only logs were asked for. */
  database?: DatabaseBackup | Failed;
  logs: LogBackup[];
  /** Why the run ended early (auth, unreachable server, stop signal), if it did. */
  halted?: Error;
};

/** Snapshots, checks, gzips and uploads the database; records it in sync_backup. Throws why not. */
async function backupDatabase(ctx: BackupContext): Promise<DatabaseBackup> {
  const journalMode = String(ctx.db.prepare("PRAGMA journal_mode").get()?.journal_mode);
  const snapshot = ctx.temp.path(".db");
  const began = performance.now();
  ctx.db.prepare("VACUUM INTO ?").run(snapshot);
  const snapshotSeconds = Math.round(performance.now() - began) / 1000;
  const problem = integrityProblem(snapshot);
  if (problem) throw new Error(`the snapshot failed PRAGMA integrity_check (${problem}); check the database itself: sqlite3 ${ctx.dbPath} 'PRAGMA integrity_check'`);
  const databaseBytes = statSync(snapshot).size;
  const gz = ctx.temp.path(".db.gz");
  const digest = await copyFile(snapshot, gz, { gzip: true, stop: ctx.stop });
  rmSync(snapshot); // room on the Pi's card before the upload
  const name = `${basename(ctx.dbPath).replace(/\.db$/i, "")}.db.gz`;
  const stored = await ctx.client.upload({ path: gz, name, type: "database", deviceId: ctx.deviceId, ...digest });
  record(ctx.db, { item: DATABASE_ITEM, type: "database", size: digest.size, mtime: null, stored });
  return { status: "ok", ...stored, databaseBytes, journalMode, snapshotSeconds };
}

/**
 * Uploads one log file gzipped, unless it is unchanged since its last
 * upload. A rotated log that is gzipped already goes as it is. The file is
 * copied first, so a log the logger appends to meanwhile is sent as far as
 * it was read (its new size sends it again next time).
 */
async function backupLog(ctx: BackupContext, path: string): Promise<LogBackup> {
  const { size, mtimeMs } = statSync(path);
  const mtime = Math.trunc(mtimeMs);
  const last = recorded(ctx.db, path);
  if (last && Number(last.file_size) === size && Number(last.file_mtime) === mtime) return { path, status: "unchanged" };
  const gzipped = path.endsWith(".gz");
  const copy = ctx.temp.path(".log.gz");
  const digest = await copyFile(path, copy, { gzip: !gzipped, stop: ctx.stop });
  const name = gzipped ? basename(path) : `${basename(path)}.gz`;
  const stored = await ctx.client.upload({ path: copy, name, type: "logs", deviceId: ctx.deviceId, ...digest });
  record(ctx.db, { item: path, type: "logs", size, mtime, stored });
  return { path, status: "uploaded", filename: stored.filename, sizeBytes: stored.sizeBytes, sha256: stored.sha256 };
}

/** Errors that end the whole run rather than one file's upload. */
const halts = (err: unknown): err is Error => err instanceof AuthError || err instanceof NotFound || err instanceof Unreachable || err instanceof Stopped;

/** `step`'s result, or its error as a failure; errors that end the run are thrown on. */
async function attempt<T>(step: () => Promise<T>): Promise<T | Failed> {
  try {
    return await step();
  } catch (err) {
    if (halts(err)) throw err;
    return { status: "failed", error: (err as Error).message };
  }
}

/**
 * Backs up the database (unless `database` is false) and then the log files
 * `logs` matches. A file that fails is reported and the others go on; an
 * auth failure, an unreachable server or a stop signal ends the run. Temp
 * files are removed whatever happens. The caller holds the lock.
 */
export async function backupAll(ctx: BackupContext, o: { database: boolean; logs?: string }): Promise<BackupResult> {
  const result: BackupResult = { logs: [] };
  ctx.temp.sweep();
  try {
    if (o.database) result.database = await attempt(() => backupDatabase(ctx));
    for (const path of o.logs ? matchFiles(o.logs) : []) {
      const log = await attempt(() => backupLog(ctx, path));
      result.logs.push("path" in log ? log : { path, ...log });
    }
  } catch (err) {
    if (!halts(err)) throw err;
    result.halted = err;
  } finally {
    ctx.temp.remove();
  }
  return result;
}
