/** @jsxRuntime automatic @jsxImportSource hono/jsx */
/**
 * GET /: per device, the last sync and its age, rows synced today and in
 * all, the Pi's own backlog as its agent reported it, the last drive, the
 * last database backup, and the analysis queue; the server's MySQL, Ollama
 * and model status; then the feed of drives, alerts, new trouble codes,
 * syncs and recommendations.
 */
import { getCookie } from "hono/cookie";
import type { App } from "../../lib/http/env.ts";
import { ollamaStatus, type OllamaStatus } from "../../lib/analysis/ollama.ts";
import type { DeviceStatus } from "../../lib/dashboard/device-status.ts";
import { readFeed, type FeedItem } from "../../lib/dashboard/feed.ts";
import { knownZone, readOverview, startOfDay, type DeviceOverview } from "../../lib/dashboard/overview.ts";
import { formatUptime } from "../../lib/time.ts";
import { version } from "../../lib/version.ts";
import { duration } from "../../lib/analysis/findings.ts";
import { Ago, analysisWords, bytes, Count, Level, Time } from "./components/format.tsx";
import { notFound, page } from "./components/layout.tsx";
import { PAGE } from "./middleware.ts";
import { DevicePicker, pageDevices } from "./scope.tsx";

const FEED_ITEMS = 50;
/** Ollama answers on the LAN in milliseconds; the page does not wait long for one that hangs. */
const OLLAMA_TIMEOUT_MS = 1500;

function Backlog({ status, now }: { status: DeviceStatus | null; now: Date }) {
  if (!status) return <span class="muted">not reported yet (the agent reports it with each push)</span>;
  return (
    <span>
      <Level level={status.pendingRows ? "warn" : "ok"}>
        <Count n={status.pendingRows} unit="row" field="pending" /> pending
      </Level>
      {status.oldestUnsynced ? (
        <span>
          , oldest from <Ago at={status.oldestUnsynced} now={now} />
        </span>
      ) : null}
      {" · "}
      <Level level={status.quarantinedRows ? "bad" : "ok"}>
        <Count n={status.quarantinedRows} unit="row" field="quarantined" /> quarantined
      </Level>
      <br />
      <span class="muted">
        agent {status.agentVersion}, reported <Ago at={status.reportedAt} now={now} />
      </span>
    </span>
  );
}

