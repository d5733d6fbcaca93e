/** Production entry: `bun scripts/server.bun.ts` (what systemd runs). */
import { createApp } from "../functions/index.ts";
import { announce, boot } from "../lib/boot.ts";

const booted = await boot(createApp);
const server = Bun.serve({
  port: booted.config.PORT,
  fetch: booted.app.fetch,
  // Endpoints enforce their own, smaller limits while streaming; this only must not cut in first.
  maxRequestBodySize: 8 * 1024 ** 3,
  idleTimeout: 120,
});
// stop() closes idle keep-alive connections at once and the others after their response.
announce(booted, { close: () => server.stop(), forceClose: () => void server.stop(true) });
