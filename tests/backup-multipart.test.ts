/**
 * lib/http/multipart.ts, the streaming form reader under POST /api/v1/backup, fed
 * the same body cut into chunks of every awkward size, so delimiters and
 * header ends fall across chunk edges.
 */
import { describe, expect, test } from "bun:test";
import { multipartBoundary, readMultipart } from "../lib/http/multipart.ts";

const BOUNDARY = "XbOuNdArY";

async function* chunked(body: Buffer, size: number) {
  for (let i = 0; i < body.length; i += size) yield body.subarray(i, i + size);
}

async function parse(body: Buffer, size = body.length) {
  const parts: { name: string; filename?: string; value: string }[] = [];
  for await (const part of readMultipart(chunked(body, size), BOUNDARY)) {
    const bytes: Uint8Array[] = [];
    for await (const chunk of part.body) bytes.push(chunk);
    parts.push({ name: part.name, ...(part.filename !== undefined ? { filename: part.filename } : {}), value: Buffer.concat(bytes).toString("latin1") });
  }
  return parts;
}

// File content that keeps almost matching the delimiter: CRLF, dashes, a boundary prefix.
const tricky = `\r\n--XbOuNd\r\n-\r\n--XbOuNdArZ--\r\n--\r\n${"\r".repeat(12)}end`;
const body = Buffer.from(
  `preamble is ignored\r\n--${BOUNDARY}\r\n` +
    `Content-Disposition: form-data; name="deviceId"\r\n\r\npi-1\r\n` +
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a \\"quoted\\" name.db"\r\nContent-Type: application/octet-stream\r\n\r\n${tricky}\r\n` +
    `--${BOUNDARY}\r\ncontent-disposition: form-data; name="empty"\r\n\r\n\r\n` +
    `--${BOUNDARY}--\r\nepilogue is ignored`,
  "latin1",
);
const expected = [
  { name: "deviceId", value: "pi-1" },
  { name: "file", filename: 'a "quoted" name.db', value: tricky },
  { name: "empty", value: "" },
];

describe("readMultipart", () => {
  for (const size of [1, 2, 3, 5, 8, 12, 13, 64, body.length]) {
    test(`a body in ${size}-byte chunks should give the same parts`, async () => {
      expect(await parse(body, size)).toEqual(expected);
    });
  }

  test("an unread part should be skipped whole", async () => {
    const names: string[] = [];
    for await (const part of readMultipart(chunked(body, 7), BOUNDARY)) names.push(part.name);
    expect(names).toEqual(["deviceId", "file", "empty"]);
  });

  test("a body without a closing delimiter should be refused", async () => {
    const cut = body.subarray(0, body.indexOf("end") + 3);
    await expect(parse(cut, 4)).rejects.toMatchObject({ status: 400, detail: 'Malformed multipart body: the body ends inside part "file"' });
  });

  test("a body with no boundary at all should be refused", async () => {
    await expect(parse(Buffer.from("just text"))).rejects.toMatchObject({ status: 400, detail: "Malformed multipart body: no boundary found" });
  });

  test("a part without a form-data name should be refused", async () => {
    const bad = Buffer.from(`--${BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nx\r\n--${BOUNDARY}--\r\n`);
    await expect(parse(bad)).rejects.toMatchObject({ status: 400, detail: "Malformed multipart body: a part has no Content-Disposition: form-data with a name" });
  });

  test("endless part headers should be refused, not held", async () => {
    async function* endless() {
      yield Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="x"\r\n`);
      for (;;) yield Buffer.from("X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    const parts = readMultipart(endless(), BOUNDARY);
    await expect(parts.next()).rejects.toMatchObject({ status: 400, detail: "Malformed multipart body: part headers longer than 16384 bytes" });
  });
});

describe("multipartBoundary", () => {
  test("should read plain and quoted boundaries and refuse other types", () => {
    expect(multipartBoundary("multipart/form-data; boundary=abc123")).toBe("abc123");
    expect(multipartBoundary('Multipart/Form-Data; charset=utf-8; boundary="a b:c"')).toBe("a b:c");
    expect(multipartBoundary("multipart/form-data")).toBeUndefined();
    expect(multipartBoundary("multipart/mixed; boundary=abc")).toBeUndefined();
    expect(multipartBoundary(undefined)).toBeUndefined();
  });
});
