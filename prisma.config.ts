import { defineConfig } from "prisma/config";

// The CLI (generate, studio, and `migrate deploy` on a machine with internet)
// reads the URL here; the app builds its own connection in lib/db/pools.ts.
export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  datasource: { url: process.env.DATABASE_URL ?? "mysql://localhost/obd2" },
});