function DeviceCard({ d, now, zone, ollamaUp }: { d: DeviceOverview; now: Date; zone: string; ollamaUp: boolean }) {
  const sync = d.lastSuccess;
  const backup = d.lastBackup;
  const drive = d.lastDrive;
  const driveWords = drive ? analysisWords({ status: drive.analysis?.status, jobState: drive.analysisJob, ollamaUp }) : null;
  const lastWords = d.lastAnalysis ? analysisWords({ status: d.lastAnalysis.status, jobState: d.lastAnalysis.jobState, ollamaUp }) : null;
  return (
    <article class="card" data-device={d.deviceId}>
      <h2>{d.deviceId}</h2>
      <dl class="facts">
        <dt>Last sync</dt>
        <dd data-field="last-sync">
          {sync ? <Ago at={sync.completedAt ?? sync.startedAt} now={now} /> : <span class="muted">never</span>}
          {d.lastAttempt ? (
            <div class="bad" data-field="last-attempt">
              last attempt {d.lastAttempt.status}, <Ago at={d.lastAttempt.startedAt} now={now} />
            </div>
          ) : null}
        </dd>
        <dt>Rows synced</dt>
        <dd>
          <span title={`since midnight, ${zone}`}>today</span> <Count n={d.rowsToday} unit="row" field="rows-today" /> · in all{" "}
          <Count n={d.rowsTotal} unit="row" field="rows-total" />
        </dd>
        <dt>Pi backlog</dt>
        <dd data-field="backlog">
          <Backlog status={d.status} now={now} />
        </dd>
        <dt>Last backup</dt>
        <dd data-field="last-backup">
          {backup ? (
            <span>
              <Ago at={backup.storedAt} now={now} />, <span data-field="backup-size">{bytes(backup.sizeBytes)}</span>,{" "}
              {backup.check?.matched ? <Level level="ok">verified</Level> : backup.check ? <Level level="bad">digest mismatch</Level> : <Level level="warn">not verified</Level>}
            </span>
          ) : (
            <span class="muted">none</span>
          )}
        </dd>
        <dt>Last drive</dt>
        <dd data-field="last-drive">
          {drive ? (
            <span>
              <a href={`/drives/${encodeURIComponent(d.deviceId)}/${drive.driveId}`}>
                <Time at={new Date(drive.start)} />
              </a>
              {drive.durationS !== null ? `, ${duration(drive.durationS)}` : ""}
              {drive.distanceKm !== null ? `, ${drive.distanceKm.toFixed(1)} km` : ""}
              {drive.end ? "" : ", still open"}
              {", analysis "}
              <Level level={driveWords!.level}>{driveWords!.text}</Level>
            </span>
          ) : (
            <span class="muted">none yet</span>
          )}
        </dd>
        <dt>Analysis</dt>
        <dd data-field="queue">
          <Count n={d.queue.pending} unit="drive" field="queue-pending" /> queued{d.queue.pending && !ollamaUp ? <Level level="warn"> (waiting for Ollama)</Level> : null}, {d.queue.running} running
          {d.queue.failed ? (
            <span>
              , <Level level="bad">{d.queue.failed} failed</Level>
            </span>
          ) : null}
          {d.lastAnalysis ? (
            <div class="muted" data-field="last-analysis">
              last analysis #{d.lastAnalysis.analysisId} <Level level={lastWords!.level}>{lastWords!.text}</Level>, <Ago at={d.lastAnalysis.completedAt ?? d.lastAnalysis.createdAt} now={now} />
            </div>
          ) : null}
        </dd>
      </dl>
      {d.status?.tables.length ? (
        <details>
          <summary>Backlog per table</summary>
          <table>
            <thead>
              <tr>
                <th>table</th>
                <th class="num">pending</th>
                <th>oldest unsynced</th>
                <th class="num">quarantined</th>
              </tr>
            </thead>
            <tbody>
              {d.status.tables.map((t) => (
                <tr data-table={t.table}>
                  <td>{t.table}</td>
                  <td class="num">{t.pending.toLocaleString("en-US")}</td>
                  <td>{t.oldestUnsynced ? <Time at={new Date(t.oldestUnsynced)} /> : "–"}</td>
                  <td class="num">{t.quarantined.toLocaleString("en-US")}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      ) : null}
    </article>
  );
}

function ServerCard({ ollama, model, uptime }: { ollama: OllamaStatus; model: string; uptime: string }) {
  return (
    <article class="card" data-field="server">
      <h2>Server</h2>
      <dl class="facts">
        <dt>MySQL</dt>
        <dd data-field="mysql">
          <Level level="ok">up</Level>
        </dd>
        <dt>Ollama</dt>
        <dd data-field="ollama">{ollama.ollama === "up" ? <Level level="ok">up</Level> : <Level level="bad">down</Level>}</dd>
        <dt>Model</dt>
        <dd data-field="model">
          {model}:{" "}
          {ollama.ollamaModel === model ? <Level level="ok">loaded</Level> : ollama.ollamaModel === "not_loaded" ? <Level level="warn">not pulled</Level> : <Level level="muted">unknown</Level>}
        </dd>
        <dt>Version</dt>
        <dd>
          {version}, up {uptime}
        </dd>
      </dl>
    </article>
  );
}

function Feed({ items, now, more }: { items: FeedItem[]; now: Date; more?: string }) {
  if (!items.length) return <p class="muted">Nothing yet: syncs, alerts and recommendations appear here.</p>;
  return (
    <>
      <ul class="feed" data-field="feed">
        {items.map((item) => (
          <li data-kind={item.kind} data-device={item.deviceId}>
            <span>
              <span class={`kind ${item.level}`}>{item.kind}</span>
              <br />
              <span class="muted">{item.deviceId}</span>
            </span>
            <span>
              {item.href ? <a href={item.href}>{item.text}</a> : item.text}
              <br />
              <span class="muted">
                <Ago at={item.at} now={now} />
              </span>
            </span>
          </li>
        ))}
      </ul>
      {more ? (
        <p class="pager">
          <a href={more}>Older</a>
        </p>
      ) : null}
    </>
  );
}

export function registerOverviewPage(app: App) {
  app.get("/", ...PAGE, async (c) => {
    const scope = await pageDevices(c);
    if (!scope) return notFound(c);
    const { db, config, clock, startedAt } = c.var.deps;
    const now = clock.now();
    const zone = knownZone(getCookie(c, "tz"));
    const beforeParam = c.req.query("before");
    const before = beforeParam && !Number.isNaN(Date.parse(beforeParam)) ? new Date(beforeParam) : now;
    const [devices, feed, ollama] = await Promise.all([
      readOverview(db, config.BACKUP_DIR, scope.shown, startOfDay(now, zone)),
      readFeed(db.pool, { deviceIds: scope.shown, before, limit: FEED_ITEMS }),
      ollamaStatus(config.OLLAMA_BASE_URL, config.OLLAMA_MODEL, OLLAMA_TIMEOUT_MS),
    ]);
    const older = new URLSearchParams({ ...(scope.selected ? { device: scope.selected } : {}), before: feed.at(-1)?.at.toISOString() ?? "" });
    return page(
      c,
      { title: "Overview", active: "/" },
      <>
        <DevicePicker path="/" devices={scope.all} selected={scope.selected} />
        {devices.length === 0 ? <p class="notice">No device has synced yet. Point the Pi's agent at this server (README, "On the Pi").</p> : null}
        <section class="cards">
          {devices.map((d) => (
            <DeviceCard d={d} now={now} zone={zone} ollamaUp={ollama.ollama === "up"} />
          ))}
          <ServerCard ollama={ollama} model={config.OLLAMA_MODEL} uptime={formatUptime(now.getTime() - startedAt.getTime())} />
        </section>
        <h2>Feed</h2>
        <Feed items={feed} now={now} more={feed.length === FEED_ITEMS ? `/?${older}` : undefined} />
      </>,
    );
  });
}
