/** `npm run migrate`: applies pending migrations to DATABASE_URL, or to the embedded default. */
import { withDatabaseUrl } from "./database-url.ts";
import { migrate } from "../lib/db/migrate.ts";

await withDatabaseUrl(async (url) => {
  const applied = await migrate(url);
  console.log(applied.length ? `Applied: ${applied.join(", ")}` : "Database is up to date.");
});
