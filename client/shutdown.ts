/**
 * SIGTERM/SIGINT handling shared by `push` and `run`. The first signal stops
 * new work (no new chunk, no more waiting) and gives the request in flight
 * `graceMs` to finish, so its receipt can still be recorded; after that, or
 * on a second signal, the request is abandoned. Either way the chunk is
 * safe: its mark only moves after a receipt.
 */
export type Shutdown = {
  /** Aborted on the first SIGTERM/SIGINT: start nothing new, stop waiting. */
  stop: AbortSignal;
  /** Aborted when the in-flight request must be abandoned (a second signal, or the grace period ran out). */
  abort: AbortSignal;
};

/** The run was asked to stop (SIGTERM/SIGINT) before it finished. */
export class Stopped extends Error {}

/** Waits `ms`, or rejects with Stopped as soon as `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((done, fail) => {
    if (signal.aborted) return fail(new Stopped("stopped"));
    const onAbort = () => {
      clearTimeout(timer);
      fail(new Stopped("stopped"));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      done();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

export type ShutdownHandle = Shutdown & { signal?: NodeJS.Signals; dispose(): void };

export function onShutdown(graceMs = 10_000): ShutdownHandle {
  const stop = new AbortController();
  const abort = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const handle: ShutdownHandle = {
    stop: stop.signal,
    abort: abort.signal,
    dispose() {
      clearTimeout(timer);
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
    },
  };
  function onSignal(signal: NodeJS.Signals) {
    if (stop.signal.aborted) return abort.abort();
    handle.signal = signal;
    stop.abort();
    timer = setTimeout(() => abort.abort(), graceMs);
  }
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  return handle;
}
