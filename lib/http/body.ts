/**
 * Reads a JSON request body under a byte limit, enforced while reading and
 * before parsing: a huge body is refused after `limit` bytes, never buffered
 * whole. `Content-Encoding: gzip` is accepted, and the limit then applies to
 * the decompressed size as well, so a gzip bomb is refused with memory flat.
 */
import type { Context, MiddlewareHandler } from "hono";
import { gunzipSync } from "node:zlib";
import type { AppEnv } from "./env.ts";
import { ApiError } from "./errors.ts";

function tooLarge(limitBytes: number) {
  return new ApiError(413, `Payload too large. Max: ${limitBytes / 1024 / 1024}MB`);
}

async function readLimitedBody(req: Request, limitBytes: number): Promise<string> {
  const encoding = (req.headers.get("content-encoding") ?? "identity").trim().toLowerCase();
  if (encoding !== "identity" && encoding !== "gzip" && encoding !== "x-gzip") {
    throw new ApiError(415, `Unsupported Content-Encoding "${encoding}". Send gzip or no encoding.`);
  }
  if (Number(req.headers.get("content-length")) > limitBytes) throw tooLarge(limitBytes);

  const decoder = new TextDecoder("utf-8", { fatal: true });
  const decode = (bytes: Uint8Array | undefined, stream: boolean) => {
    try {
      return decoder.decode(bytes, { stream });
    } catch {
      throw new ApiError(400, "Body is not valid UTF-8");
    }
  };
  // A plain body is decoded as it arrives, so its bytes are let go at once; a gzip one is collected first.
  const gzipped = encoding !== "identity";
  const chunks: Uint8Array[] = [];
  const text: string[] = [];
  let size = 0;
  if (req.body) {
    const reader = req.body.getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      size += r.value.byteLength;
      if (size > limitBytes) {
        await reader.cancel().catch(() => {});
        throw tooLarge(limitBytes);
      }
      if (gzipped) chunks.push(r.value);
      else text.push(decode(r.value, true));
    }
  }
  // One join, no concatenation after it: a rope would be flattened into yet another copy.
  if (!gzipped) {
    text.push(decode(undefined, false));
    return text.join("");
  }
  let bytes: Buffer;
  try {
    bytes = gunzipSync(Buffer.concat(chunks, size), { maxOutputLength: limitBytes });
  } catch (err) {
    if ((err as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") throw tooLarge(limitBytes);
    throw new ApiError(400, "Body is not valid gzip");
  }
  return decode(bytes, false);
}

/** The request's JSON body as text, read with readLimitedBody; 415 unless the Content-Type is JSON. */
export function readJsonText(c: Context<AppEnv>, limitBytes: number): Promise<string> {
  // Without a JSON content type the validator would see an empty object and blame the fields.
  if (!/^application\/([\w.-]+\+)?json\b/i.test(c.req.header("content-type") ?? "")) {
    throw new ApiError(415, "Content-Type must be application/json");
  }
  return readLimitedBody(c.req.raw, limitBytes);
}

/**
 * Route middleware: reads the body with readJsonText and hands the text to
 * Hono's body cache, so the route's zod validator (`c.req.valid("json")`)
 * parses it instead of reading the raw stream without a limit.
 */
export function limitedJsonBody(limitBytes: (c: Context<AppEnv>) => number): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const text = await readJsonText(c, limitBytes(c));
    // Hono's cache holds promises (its json() awaits it), whatever its type declares.
    (c.req.bodyCache as Record<string, unknown>).text = Promise.resolve(text);
    await next();
  };
}
