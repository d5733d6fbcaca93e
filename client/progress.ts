/**
 * The progress bar `push` draws on stderr when stderr is a terminal:
 * rows done/total, rows/s and ETA, redrawn at most ten times a second.
 */
import { count } from "./report.ts";

const WIDTH = 24;

function clock(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(h ? 2 : 1, "0");
  return `${h ? `${h}:` : ""}${mm}:${String(s % 60).padStart(2, "0")}`;
}

export type Progress = { start(total: number): void; update(table: string, rows: number): void; done(): void };

export function progressBar(out: NodeJS.WriteStream = process.stderr): Progress {
  let started = performance.now();
  let total = 0;
  let done = 0;
  let drawnAt = 0;
  const draw = (table: string) => {
    const seconds = (performance.now() - started) / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    // Rows logged while we push can make `done` pass the total counted at the start.
    const shown = Math.max(total, done);
    const filled = shown ? Math.round((WIDTH * done) / shown) : WIDTH;
    const eta = rate > 0 ? `ETA ${clock((shown - done) / rate)}` : "ETA -";
    out.write(`\r\x1b[K[${"#".repeat(filled)}${"-".repeat(WIDTH - filled)}] ${count(done)}/${count(shown)} rows  ${count(Math.round(rate))} rows/s  ${eta}  ${table}`);
  };
  return {
    start(rows) {
      total = rows;
      started = performance.now();
    },
    update(table, rows) {
      done += rows;
      const t = performance.now();
      if (t - drawnAt < 100) return;
      drawnAt = t;
      draw(table);
    },
    done() {
      out.write("\r\x1b[K");
    },
  };
}
