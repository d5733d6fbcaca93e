/** Node entry: `node --import tsx scripts/server.node.ts`, the same app on @hono/node-server. */
import { serve } from "@hono/node-server";
import { announce, boot } from "../lib/boot.ts";

const booted = await boot();
const server = serve({ fetch: booted.app.fetch, port: booted.config.PORT });
announce(booted, () => server.close());
