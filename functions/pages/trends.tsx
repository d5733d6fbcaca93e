/** @jsxRuntime automatic @jsxImportSource hono/jsx */
/**
 * GET /trends: per device, one row per summarised drive (oldest first): mean
 * LTFT, peak coolant, warm-up time, mean running voltage and trouble codes,
 * with the drives that stand out against the car's own drives marked
 * (lib/dashboard/trends.ts has the rule); trends.js draws a small chart per
 * metric from the table.
 */
import type { App } from "../../lib/http/env.ts";
import { METRICS, readTrends, TREND_DRIVES, type Metric, type TrendPoint } from "../../lib/dashboard/trends.ts";
import { assetUrl } from "./assets.ts";
import { Time, withUnit } from "./components/format.tsx";
import { notFound, page } from "./components/layout.tsx";
import { PAGE } from "./middleware.ts";
import { DevicePicker, pageDevices } from "./scope.tsx";

const LABELS: Record<Metric, [label: string, unit: string, digits: number]> = {
  ltftMean: ["LTFT mean", "%", 1],
  maxCoolantC: ["Max coolant", "°C", 0],
  warmUpS: ["Warm-up", "s", 0],
  meanRunningV: ["Running voltage", "V", 2],
  dtcCount: ["DTCs", "", 0],
};

function DeviceTrends({ deviceId, points }: { deviceId: string; points: TrendPoint[] }) {
  const flagged = points.filter((p) => p.anomalies.length).length;
  return (
    <section data-device={deviceId}>
      <h2>{deviceId}</h2>
      {points.length === 0 ? (
        <p class="muted">No summarised drives yet.</p>
      ) : (
        <>
          <p class="muted">
            {points.length} {points.length === 1 ? "drive" : "drives"}
            {points.length === TREND_DRIVES ? ` (the last ${TREND_DRIVES})` : ""}; {flagged} {flagged === 1 ? "stands" : "stand"} out against the others (a robust z-score beyond 3.5, from 5 drives on).
          </p>
          <div class="scroll">
            <table class="stack" data-field="trends">
              <thead>
                <tr>
                  <th>Drive</th>
                  {METRICS.map((m) => (
                    <th class="num">{LABELS[m][0]}{LABELS[m][1] ? ` (${LABELS[m][1]})` : ""}</th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {points.map((p) => (
                  <tr data-drive={String(p.driveId)} class={p.anomalies.length ? "anomaly" : undefined} data-anomaly={p.anomalies.length ? "1" : undefined}>
                    <td data-label="drive">
                      <a href={`/drives/${encodeURIComponent(deviceId)}/${p.driveId}`}>
                        <Time at={p.start} />
                      </a>
                    </td>
                    {METRICS.map((m) => {
                      const v = p.values[m];
                      const odd = p.anomalies.includes(m);
                      return (
                        <td class={odd ? "num anomaly" : "num"} data-label={LABELS[m][0]} data-field={m} data-value={v === null ? "" : String(v)} data-anomaly={odd ? "1" : undefined} title={odd ? "stands out against this car's drives" : undefined}>
                          {withUnit(v, LABELS[m][2], "").trim()}
                          {odd ? " ⚠" : ""}
                        </td>
                      );
                    })}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}

export function registerTrendsPage(app: App) {
  app.get("/trends", ...PAGE, async (c) => {
    const scope = await pageDevices(c);
    if (!scope) return notFound(c);
    const sections = [];
    for (const deviceId of scope.shown) sections.push(<DeviceTrends deviceId={deviceId} points={await readTrends(c.var.deps.db.pool, deviceId)} />);
    return page(
      c,
      { title: "Trends", active: "/trends", scripts: [assetUrl("uPlot.iife.min.js"), assetUrl("trends.js")], styles: [assetUrl("uPlot.min.css")] },
      <>
        <DevicePicker path="/trends" devices={scope.all} selected={scope.selected} />
        {sections}
      </>,
    );
  });
}
