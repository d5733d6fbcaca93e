/** @jsxRuntime automatic @jsxImportSource hono/jsx */
/**
 * GET /drives/{deviceId}/{driveId}: one drive. Its summary; stacked uPlot
 * panels on one time axis (drive.js draws them from the drive series
 * endpoint, re-fetches a zoomed window at full resolution, and refreshes the
 * window's statistics from the stats endpoint); alerts and trouble codes,
 * marked on the charts and listed; the stored findings; the latest analysis
 * with its recommendations and a re-analyse button (POST, CSRF-checked);
 * the fuel-trim map; and the readings as CSV (GET ….csv, streamed).
 * Another device's drive is 404 for a device session.
 */
import type { Context } from "hono";
import { raw } from "hono/html";
import type { AppEnv, App } from "../../lib/http/env.ts";
import { readDtcs, type DriveDtc } from "../../lib/analysis/dtcs.ts";
import { duration } from "../../lib/analysis/findings.ts";
import { requestDriveAnalysis } from "../../lib/analysis/jobs.ts";
import { ollamaStatus } from "../../lib/analysis/ollama.ts";
import { analysisRecord, type AnalysisRecord } from "../../lib/analysis/records.ts";
import { visibleDevices } from "../../lib/dashboard/overview.ts";
import { readTrimMap, LOAD_EDGES, RPM_EDGES, type TrimMap } from "../../lib/drives/fuel-trim-map.ts";
import { driveById, getDrive, type DriveDetail } from "../../lib/drives/list.ts";
import { readingsCsv } from "../../lib/readings/csv.ts";
import { fromSqlDatetime, sqlTimestamp } from "../../lib/time.ts";
import { assetUrl } from "./assets.ts";
import { analysisWords, Time, withUnit, type Wording } from "./components/format.tsx";
import { CsrfField, notFound, page } from "./components/layout.tsx";
import { checkedForm, smallForm } from "./form.ts";
import { PAGE } from "./middleware.ts";

/** The panels, top to bottom; each shows those of its parameters the drive logged. */
const PANELS = [["RPM", "SPEED", "THROTTLE_POS"], ["COOLANT_TEMP", "INTAKE_TEMP"], ["SHORT_FUEL_TRIM_1", "LONG_FUEL_TRIM_1"], ["CONTROL_MODULE_VOLTAGE"]];
const MAX_ALERTS = 200;
/** Ollama answers on the LAN in milliseconds; the page does not wait long for one that hangs. */
const OLLAMA_TIMEOUT_MS = 1500;
/** What the page says after its re-analyse button (a redirect, so a reload does not post again). */
const NOTICES: Record<string, string> = {
  queued: "The drive's analysis is queued; this page shows its result once it is done.",
  running: "Its analysis is running now; the drive is analysed again when it finishes.",
};
const DRIVE_PATH = "/drives/:deviceId/:driveId{-?[0-9]{1,18}}";

type Alert = { at: Date; type: string; parameter: string; value: number; threshold: number };

async function readAlerts(c: Context<AppEnv>, deviceId: string, start: Date, end: Date): Promise<Alert[]> {
  const rows = await c.var.deps.db.pool.query(
    {
      sql: `SELECT timestamp, alert_type, parameter_name, value, threshold FROM alert_log WHERE source_device = ? AND timestamp BETWEEN ? AND ? ORDER BY timestamp LIMIT ${MAX_ALERTS}`,
      dateStrings: true,
    },
    [deviceId, sqlTimestamp(start), `${sqlTimestamp(end)}999`],
  );
  return rows.map((r: Record<string, any>) => ({ at: fromSqlDatetime(r.timestamp), type: r.alert_type, parameter: r.parameter_name, value: r.value, threshold: r.threshold }));
}

/** The drive's analysis in words (analysisWords), with why when it cannot run or failed for good. */
async function analysisState(c: Context<AppEnv>, ref: bigint, latest: AnalysisRecord | null): Promise<Wording> {
  const { pool } = c.var.deps.db;
  const { config } = c.var.deps;
  const [job] = await pool.query("SELECT state FROM analysis_jobs WHERE drive_ref = ?", [ref]);
  const ollamaUp = job?.state === "pending" ? (await ollamaStatus(config.OLLAMA_BASE_URL, config.OLLAMA_MODEL, OLLAMA_TIMEOUT_MS)).ollama === "up" : true;
  const words = analysisWords({ status: latest?.status, jobState: job?.state, ollamaUp });
  if (job?.state === "pending" && !config.ANALYSIS_ENABLED) return { text: "queued (analysis is switched off: ANALYSIS_ENABLED=false)", level: "muted" };
  if (words.text === "waiting for Ollama") return { ...words, text: "waiting for Ollama (it is not reachable; the drive is analysed when it is back)" };
  if (words.text === "not analysed yet") return { ...words, text: "not analysed yet (a drive is analysed once it is closed and its rows have settled)" };
  if (words.text === "failed") return { ...words, text: `failed: ${latest?.error ?? "no reason recorded"}` };
  return words;
}


