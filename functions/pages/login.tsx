/** @jsxRuntime automatic @jsxImportSource hono/jsx */
/**
 * GET/POST /login and POST /logout: sign in with the admin key or a device
 * key (the password field `key`), which sets the session cookie
 * (lib/http/session.ts); sign out ends it. Both forms are CSRF-checked.
 */
import type { Context } from "hono";
import type { App, AppEnv } from "../../lib/http/env.ts";
import { authenticateKey } from "../../lib/http/auth.ts";
import { ApiError } from "../../lib/http/errors.ts";
import { CSRF_FIELD, endSession, loginToken, readSession, requireCsrf, requireLoginCsrf, safeNext, startSession } from "../../lib/http/session.ts";
import { CsrfField, page, refused } from "./components/layout.tsx";
import { formFields, smallForm } from "./form.ts";
import { PUBLIC_PAGE } from "./middleware.ts";

function LoginForm({ token, next, problem }: { token: string; next: string; problem?: string }) {
  return (
    <form class="login card" method="post" action="/login">
      {problem ? <p class="notice bad" data-field="problem">{problem}</p> : null}
      <CsrfField token={token} />
      <input type="hidden" name="next" value={next} />
      <label for="key">Admin key or device key</label>
      <input id="key" name="key" type="password" autocomplete="current-password" required autofocus />
      <button class="primary" type="submit">Sign in</button>
      <p class="muted">A device key (<code>npm run device -- add &lt;id&gt;</code>) shows only that device.</p>
    </form>
  );
}

const loginPage = (c: Context<AppEnv>, next: string, status: 200 | 401 = 200, problem?: string) =>
  page(c, { title: "Sign in", status }, <LoginForm token={loginToken(c)} next={next} problem={problem} />);

export function registerLoginPage(app: App) {
  app.get("/login", ...PUBLIC_PAGE, async (c) => {
    const next = safeNext(c.req.query("next"));
    if (await readSession(c)) return c.redirect(next, 302);
    return loginPage(c, next);
  });

  app.post("/login", ...PUBLIC_PAGE, smallForm, async (c) => {
    const form = await formFields(c);
    const next = safeNext(form.next);
    try {
      requireLoginCsrf(c, form[CSRF_FIELD]);
    } catch (err) {
      if (err instanceof ApiError) return refused(c, err.detail);
      throw err;
    }
    const auth = form.key ? await authenticateKey(c, form.key) : undefined;
    if (!auth || !(await startSession(c, auth))) {
      c.var.logger.warn("dashboard sign-in refused: unknown key");
      return loginPage(c, next, 401, "That key is not valid. Use the server's API_KEY or a current device key.");
    }
    c.var.logger.info({ who: auth.kind === "admin" ? "admin" : auth.deviceId }, "dashboard sign-in");
    return c.redirect(next, 303);
  });

  app.post("/logout", ...PUBLIC_PAGE, smallForm, async (c) => {
    const session = await readSession(c);
    if (!session) return c.redirect("/login", 303);
    c.set("session", session);
    try {
      requireCsrf(c, session.csrf, (await formFields(c))[CSRF_FIELD]);
    } catch (err) {
      if (err instanceof ApiError) return refused(c, err.detail);
      throw err;
    }
    endSession(c);
    return c.redirect("/login", 303);
  });
}
