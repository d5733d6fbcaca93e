/** The real server entries as subprocesses, for what only a process shows: start-up, signals, exit codes. */
import { join } from "node:path";
import type { Subprocess } from "bun";

export const ROOT = join(import.meta.dir, "../..");
export const BUN = join(ROOT, "node_modules/.bin/bun");

export const ENTRIES = {
  "the Bun entry": [BUN, join(ROOT, "scripts/server.bun.ts")],
  // --import resolves from the working directory, which is a temp dir in tests; so name tsx by path.
  "the Node entry": ["node", "--import", import.meta.resolve("tsx"), join(ROOT, "scripts/server.node.ts")],
};

export type Running = { proc: Subprocess<"ignore", "pipe", "pipe">; output(): string; /** Exit code, once the output is fully read. */ exited: Promise<number> };

const started: Subprocess[] = [];

/** Starts `cmd` with exactly `env` (plus PATH and HOME), collecting its output. */
export function start(cmd: string[], cwd: string, env: Record<string, string>): Running {
  const proc = Bun.spawn(cmd, { cwd, env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? cwd, ...env }, stdout: "pipe", stderr: "pipe" });
  started.push(proc);
  let text = "";
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  };
  const drained = Promise.all([drain(proc.stdout), drain(proc.stderr)]);
  return { proc, output: () => text, exited: drained.then(() => proc.exited) };
}

/** Kills what start() started and is still running, so a failed test leaves no server behind; for afterAll. */
export async function killStarted() {
  for (const proc of started) if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
  await Promise.all(started.splice(0).map((p) => p.exited));
}

/** Polls /api/v1/health until it answers; fails with the process's output if it exits or never answers. */
export async function health(port: number, { proc, output }: Running, waitMs = 60_000) {
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}:\n${output()}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/health`, { signal: AbortSignal.timeout(10_000) });
      return { status: res.status, body: (await res.json()) as { status: string; components: Record<string, string> } };
    } catch {
      await Bun.sleep(200);
    }
  }
  throw new Error(`no answer on port ${port} within ${waitMs} ms:\n${output()}`);
}
