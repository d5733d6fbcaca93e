import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { App } from "../lib/http/env.ts";
import { version } from "../lib/version.ts";

// Swagger UI is served from the installed package, so the docs work on a LAN without internet.
const uiDir = dirname(fileURLToPath(import.meta.resolve("swagger-ui-dist/package.json")));
const asset = (name: string) => readFileSync(join(uiDir, name));

const page = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>OBD2-Server API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="ui"></div><script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script></body></html>`;

const init = `SwaggerUIBundle({ url: "/api/v1/openapi.json", dom_id: "#ui", persistAuthorization: true });`;

export function registerDocs(app: App) {
  app.openAPIRegistry.registerComponent("securitySchemes", "ApiKey", { type: "apiKey", in: "header", name: "X-API-Key" });
  app.doc("/api/v1/openapi.json", {
    openapi: "3.0.3",
    info: { title: "OBD2-Server", version, description: "Companion server for the EclipseTuner Pi: sync, backups, analysis." },
    security: [{ ApiKey: [] }],
  });
  const css = asset("swagger-ui.css");
  const js = asset("swagger-ui-bundle.js");
  app.get("/docs", (c) => c.html(page));
  app.get("/docs/swagger-ui.css", (c) => c.body(css, 200, { "content-type": "text/css", "cache-control": "max-age=86400" }));
  app.get("/docs/swagger-ui-bundle.js", (c) => c.body(js, 200, { "content-type": "text/javascript", "cache-control": "max-age=86400" }));
  app.get("/docs/init.js", (c) => c.body(init, 200, { "content-type": "text/javascript" }));
}
