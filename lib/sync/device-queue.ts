/**
 * The in-process line each device's syncs wait in, in front of their
 * transaction. A device's batches must be applied one at a time (the device
 * row lock in `devices` guarantees it, across processes too); waiting for
 * that lock inside a transaction would hold a pooled connection, so one
 * device with a few syncs in flight could drain the bulk pool and fail every
 * other device's sync. Here a sync waits its turn holding nothing, and takes
 * its connection only when the device's previous batch has finished. How many
 * syncs a device may have in line at all is admission's (lib/http/admission.ts).
 */

/** Waits for `deviceId`'s turn; resolves to the function that ends it. */
export type Turn = (deviceId: string) => Promise<() => void>;

export function deviceQueue(): Turn {
  /** Per device, the promise the next arrival waits for, and how many are in line (so an empty line is forgotten). */
  const lines = new Map<string, { tail: Promise<void>; waiting: number }>();
  return async (deviceId) => {
    const line = lines.get(deviceId) ?? { tail: Promise.resolve(), waiting: 0 };
    lines.set(deviceId, line);
    line.waiting++;
    let done!: () => void;
    const mine = new Promise<void>((resolve) => (done = resolve));
    const before = line.tail;
    line.tail = mine;
    await before;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      if (--line.waiting === 0) lines.delete(deviceId);
      done();
    };
  };
}
