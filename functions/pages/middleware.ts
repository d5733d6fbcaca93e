/**
 * What every dashboard page goes through: security headers (a Content
 * Security Policy that lets a page load and connect to nothing but this
 * server), compression, no caching of data, errors as pages, and a session
 * or a redirect to /login. The sign-in page has all but the session.
 */
import type { MiddlewareHandler } from "hono";
import { compress } from "hono/compress";
import { secureHeaders } from "hono/secure-headers";
import type { AppEnv } from "../../lib/http/env.ts";
import { requireSession } from "../../lib/http/session.ts";
import { errorPage } from "./components/layout.tsx";

const headers = secureHeaders({
  contentSecurityPolicy: {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'"],
    imgSrc: ["'self'", "data:"],
    connectSrc: ["'self'"],
    formAction: ["'self'"],
    frameAncestors: ["'none'"],
    baseUri: ["'none'"],
    objectSrc: ["'none'"],
  },
  referrerPolicy: "same-origin",
});

const noStore: MiddlewareHandler<AppEnv> = async (c, next) => {
  await next();
  c.header("cache-control", "no-store");
};

/** A page that failed answers with a page, not the API's JSON (which the error handler has already logged). */
const htmlErrors: MiddlewareHandler<AppEnv> = async (c, next) => {
  await next();
  if (c.error) c.res = await errorPage(c, c.res.status);
};

/** For the sign-in page. */
export const PUBLIC_PAGE = [headers, compress(), noStore, htmlErrors] as const;
/** For every other page. */
export const PAGE = [...PUBLIC_PAGE, requireSession()] as const;
