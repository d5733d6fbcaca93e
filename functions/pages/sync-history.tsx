/** @jsxRuntime automatic @jsxImportSource hono/jsx */
/**
 * GET /sync-history: what the Pi's agent last reported going wrong (each
 * table's last error and its quarantined rows), the tables and columns the
 * server keeps without knowing them (unmapped_rows, `extra`), then the sync batches,
 * newest first, with their per-table counts and failed tables. `?failed=1`
 * shows failed and partial batches only; `?before=` pages back.
 */
import type { Context } from "hono";
import type { Child } from "hono/jsx";
import type { App, AppEnv } from "../../lib/http/env.ts";
import { readStatuses } from "../../lib/dashboard/device-status.ts";
import { readBatches, readKeptUnknown, type Batch } from "../../lib/dashboard/sync-history.ts";
import { Ago, count, Count, Level, Time } from "./components/format.tsx";
import { notFound, page } from "./components/layout.tsx";
import { PAGE } from "./middleware.ts";
import { DevicePicker, pageDevices } from "./scope.tsx";

const BATCHES_PER_PAGE = 50;

type Scope = { shown: string[]; selected?: string };
/** A section of the page: reads what it shows for the devices in scope. */
type Section = (c: Context<AppEnv>, scope: Scope) => Promise<Child>;

