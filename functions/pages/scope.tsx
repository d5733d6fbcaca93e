/** @jsxRuntime automatic @jsxImportSource hono/jsx */
/** Which devices a page shows: those the session sees, or the one `?device=` names among them. */
import type { Context } from "hono";
import type { AppEnv } from "../../lib/http/env.ts";
import { visibleDevices } from "../../lib/dashboard/overview.ts";

/** The devices to show, or undefined (a 404) when `?device=` names one the session does not see. */
export async function pageDevices(c: Context<AppEnv>): Promise<{ all: string[]; shown: string[]; selected?: string } | undefined> {
  const all = await visibleDevices(c.var.deps.db.pool, c.var.auth);
  const selected = c.req.query("device") || undefined;
  if (selected === undefined) return { all, shown: all };
  return all.includes(selected) ? { all, shown: [selected], selected } : undefined;
}

/** A device picker for an admin with several devices: links that keep the page and set ?device=. */
export function DevicePicker({ path, devices, selected }: { path: string; devices: string[]; selected?: string }) {
  if (devices.length < 2) return null;
  const link = (id?: string) => (id ? `${path}?device=${encodeURIComponent(id)}` : path);
  return (
    <p class="pager" data-field="devices">
      <a href={link()} aria-current={selected ? undefined : "page"}>
        All devices
      </a>
      {devices.map((id) => (
        <a href={link(id)} aria-current={id === selected ? "page" : undefined}>
          {id}
        </a>
      ))}
    </p>
  );
}