function Facts({ d }: { d: DriveDetail }) {
  return (
    <dl class="facts" data-field="facts">
      <dt>Started</dt>
      <dd><Time at={new Date(d.start)} /></dd>
      <dt>Ended</dt>
      <dd>{d.end ? <Time at={new Date(d.end)} /> : <span class="warn">still open</span>} {d.closedBy ? <span class="muted">(closed by {d.closedBy.replace("_", " ")})</span> : null}</dd>
      <dt>Duration</dt>
      <dd data-field="duration" data-value={String(d.durationS ?? "")}>{d.durationS === null ? "—" : duration(d.durationS)}</dd>
      <dt>Distance</dt>
      <dd data-field="distance" data-value={String(d.distanceKm ?? "")}>{withUnit(d.distanceKm, 1, "km")}</dd>
      <dt>Readings</dt>
      <dd data-field="readings" data-value={String(d.readings ?? "")}>{d.readings?.toLocaleString("en-US") ?? "—"}</dd>
      <dt>Max coolant</dt>
      <dd>{withUnit(d.maxCoolantC, 0, "°C")}</dd>
      <dt>Running voltage</dt>
      <dd>{d.minRunningV === null ? "—" : `${withUnit(d.meanRunningV, 2, "V")} mean, ${withUnit(d.minRunningV, 2, "V")} lowest`}</dd>
      <dt>Fuel trims</dt>
      <dd>{d.stftMean === null && d.ltftMean === null ? "—" : `STFT ${withUnit(d.stftMean, 1, "%")}, LTFT ${withUnit(d.ltftMean, 1, "%")} (means)`}</dd>
      <dt>Data</dt>
      <dd>{d.dataSource ?? "real"}</dd>
    </dl>
  );
}

