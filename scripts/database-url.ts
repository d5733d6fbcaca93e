/** For the npm scripts: DATABASE_URL from the configuration, or the embedded default (started for the duration). */
import { loadDatabaseUrl } from "../lib/config.ts";
import { startEmbeddedDb, type EmbeddedDb } from "../lib/db/embedded.ts";

/** Runs `work` on the database; any failure (configuration included) is printed as `Error: …` with exit code 1. */
export async function withDatabaseUrl(work: (url: string) => Promise<void>): Promise<void> {
  let embedded: EmbeddedDb | undefined;
  try {
    const DATABASE_URL = loadDatabaseUrl();
    if (!DATABASE_URL) embedded = await startEmbeddedDb();
    await work(DATABASE_URL ?? embedded!.url);
  } catch (err) {
    console.error(`Error: ${(err as Error).message}`);
    process.exitCode = 1;
  } finally {
    await embedded?.stop();
  }
}