/** Per device, the last errors and the quarantined rows, as the Pi's agent reported them (POST .../status). */
const piReports: Section = async (c, scope) => {
  const statuses = await readStatuses(c.var.deps.db.pool, scope.shown);
  const now = c.var.deps.clock.now();
  return (
    <section data-field="pi-reports">
      <h2>Reported by the Pi</h2>
      {scope.shown.map((deviceId) => {
        const s = statuses.get(deviceId);
        if (!s) return <p data-device={deviceId}>{deviceId}: <span class="muted">its agent has not reported yet.</span></p>;
        const errors = s.tables.filter((t) => t.lastError);
        return (
          <div data-device={deviceId}>
            <h3>{deviceId}</h3>
            <p class="muted">
              Reported <Ago at={s.reportedAt} now={now} /> by agent {s.agentVersion}: <Count n={s.pendingRows} unit="row" field="pending" /> pending,{" "}
              <Count n={s.quarantinedRows} unit="row" field="quarantined" /> quarantined.
            </p>
            {errors.length ? (
              <ul data-field="errors">
                {errors.map((t) => (
                  <li data-table={t.table}>
                    <Level level="bad">{t.table}</Level>: {t.lastError}
                  </li>
                ))}
              </ul>
            ) : null}
            {s.quarantine.length ? (
              <div class="scroll">
                <table class="stack" data-field="quarantine">
                  <thead>
                    <tr>
                      <th>table</th>
                      <th>row</th>
                      <th>why the server refused it</th>
                      <th>since</th>
                    </tr>
                  </thead>
                  <tbody>
                    {s.quarantine.map((q) => (
                      <tr>
                        <td data-label="table">{q.table}</td>
                        <td data-label="row">
                          <code>{q.key}</code>
                        </td>
                        <td data-label="why">{q.error}</td>
                        <td data-label="since">{q.at ? <Time at={new Date(q.at)} /> : "–"}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            ) : null}
            {s.quarantinedRows > s.quarantine.length ? (
              <p class="muted">
                Showing {s.quarantine.length} of {count(s.quarantinedRows)}; <code>obd2-sync status</code> on the Pi lists them all, and{" "}
                <code>obd2-sync push --retry-quarantined</code> sends them again.
              </p>
            ) : null}
          </div>
        );
      })}
    </section>
  );
};

function TablesCell({ tables }: { tables: Batch["tables"] }) {
  return (
    <>
      {Object.entries(tables).map(([name, t]) => (
        <div data-table={name}>
          {t.status === "success" ? name : <Level level="bad">{name} failed</Level>}: +{count(t.inserted)} ~{count(t.updated)}
          {t.attempts > 1 ? <span class="muted"> ({t.attempts} attempts)</span> : null}
        </div>
      ))}
    </>
  );
}

/** The batches, a page at a time. */
const batches: Section = async (c, scope) => {
  const failedOnly = c.req.query("failed") === "1";
  const beforeParam = c.req.query("before");
  const before = beforeParam && !Number.isNaN(Date.parse(beforeParam)) ? new Date(beforeParam) : undefined;
  const rows = await readBatches(c.var.deps.db.pool, { deviceIds: scope.shown, before, failedOnly, limit: BATCHES_PER_PAGE });
  const link = (extra: Record<string, string>) => `/sync-history?${new URLSearchParams({ ...(scope.selected ? { device: scope.selected } : {}), ...extra })}`;
  return (
    <section data-field="batches">
      <h2>Batches</h2>
      <p class="pager">
        {failedOnly ? <a href={link({})}>All batches</a> : <a href={link({ failed: "1" })}>Failures only</a>}
      </p>
      {rows.length === 0 ? (
        <p class="muted">No batches{failedOnly ? " failed" : " yet"}.</p>
      ) : (
        <div class="scroll">
          <table class="stack">
            <thead>
              <tr>
                <th>started</th>
                <th>device</th>
                <th>status</th>
                <th class="num">inserted</th>
                <th class="num">updated</th>
                <th>tables (+inserted ~updated)</th>
                <th>batch</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((b) => (
                <tr data-batch={b.batchId}>
                  <td data-label="started">
                    <Time at={b.startedAt} />
                  </td>
                  <td data-label="device">{b.deviceId}</td>
                  <td data-label="status" data-field="status">
                    <Level level={b.status === "success" ? "ok" : "bad"}>{b.status}</Level>
                  </td>
                  <td class="num" data-label="inserted" data-field="inserted">
                    {count(b.rowsInserted)}
                  </td>
                  <td class="num" data-label="updated" data-field="updated">
                    {count(b.rowsUpdated)}
                  </td>
                  <td data-label="tables">
                    <TablesCell tables={b.tables} />
                  </td>
                  <td data-label="batch">
                    <code>{b.batchId}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {rows.length === BATCHES_PER_PAGE ? (
        <p class="pager">
          <a href={link({ ...(failedOnly ? { failed: "1" } : {}), before: rows.at(-1)!.startedAt.toISOString() })}>Older</a>
        </p>
      ) : null}
    </section>
  );
};

/** Tables and columns the server keeps without knowing them yet (unmapped_rows, each row's `extra`): a later migration can make them real. */
const keptUnknown: Section = async (c, scope) => {
  const kept = await readKeptUnknown(c.var.deps.db.pool, scope.shown);
  const now = c.var.deps.clock.now();
  if (!kept.unmappedTables.length && !kept.unknownColumns.length) return null;
  return (
    <section data-field="kept-unknown">
      <h2>Kept, not yet known to the server</h2>
      <p class="muted">The Pi sends what it has; the server keeps what it has no column or table for instead of refusing it (docs/sync.md).</p>
      {kept.unmappedTables.length ? (
        <div class="scroll">
          <table class="stack" data-field="unmapped-tables">
            <thead>
              <tr><th>Device</th><th>Table</th><th class="num">Rows kept</th><th>Last synced</th></tr>
            </thead>
            <tbody>
              {kept.unmappedTables.map((t) => (
                <tr data-device={t.deviceId} data-table={t.table}>
                  <td data-label="device">{t.deviceId}</td>
                  <td data-label="table"><code>{t.table}</code></td>
                  <td class="num" data-label="rows" data-field="rows" data-value={String(t.rows)}>{count(t.rows)}</td>
                  <td data-label="last synced"><Ago at={t.lastSyncedAt} now={now} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {kept.unknownColumns.length ? (
        <div class="scroll">
          <table class="stack" data-field="unknown-columns">
            <thead>
              <tr><th>Device</th><th>Table</th><th>Column (kept in extra)</th><th>Last brought</th></tr>
            </thead>
            <tbody>
              {kept.unknownColumns.map((u) => (
                <tr data-device={u.deviceId} data-table={u.table} data-column={u.column}>
                  <td data-label="device">{u.deviceId}</td>
                  <td data-label="table"><code>{u.table}</code></td>
                  <td data-label="column"><code>{u.column}</code></td>
                  <td data-label="last brought"><Ago at={u.lastBatchAt} now={now} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
};

/** The page's sections, in order. */
const SECTIONS: Section[] = [piReports, keptUnknown, batches];

export function registerSyncHistoryPage(app: App) {
  app.get("/sync-history", ...PAGE, async (c) => {
    const scope = await pageDevices(c);
    if (!scope) return notFound(c);
    const sections = [];
    for (const section of SECTIONS) sections.push(await section(c, scope));
    return page(
      c,
      { title: "Sync history", active: "/sync-history" },
      <>
        <DevicePicker path="/sync-history" devices={scope.all} selected={scope.selected} />
        {sections}
      </>,
    );
  });
}
