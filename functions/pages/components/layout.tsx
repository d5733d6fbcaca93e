/** @jsxRuntime automatic @jsxImportSource hono/jsx */
/**
 * The page around every dashboard page: head (our stylesheet and script, the
 * CSRF token for scripts), the navigation, who is signed in with a sign-out
 * button, and the footer. Escaping is hono/jsx's default.
 */
import type { Context } from "hono";
import { raw } from "hono/html";
import type { Child } from "hono/jsx";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { AppEnv } from "../../../lib/http/env.ts";
import { CSRF_FIELD } from "../../../lib/http/session.ts";
import { version } from "../../../lib/version.ts";
import { assetUrl } from "../assets.ts";

/** The navigation, in order. */
const NAV: [href: string, label: string][] = [
  ["/", "Overview"],
  ["/drives", "Drives"],
  ["/trends", "Trends"],
  ["/backups", "Backups"],
  ["/sync-history", "Sync history"],
];

/** The hidden field every state-changing form of a signed-in page carries. */
export const CsrfField = ({ token }: { token: string }) => <input type="hidden" name={CSRF_FIELD} value={token} />;

function Header({ c, active }: { c: Context<AppEnv>; active: string }) {
  const session = c.var.session;
  if (!session) return <header class="top"><span class="brand">OBD2-Server</span></header>;
  const who = session.auth.kind === "admin" ? "admin" : `device ${session.auth.deviceId}`;
  return (
    <header class="top">
      <a class="brand" href="/">OBD2-Server</a>
      <nav>
        {NAV.map(([href, label]) => (
          <a href={href} aria-current={href === active ? "page" : undefined}>
            {label}
          </a>
        ))}
      </nav>
      <span class="who">
        <span data-field="who">{who}</span>
        <form class="inline" method="post" action="/logout">
          <CsrfField token={session.csrf} />
          <button type="submit">Sign out</button>
        </form>
      </span>
    </header>
  );
}

/** Renders a whole page: `active` is its NAV entry; `scripts` and `styles` are a page's own assets (assetUrl), after the shared ones. */
export function page(c: Context<AppEnv>, o: { title: string; active?: string; status?: ContentfulStatusCode; scripts?: string[]; styles?: string[] }, body: Child) {
  const csrf = c.var.session?.csrf;
  return c.html(
    <>
      {raw("<!doctype html>")}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <meta name="color-scheme" content="light dark" />
          {/* No favicon: without this the browser asks for /favicon.ico on every page. */}
          <link rel="icon" href="data:," />
          {csrf ? <meta name="csrf-token" content={csrf} /> : null}
          <title>{`${o.title} · OBD2-Server`}</title>
          <link rel="stylesheet" href={assetUrl("app.css")} />
          {o.styles?.map((href) => <link rel="stylesheet" href={href} />)}
          <script src={assetUrl("app.js")} defer></script>
          {o.scripts?.map((src) => <script src={src} defer></script>)}
        </head>
        <body>
          <Header c={c} active={o.active ?? ""} />
          <main>
            <h1>{o.title}</h1>
            {body}
          </main>
          <footer>OBD2-Server {version}</footer>
        </body>
      </html>
    </>,
    o.status ?? 200,
  );
}

/** A refused form (a failed CSRF check), as a page rather than the API's JSON. */
export const refused = (c: Context<AppEnv>, detail: string) =>
  page(c, { title: "Refused", status: 403 }, <p class="notice bad" data-field="refused">{detail}. Go back, reload the page and try again.</p>);

/** A page-sized answer for what is not there (another device's, too: a device session learns nothing of them). */
export const notFound = (c: Context<AppEnv>) => page(c, { title: "Not found", status: 404 }, <p>There is nothing here. <a href="/">Back to the overview</a></p>);

/** What a page that failed shows instead (the error itself is in the server's log). */
export function errorPage(c: Context<AppEnv>, status: number) {
  if (status === 404) return notFound(c);
  const code = (status >= 400 && status < 600 ? status : 500) as ContentfulStatusCode;
  return page(c, { title: "Something went wrong", status: code }, <p class="notice bad">The server could not build this page ({code}). Its log says why; if MySQL is down, the API's health endpoint (/api/v1/health) says so too.</p>);
}
