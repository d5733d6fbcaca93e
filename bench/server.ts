/** For the benches: the real server as a subprocess, memory as /proc reports it, and the median of repeated runs. */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../lib/db/mariadb-server.ts";

const repo = join(import.meta.dir, "..");

/** Resident memory of a process, in MB. */
export function rssMb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;
}

/** Samples a process's RSS every `everyMs`; stop() returns the peak seen (including one last sample). */
export function watchPeakRss(pid: number, everyMs = 20): { stop(): number } {
  let peak = rssMb(pid);
  const sample = () => {
    try {
      peak = Math.max(peak, rssMb(pid));
    } catch {
      // The process has exited; keep the peak seen so far.
    }
  };
  const timer = setInterval(sample, everyMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}

export type BenchServer = { base: string; pid: number; stop(): Promise<void> };

/** `bun scripts/server.bun.ts` on a free port with `env` added; resolves once /api/v1/ping answers. */
export async function startServer(env: Record<string, string>): Promise<BenchServer> {
  const port = await freePort();
  const server = spawn(join(repo, "node_modules", ".bin", "bun"), ["scripts/server.bun.ts"], {
    cwd: repo,
    env: { ...process.env, LOG_LEVEL: "warn", NODE_ENV: "production", ...env, PORT: String(port) },
    stdio: ["ignore", "inherit", "inherit"],
  });
  const base = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (server.exitCode !== null) return;
    const exited = new Promise((done) => server.once("exit", done));
    server.kill("SIGTERM");
    await exited;
  };
  for (let i = 0; !(await fetch(`${base}/api/v1/ping`).catch(() => undefined))?.ok; i++) {
    if (i > 300 || server.exitCode !== null) {
      await stop();
      throw new Error("the server did not start");
    }
    await Bun.sleep(100);
  }
  return { base, pid: server.pid!, stop };
}

/** The median time, in ms, of `times` runs of `run`, one after another. */
export async function median(run: () => Promise<unknown>, times: number): Promise<number> {
  const took: number[] = [];
  for (let i = 0; i < times; i++) {
    const t = performance.now();
    await run();
    took.push(performance.now() - t);
  }
  return took.sort((a, b) => a - b)[Math.floor(times / 2)]!;
}
