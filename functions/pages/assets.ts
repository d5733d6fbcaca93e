/**
 * The dashboard's static files, served by the app itself so it works on a LAN
 * with no internet: our stylesheet and page script (assets/), and uPlot from
 * its installed package. Read once at start-up; each URL carries a hash of
 * its content, so browsers may cache it for a year and never see a stale one.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { compress } from "hono/compress";
import type { App } from "../../lib/http/env.ts";

const ours = fileURLToPath(new URL("./assets/", import.meta.url));
const uplot = join(dirname(fileURLToPath(import.meta.resolve("uplot/package.json"))), "dist");

const TYPES = { ".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8" } as const;

/** Name under /assets/ → file. A new asset is one line here. */
const FILES: Record<string, string> = {
  "app.css": join(ours, "app.css"),
  "app.js": join(ours, "app.js"),
  "drive.js": join(ours, "drive.js"),
  "trends.js": join(ours, "trends.js"),
  "uPlot.iife.min.js": join(uplot, "uPlot.iife.min.js"),
  "uPlot.min.css": join(uplot, "uPlot.min.css"),
};

const loaded = Object.fromEntries(
  Object.entries(FILES).map(([name, path]) => {
    const body = readFileSync(path);
    return [name, { body, hash: createHash("sha256").update(body).digest("hex").slice(0, 12), type: TYPES[name.slice(name.lastIndexOf(".")) as keyof typeof TYPES] }];
  }),
);

/** The URL of an asset, with its content hash. */
export function assetUrl(name: keyof typeof FILES): string {
  const asset = loaded[name];
  if (!asset) throw new Error(`no dashboard asset ${name}`);
  return `/assets/${name}?v=${asset.hash}`;
}

export function registerAssets(app: App) {
  app.get("/assets/:name", compress(), (c) => {
    const asset = loaded[c.req.param("name")];
    if (!asset) return c.json({ detail: "Not found" }, 404);
    return c.body(asset.body, 200, { "content-type": asset.type, "cache-control": "public, max-age=31536000, immutable", "x-content-type-options": "nosniff" });
  });
}
