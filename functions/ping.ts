import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../lib/http/env.ts";

const route = createRoute({
  method: "get",
  path: "/api/v1/ping",
  summary: "Reachability probe for the Pi; never touches the database",
  tags: ["status"],
  security: [],
  responses: {
    200: { description: "The server is up", content: { "application/json": { schema: z.object({ status: z.literal("ok") }) } } },
  },
});

export function registerPing(app: App) {
  app.openapi(route, (c) => c.json({ status: "ok" as const }, 200));
}
