/** Production entry: `bun scripts/server.bun.ts` (what systemd runs). */
import type { Server } from "bun";
import { createApp } from "../functions/index.ts";
import { announce, boot, exitIfPortInUse } from "../lib/boot.ts";

export const booted = await boot(createApp);
let server: Server<undefined>;
try {
  server = Bun.serve({
    port: booted.config.PORT,
    fetch: booted.app.fetch,
    // Endpoints enforce their own, smaller limits while streaming; this only must not cut in first.
    maxRequestBodySize: 8 * 1024 ** 3,
    idleTimeout: 120,
  });
} catch (err) {
  await exitIfPortInUse(booted, err);
  throw err;
}
// stop() closes idle keep-alive connections at once and the others after their response.
announce(booted, { close: () => server.stop(), forceClose: () => void server.stop(true) });
