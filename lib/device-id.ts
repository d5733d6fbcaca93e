/**
 * What a device id may be. It names the device in API keys, provenance
 * columns (VARCHAR(64)) and backup directories, so: 1-64 characters of
 * A-Z a-z 0-9 _ . -, and no leading "." (never "." or ".." as a directory).
 * Shared by the server and the Pi agent, so it imports nothing.
 */
export const DEVICE_ID = /^[A-Za-z0-9_.-]{1,64}$/;

/** Why `id` is not a valid device id, or undefined when it is. */
export function deviceIdProblem(id: string): string | undefined {
  if (!DEVICE_ID.test(id)) return "must be 1-64 characters of A-Z, a-z, 0-9, _ . -";
  if (id.startsWith(".")) return "must not start with '.'";
  return undefined;
}
