/** @jsxRuntime automatic @jsxImportSource hono/jsx */
/**
 * GET /drives: the drives of the session's devices, newest first, a page at
 * a time (`before=` the last one's start), narrowed by `?device=` and by a
 * date range (`from`, `to`: days in the browser's zone, both included).
 * Every figure is the stored summary's (lib/drives/list.ts); each row links
 * to the drive's page.
 */
import type { Context } from "hono";
import { getCookie } from "hono/cookie";
import type { App, AppEnv } from "../../lib/http/env.ts";
import { duration } from "../../lib/analysis/findings.ts";
import { ollamaStatus } from "../../lib/analysis/ollama.ts";
import { knownZone, startOfDay } from "../../lib/dashboard/overview.ts";
import { listDrives, type Drive } from "../../lib/drives/list.ts";
import { analysisWords, Level, Time, withUnit } from "./components/format.tsx";
import { notFound, page } from "./components/layout.tsx";
import { PAGE } from "./middleware.ts";
import { DevicePicker, pageDevices } from "./scope.tsx";

const PER_PAGE = 50;
/** A page may list this many (`?limit=`), e.g. to print a year of drives. */
const MAX_PER_PAGE = 1000;
const OLLAMA_TIMEOUT_MS = 1500;
const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Midnight starting the day `text` (YYYY-MM-DD) names in `zone`, or undefined for no such day. */
function dayStart(text: string | undefined, zone: string): Date | undefined {
  const m = text ? DAY.exec(text) : null;
  if (!m) return undefined;
  const noon = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), 12));
  return Number.isNaN(noon.getTime()) ? undefined : startOfDay(noon, zone);
}


function Row({ d, ollamaUp }: { d: Drive; ollamaUp: boolean }) {
  const words = analysisWords({ status: d.analysis?.status, jobState: d.analysisJob, ollamaUp });
  const summarised = d.summarizedAt !== null;
  return (
    <tr data-device={d.deviceId} data-drive={String(d.driveId)}>
      <td data-label="date">
        <a href={`/drives/${encodeURIComponent(d.deviceId)}/${d.driveId}`}>
          <Time at={new Date(d.start)} />
        </a>
        <br />
        <span class="muted">
          {d.deviceId} · drive {d.driveId}
          {d.end ? "" : " · still open"}
          {d.end && !summarised ? " · summary to come" : ""}
        </span>
      </td>
      <td class="num" data-label="duration" data-field="duration" data-value={String(d.durationS ?? "")}>{d.durationS === null ? "—" : duration(d.durationS)}</td>
      <td class="num" data-label="distance" data-field="distance" data-value={String(d.distanceKm ?? "")}>{withUnit(d.distanceKm, 1, "km")}</td>
      <td class="num" data-label="max coolant" data-field="max-coolant" data-value={String(d.maxCoolantC ?? "")}>{withUnit(d.maxCoolantC, 0, "°C")}</td>
      <td class="num" data-label="min voltage" data-field="min-voltage" data-value={String(d.minRunningV ?? "")}>{withUnit(d.minRunningV, 2, "V")}</td>
      <td class="num" data-label="STFT / LTFT" data-field="trims" data-value={`${d.stftMean ?? ""}/${d.ltftMean ?? ""}`}>
        {d.stftMean === null && d.ltftMean === null ? "—" : `${withUnit(d.stftMean, 1, "%")} / ${withUnit(d.ltftMean, 1, "%")}`}
      </td>
      <td class="num" data-label="alerts" data-field="alerts" data-value={String(d.alertCount ?? "")}>{d.alertCount ?? "—"}</td>
      <td data-label="DTCs" data-field="dtcs">{d.dtcCodes.length ? <Level level="bad">{d.dtcCodes.join(", ")}</Level> : <span class="muted">none</span>}</td>
      <td data-label="analysis" data-field="analysis">
        <Level level={words.level}>{words.text}</Level>
      </td>
    </tr>
  );
}

export function registerDrivesPage(app: App) {
  app.get("/drives", ...PAGE, async (c: Context<AppEnv>) => {
    const scope = await pageDevices(c);
    if (!scope) return notFound(c);
    const { db, config } = c.var.deps;
    const zone = knownZone(getCookie(c, "tz"));
    const q = { from: c.req.query("from") ?? "", to: c.req.query("to") ?? "", before: c.req.query("before") ?? "" };
    const limit = Math.min(MAX_PER_PAGE, Math.max(1, Number.parseInt(c.req.query("limit") ?? "", 10) || PER_PAGE));
    const from = dayStart(q.from, zone);
    // The day after `to` starts where the range ends.
    const toEnd = dayStart(q.to, zone) ? startOfDay(new Date(dayStart(q.to, zone)!.getTime() + 36 * 3600_000), zone) : undefined;
    const cursor = q.before && !Number.isNaN(Date.parse(q.before)) ? new Date(q.before) : undefined;
    const before = cursor && toEnd ? (cursor < toEnd ? cursor : toEnd) : (cursor ?? toEnd);
    const drives = await listDrives(db.pool, { deviceIds: scope.shown, limit, before, from });
    // Only a queued drive's wording depends on Ollama ("waiting for Ollama"); otherwise the page does not ask it.
    const ollamaUp = drives.some((d) => d.analysisJob === "pending") ? (await ollamaStatus(config.OLLAMA_BASE_URL, config.OLLAMA_MODEL, OLLAMA_TIMEOUT_MS)).ollama === "up" : true;
    const keep = { ...(scope.selected ? { device: scope.selected } : {}), ...(q.from ? { from: q.from } : {}), ...(q.to ? { to: q.to } : {}), ...(limit !== PER_PAGE ? { limit: String(limit) } : {}) };
    const older = drives.length === limit ? `/drives?${new URLSearchParams({ ...keep, before: drives.at(-1)!.start })}` : undefined;
    return page(
      c,
      { title: "Drives", active: "/drives" },
      <>
        <DevicePicker path="/drives" devices={scope.all} selected={scope.selected} />
        <form class="filters" method="get" action="/drives">
          {scope.selected ? <input type="hidden" name="device" value={scope.selected} /> : null}
          <label>
            From <input type="date" name="from" value={q.from} />
          </label>{" "}
          <label>
            to <input type="date" name="to" value={q.to} />
          </label>{" "}
          <button type="submit">Show</button>
          {q.from || q.to ? (
            <>
              {" "}
              <a href={scope.selected ? `/drives?device=${encodeURIComponent(scope.selected)}` : "/drives"}>all dates</a>
            </>
          ) : null}
        </form>
        {drives.length === 0 ? (
          <p class="muted" data-field="no-drives">{cursor ? "No older drives." : "No drives here yet: they appear as soon as a sync brings a drive's rows."}</p>
        ) : (
          <div class="scroll">
            <table class="stack" data-field="drives">
              <thead>
                <tr>
                  <th>Date</th>
                  <th class="num">Duration</th>
                  <th class="num">Distance</th>
                  <th class="num">Max coolant</th>
                  <th class="num">Min voltage</th>
                  <th class="num">STFT / LTFT</th>
                  <th class="num">Alerts</th>
                  <th>DTCs</th>
                  <th>Analysis</th>
                </tr>
              </thead>
              <tbody>
                {drives.map((d) => (
                  <Row d={d} ollamaUp={ollamaUp} />
                ))}
              </tbody>
            </table>
          </div>
        )}
        {older ? (
          <p class="pager">
            <a href={older} data-field="older">Older drives</a>
          </p>
        ) : null}
      </>,
    );
  });
}
