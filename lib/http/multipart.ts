/**
 * A streaming multipart/form-data reader (RFC 7578). Hono's parseBody and
 * Request.formData() hold the whole body in memory; this one hands each part's
 * bytes on as they arrive and reads the next chunk only when the consumer asks
 * for it, so a slow disk slows the socket down instead of filling memory.
 */
import { ApiError, quote } from "./errors.ts";

export type Part = {
  name: string;
  /** Set when the part is a file (its Content-Disposition has a filename, possibly ""). */
  filename?: string;
  /** The part's bytes. Reading them is optional: an unread part is skipped when the next one is asked for. */
  body: AsyncGenerator<Uint8Array>;
};

/** The boundary of a multipart/form-data Content-Type, or undefined when it is not one. */
export function multipartBoundary(contentType: string | undefined): string | undefined {
  if (!contentType || !/^multipart\/form-data\s*(;|$)/i.test(contentType)) return undefined;
  const m = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;"]{1,70}))/i.exec(contentType);
  return m?.[1] ?? m?.[2];
}

const malformed = (why: string) => new ApiError(400, `Malformed multipart body: ${why}`);

const CRLF = Buffer.from("\r\n");
const HEADERS_END = Buffer.from("\r\n\r\n");
/** Bounds one part's header block, so a body of endless header lines is refused rather than held. */
const MAX_HEADER_BYTES = 16 * 1024;

/** Reads a Content-Disposition header's parameters; values may be quoted with backslash escapes. */
function dispositionParams(value: string): Map<string, string> {
  const params = new Map<string, string>();
  const re = /;\s*([A-Za-z0-9_*.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))/g;
  for (let m; (m = re.exec(value)); ) {
    params.set(m[1]!.toLowerCase(), m[2] !== undefined ? m[2].replace(/\\(.)/g, "$1") : m[3]!.trim());
  }
  return params;
}

/**
 * The parts of a multipart body, in order. Throws ApiError 400 on a body that
 * is not well-formed (including one that ends early) and passes on the
 * source's own errors, such as a client disconnecting.
 */
export async function* readMultipart(source: AsyncIterable<Uint8Array>, boundary: string): AsyncGenerator<Part> {
  const chunks = source[Symbol.asyncIterator]();
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  // A leading CRLF makes the first delimiter look like every later one.
  let buf: Buffer = CRLF;
  const nextChunk = async (): Promise<Buffer | undefined> => {
    const next = await chunks.next();
    return next.done ? undefined : Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
  };
  const more = async (): Promise<boolean> => {
    const chunk = await nextChunk();
    if (!chunk) return false;
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    return true;
  };
  /** Drops everything up to and including the next delimiter. */
  const skipPastDelimiter = async (): Promise<void> => {
    for (;;) {
      const at = buf.indexOf(delimiter);
      if (at >= 0) {
        buf = buf.subarray(at + delimiter.length);
        return;
      }
      buf = buf.subarray(Math.max(0, buf.length - delimiter.length + 1));
      if (!(await more())) throw malformed("no boundary found");
    }
  };

  try {
    await skipPastDelimiter();
    for (;;) {
      while (buf.length < 2) if (!(await more())) throw malformed("the body ends after a boundary");
      if (buf[0] === 0x2d && buf[1] === 0x2d) return; // "--": the closing delimiter; the epilogue is ignored
      // The header block (after the boundary's CRLF) ends within MAX_HEADER_BYTES, however much of
      // the body one read brought: the end is looked for only that far, and not finding it there is refused.
      const window = 2 + MAX_HEADER_BYTES + HEADERS_END.length;
      let end: number;
      while ((end = buf.subarray(0, window).indexOf(HEADERS_END)) < 0) {
        if (buf.length >= window) throw malformed(`part headers longer than ${MAX_HEADER_BYTES} bytes`);
        if (!(await more())) throw malformed("the body ends inside part headers");
      }
      if (buf.indexOf(CRLF) !== 0) throw malformed("a boundary is not followed by CRLF");
      const headers = buf.subarray(2, end).toString("utf8");
      buf = buf.subarray(end + HEADERS_END.length);

      const disposition = /^content-disposition:([^\r\n]*)/im.exec(headers)?.[1];
      const params = dispositionParams(disposition ?? "");
      const name = params.get("name");
      if (!disposition || !/^\s*form-data\s*(;|$)/i.test(disposition) || name === undefined) {
        throw malformed("a part has no Content-Disposition: form-data with a name");
      }

      let finished = false;
      const body = (async function* () {
        for (;;) {
          const at = buf.indexOf(delimiter);
          if (at >= 0) {
            if (at > 0) yield buf.subarray(0, at);
            buf = buf.subarray(at + delimiter.length);
            finished = true;
            return;
          }
          // All but what may be the start of a delimiter is data.
          const keep = Math.min(buf.length, delimiter.length - 1);
          if (buf.length > keep) {
            const data = buf.subarray(0, buf.length - keep);
            buf = buf.subarray(buf.length - keep);
            yield data;
          }
          const chunk = await nextChunk();
          if (!chunk) throw malformed(`the body ends inside part ${quote(name)}`);
          // When no delimiter can start in the kept bytes they are data too, and the chunk goes on uncopied.
          // (A delimiter starting there would end within the chunk's first delimiter.length - 1 bytes.)
          const short = chunk.length < delimiter.length - 1;
          if (short || Buffer.concat([buf, chunk.subarray(0, delimiter.length - 1)]).includes(delimiter)) {
            buf = Buffer.concat([buf, chunk]);
          } else {
            if (buf.length) yield buf;
            buf = chunk;
          }
        }
      })();
      yield { name, filename: params.get("filename"), body };
      if (!finished) for await (const _ of body);
      // A body the consumer abandoned (return()) never reached its delimiter: parsing on would misread it.
      if (!finished) throw new Error(`multipart part ${quote(name)} was abandoned before its end`);
    }
  } finally {
    await chunks.return?.();
  }
}
