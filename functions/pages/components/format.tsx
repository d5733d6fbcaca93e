/** @jsxRuntime automatic @jsxImportSource hono/jsx */
/** How the pages write times, ages, sizes and counts: every number with its unit. */
import type { Child } from "hono/jsx";

const utcText = (d: Date) => `${d.toISOString().slice(0, 19).replace("T", " ")} UTC`;

/** A time: UTC on the server, turned into the browser's zone by app.js, with UTC kept in the tooltip. */
export const Time = ({ at }: { at: Date }) => (
  <time datetime={at.toISOString()} title={utcText(at)}>
    {utcText(at)}
  </time>
);

/** "3 min ago", "2 h 5 min ago", "4 days ago" */
function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min ago`;
  return `${Math.floor(h / 24)} days ago`;
}

/** A time with its age, e.g. "12 min ago (Nov 22, 2026, 10:00:00)". */
export const Ago = ({ at, now }: { at: Date; now: Date }) => (
  <span>
    {age(now.getTime() - at.getTime())} (<Time at={at} />)
  </span>
);

export const count = (n: number) => n.toLocaleString("en-US");

/** "13.8 V", "—" for no value; never "-0.0" for a value that rounds to zero. */
export function withUnit(x: number | null | undefined, digits: number, unit: string): string {
  if (x === null || x === undefined) return "—";
  const text = x.toFixed(digits);
  return `${/^-0\.?0*$/.test(text) ? text.slice(1) : text} ${unit}`;
}

/** "1.2 MB" (powers of 1024, as file managers show them) */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = n / 1024;
  let i = 0;
  for (; v >= 1024 && i < units.length - 1; i++) v /= 1024;
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** A count with its unit, singular or plural: "1 row", "2,401 rows". */
export const Count = ({ n, unit, field }: { n: number; unit: string; field?: string }) => (
  <span class="num" data-field={field} data-value={String(n)}>
    {count(n)} {n === 1 ? unit : `${unit}s`}
  </span>
);

/** A word coloured by how good it is. */
export const Level = ({ level, children }: { level: "ok" | "warn" | "bad" | "muted"; children: Child }) => <span class={level}>{children}</span>;

export type Wording = { text: string; level: "ok" | "warn" | "bad" | "muted" };

/**
 * An analysis' state as a person should read it: a drive whose job waits for
 * an Ollama that does not answer is "waiting for Ollama", and an analysis that
 * failed but is queued to run again is not a failure (the worker retries it).
 */
export function analysisWords(a: { status: string | null | undefined; jobState: string | null | undefined; ollamaUp: boolean }): Wording {
  if (a.jobState === "running") return { text: "running", level: "warn" };
  if (a.jobState === "pending") {
    if (!a.ollamaUp) return { text: "waiting for Ollama", level: "warn" };
    return { text: a.status === "failed" ? "queued to try again" : "queued", level: "muted" };
  }
  if (!a.status) return { text: "not analysed yet", level: "muted" };
  if (a.status === "failed") return { text: "failed", level: "bad" };
  return { text: a.status, level: a.status === "completed" ? "ok" : "muted" };
}