/** Per-parameter statistics; drive.js rewrites the body for a zoomed window. */
function WindowStats({ d }: { d: DriveDetail }) {
  const n = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(2));
  return (
    <div class="scroll">
      <table id="window-stats">
        <thead>
          <tr><th>Parameter</th><th class="num">Readings</th><th class="num">Min</th><th class="num">Mean</th><th class="num">Max</th><th class="num">p95</th><th>Unit</th></tr>
        </thead>
        <tbody>
          {d.parameters.map((p) => (
            <tr data-parameter={p.parameter}>
              <td data-label="Parameter">{p.parameter}</td>
              <td class="num" data-label="Readings" data-field="count">{p.count}</td>
              <td class="num" data-label="Min" data-field="min">{n(p.min)}</td>
              <td class="num" data-label="Mean" data-field="mean">{n(p.mean)}</td>
              <td class="num" data-label="Max" data-field="max">{n(p.max)}</td>
              <td class="num" data-label="p95" data-field="p95">{n(p.p95)}</td>
              <td data-label="Unit">{p.unit ?? ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Events({ alerts, dtcs }: { alerts: Alert[]; dtcs: DriveDtc[] }) {
  if (!alerts.length && !dtcs.length) return <p class="muted">No alerts and no trouble codes during this drive.</p>;
  return (
    <ul class="feed" id="events">
      {dtcs.map((t) => (
        <li data-kind="dtc" data-code={t.code}>
          <span class="kind bad">DTC {t.status}</span>
          <span>
            <strong>{t.code}</strong> {t.description ?? ""} {t.recurring ? <span class="warn">(seen before)</span> : <span class="muted">(new)</span>}, first seen <Time at={new Date(t.firstSeen)} />
          </span>
        </li>
      ))}
      {alerts.map((a) => (
        <li data-kind="alert">
          <span class="kind warn">Alert</span>
          <span>
            <Time at={a.at} /> {a.type}: {a.parameter} {a.value} (threshold {a.threshold})
          </span>
        </li>
      ))}
    </ul>
  );
}

/** Trim colour classes: lean (the ECU adds fuel) is warm, rich cool; each step is 5 %. */
const trimClass = (pct: number) => `trim ${pct >= 0 ? "lean" : "rich"}${Math.min(3, Math.floor(Math.abs(pct) / 5))}`;

function TrimTable({ map }: { map: TrimMap }) {
  if (!map.samples) return <p class="muted" data-field="trim-map">No warm, closed-loop fuel-trim samples in this drive (it needs COOLANT_TEMP at 80 °C or more, RPM, ENGINE_LOAD and both trims).</p>;
  const cell = new Map(map.cells.map((x) => [`${x.load[0]}:${x.rpm[0]}`, x]));
  const loads = LOAD_EDGES.slice(0, -1).reverse();
  const rpms = RPM_EDGES.slice(0, -1);
  return (
    <>
      <p class="muted">
        Mean STFT + LTFT in %, and its sample count, per RPM × engine load; {map.samples.toLocaleString("en-US")} warm, closed-loop samples (closed loop{" "}
        {map.closedLoopBy === "status" ? "by the fuel system status" : "taken as 10–75 % load with the engine running"}). Positive: the ECU adds fuel (lean).
      </p>
      <div class="scroll">
        <table id="trim-map" class="trim-map">
          <thead>
            <tr>
              <th>load \ rpm</th>
              {rpms.map((r) => <th class="num">{r}</th>)}
            </tr>
          </thead>
          <tbody>
            {loads.map((l) => (
              <tr>
                <th>{`${l}–${l + 10} %`}</th>
                {rpms.map((r) => {
                  const x = cell.get(`${l}:${r}`);
                  return x ? (
                    <td class={trimClass(x.meanPct)} data-rpm={String(r)} data-load={String(l)} data-count={String(x.count)} data-mean={String(x.meanPct)} title={`${x.count} samples`}>
                      {x.meanPct.toFixed(1)}
                      <small>{x.count}</small>
                    </td>
                  ) : (
                    <td class="trim empty"></td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

function Analysis({ c, d, latest, state, notice }: { c: Context<AppEnv>; d: DriveDetail; latest: AnalysisRecord | null; state: Wording; notice?: string }) {
  const recs = latest?.status === "completed" ? latest.recommendations : [];
  return (
    <section>
      <h2>Analysis</h2>
      {notice ? <p class="notice" data-field="notice">{notice}</p> : null}
      <p>
        <span class={state.level} data-field="analysis-status">{state.text}</span>
        {latest ? <span class="muted"> · analysis #{latest.analysisId}, model {latest.model}</span> : null}
      </p>
      {recs.length ? (
        <ol class="recs" data-field="recommendations">
          {recs.map((r) => (
            <li data-rank={String(r.rank)}>
              <strong>{r.category}</strong> <span class="muted">(rank {r.rank}, confidence {Math.round(r.confidence * 100)} %)</span>
              <br />
              {r.recommendation}
            </li>
          ))}
        </ol>
      ) : null}
      <form method="post" action={`/drives/${encodeURIComponent(d.deviceId)}/${d.driveId}/analyze`}>
        <CsrfField token={c.var.session!.csrf} />
        <button type="submit" data-field="reanalyse">Re-analyse this drive</button>
      </form>
    </section>
  );
}

async function drivePage(c: Context<AppEnv>, notice?: string) {
  const deviceId = c.req.param("deviceId")!;
  const driveId = Number(c.req.param("driveId"));
  const { pool, prisma } = c.var.deps.db;
  if (!(await visibleDevices(pool, c.var.auth)).includes(deviceId)) return notFound(c);
  const [d, ref] = await Promise.all([getDrive(pool, deviceId, driveId), driveById(pool, deviceId, driveId)]);
  if (!d || !ref) return notFound(c);
  const latestRow = d.analysis ? await prisma.analysis_history.findUnique({ where: { analysis_id: BigInt(d.analysis.analysisId) } }) : null;
  const latest = latestRow ? analysisRecord(latestRow) : null;
  const window = { deviceId, from: ref.start, to: ref.end };
  const [alerts, dtcs, trims, state] = await Promise.all([
    readAlerts(c, deviceId, ref.start, ref.end),
    readDtcs(pool, { deviceId, start: ref.start, end: ref.end, driveId: ref.driveId }),
    readTrimMap(pool, window),
    analysisState(c, ref.ref, latest),
  ]);
  const logged = d.parameters.map((p) => p.parameter);
  const panels = PANELS.map((names) => names.filter((n) => logged.includes(n))).filter((names) => names.length);
  const charted = panels.flat();
  const data = {
    deviceId,
    driveId,
    start: ref.start.getTime(),
    end: ref.end.getTime(),
    panels,
    others: logged.filter((n) => !charted.includes(n)),
    units: Object.fromEntries(d.parameters.map((p) => [p.parameter, p.unit])),
    markers: [
      ...alerts.map((a) => ({ t: a.at.getTime(), kind: "alert", label: `${a.type} ${a.parameter} ${a.value}` })),
      ...dtcs.map((t) => ({ t: Math.max(ref.start.getTime(), new Date(t.firstSeen).getTime()), kind: "dtc", label: t.code })),
    ],
  };
  const title = `Drive ${driveId} of ${deviceId}`;
  const csv = `/drives/${encodeURIComponent(deviceId)}/${driveId}.csv`;
  return page(
    c,
    { title, active: "/drives", scripts: [assetUrl("uPlot.iife.min.js"), assetUrl("drive.js")], styles: [assetUrl("uPlot.min.css")] },
    <>
      <Facts d={d} />
      <p>
        <a href={csv} data-field="csv" download>Readings as CSV</a>
      </p>
      <h2>Charts</h2>
      {/* The JSON the chart script reads (a data block, not a script: the CSP allows no inline script). */}
      <script type="application/json" id="drive-data">{raw(JSON.stringify(data).replace(/</g, "\\u003c"))}</script>
      <div class="chart-tools">
        <button type="button" id="zoom-reset" disabled>Zoom out</button>
        {data.others.length ? (
          <label>
            Add a chart:{" "}
            <select id="add-parameter">
              <option value="">choose a parameter</option>
              {data.others.map((n) => <option value={n}>{n}</option>)}
            </select>
          </label>
        ) : null}
        <span class="muted" id="chart-status">Drag across a chart to zoom; the zoomed window is read again at full resolution.</span>
      </div>
      <div id="charts" class="charts"></div>
      <h2>Statistics of the <span id="window-label">whole drive</span></h2>
      <WindowStats d={d} />
      <h2>Alerts and trouble codes</h2>
      <Events alerts={alerts} dtcs={dtcs} />
      <h2>Findings</h2>
      {d.findings.length ? (
        <ul class="findings" data-field="findings">
          {d.findings.map((f) => (
            <li data-code={f.code}>
              <span class={f.severity === "critical" ? "bad" : f.severity === "warning" ? "warn" : "muted"}>{f.severity}</span> {f.message}
            </li>
          ))}
        </ul>
      ) : (
        <p class="muted">{d.summarizedAt ? "The rules found nothing to say about this drive." : "The drive is not summarised yet: it is summarised once it is closed and its rows have settled."}</p>
      )}
      <Analysis c={c} d={d} latest={latest} state={state} notice={notice} />
      <h2>Fuel-trim map</h2>
      <TrimTable map={trims} />
    </>,
  );
}

export function registerDrivePage(app: App) {
  app.get(DRIVE_PATH, ...PAGE, (c) => drivePage(c, NOTICES[c.req.query("analysis") ?? ""]));

  app.get("/drives/:deviceId/:file{-?[0-9]{1,18}\\.csv}", ...PAGE, async (c) => {
    const deviceId = c.req.param("deviceId");
    const driveId = Number(c.req.param("file").slice(0, -4));
    const { pool } = c.var.deps.db;
    if (!(await visibleDevices(pool, c.var.auth)).includes(deviceId)) return notFound(c);
    const drive = await driveById(pool, deviceId, driveId);
    if (!drive) return notFound(c);
    const name = `${deviceId}-drive-${driveId}.csv`.replace(/[^\w.-]/g, "_");
    return c.body(readingsCsv(pool, { deviceId, from: drive.start, to: drive.end }), 200, {
      "content-type": "text/csv; charset=utf-8",
      "content-disposition": `attachment; filename="${name}"`,
    });
  });

  app.post(`${DRIVE_PATH}/analyze`, ...PAGE, smallForm, async (c) => {
    const { refusal } = await checkedForm(c);
    if (refusal) return refusal;
    const deviceId = c.req.param("deviceId");
    const { pool } = c.var.deps.db;
    if (!(await visibleDevices(pool, c.var.auth)).includes(deviceId)) return notFound(c);
    const drive = await driveById(pool, deviceId, Number(c.req.param("driveId")));
    if (!drive) return notFound(c);
    const queued = await requestDriveAnalysis(pool, drive.ref, c.var.deps.clock.now());
    c.var.logger.info({ deviceId, driveId: Number(drive.driveId), queued }, "re-analysis asked from the dashboard");
    return c.redirect(`/drives/${encodeURIComponent(deviceId)}/${drive.driveId}?analysis=${queued ? "queued" : "running"}`, 303);
  });
}
