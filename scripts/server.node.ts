/** Node entry: `node --import tsx scripts/server.node.ts`, the same app on @hono/node-server. */
import type { Server } from "node:http";
import { serve } from "@hono/node-server";
import { createApp } from "../functions/index.ts";
import { announce, boot, exitIfPortInUse } from "../lib/boot.ts";

const booted = await boot(createApp);
let closing = false;
// Announced once it listens: a port already in use is an 'error' instead.
const server = serve({ fetch: booted.app.fetch, port: booted.config.PORT }, () =>
  announce(booted, {
    close: () =>
      new Promise((resolve) => {
        closing = true;
        server.close(() => resolve());
      }),
    forceClose: () => server.closeAllConnections(),
  }),
) as Server;
server.once("error", async (err) => {
  await exitIfPortInUse(booted, err);
  throw err;
});
// close() ends idle connections, but one that was busy would stay open for keep-alive
// after its response and hold the shutdown; end it once its response is sent.
server.on("request", (req, res) => res.once("finish", () => closing && req.socket.end()));
