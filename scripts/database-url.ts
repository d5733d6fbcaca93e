/** For the npm scripts: DATABASE_URL from the configuration, or the embedded default (started for the duration). */
import { loadDatabaseUrl } from "../lib/config.ts";
import { startEmbeddedDb } from "../lib/embedded-db.ts";

export async function withDatabaseUrl(work: (url: string) => Promise<void>): Promise<void> {
  const DATABASE_URL = loadDatabaseUrl();
  const embedded = DATABASE_URL ? undefined : await startEmbeddedDb();
  try {
    await work(DATABASE_URL ?? embedded!.url);
  } catch (err) {
    console.error(`Error: ${(err as Error).message}`);
    process.exitCode = 1;
  } finally {
    await embedded?.stop();
  }
}
