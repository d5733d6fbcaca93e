/**
 * A real HTTP server speaking Ollama's protocol on loopback: `GET /`,
 * `GET /api/tags` and `POST /api/chat` (streamed or not), answered the way
 * Ollama answers them. Tests choose the models it lists, what chat replies,
 * and whether chat fails (an HTTP error) or answers late.
 */
export type FakeOllama = {
  url: string;
  chats: unknown[];
  models: string[];
  reply: (request: any) => string;
  /** Answer every chat with this HTTP status and Ollama's {"error": …} body. */
  fail?: { status: number; error: string };
  /** Hold every chat's answer this long. */
  delayMs: number;
  stop(): void;
};

export function startFakeOllama({ models = ["gemma2:2b"], reply = () => "ok", hang = false, fail, delayMs = 0, port = 0 } = {} as {
  models?: string[];
  reply?: (request: any) => string;
  /** Accept connections but never answer, like a wedged Ollama. */
  hang?: boolean;
  fail?: { status: number; error: string };
  delayMs?: number;
  /** Listen here (0: any free port), e.g. to bring a stopped fake back at the same URL. */
  port?: number;
}): FakeOllama {
  const fake: FakeOllama = { url: "", chats: [], models, reply, fail, delayMs, stop: () => server.stop(true) };
  const server = Bun.serve({
    port,
    hostname: "127.0.0.1",
    async fetch(req) {
      if (hang) return new Promise<Response>(() => {});
      const { pathname } = new URL(req.url);
      if (req.method === "GET" && pathname === "/") return new Response("Ollama is running");
      if (req.method === "GET" && pathname === "/api/tags") {
        return Response.json({
          models: fake.models.map((name) => ({
            name,
            model: name,
            modified_at: "2026-11-01T00:00:00Z",
            size: 1_629_518_495,
            digest: "8ccf136fdd5298f3ffe2d69862750ea7fb56555fa4d5b18c04e3fa4d82ee09d7",
            details: { format: "gguf", family: "gemma2", families: ["gemma2"], parameter_size: "2.6B", quantization_level: "Q4_0" },
          })),
        });
      }
      if (req.method === "POST" && pathname === "/api/chat") {
        const body = (await req.json()) as { model: string; stream?: boolean };
        fake.chats.push(body);
        if (fake.delayMs > 0) await Bun.sleep(fake.delayMs);
        if (fake.fail) return Response.json({ error: fake.fail.error }, { status: fake.fail.status });
        if (!fake.models.some((m) => m === body.model || m === `${body.model}:latest`)) {
          return Response.json({ error: `model "${body.model}" not found, try pulling it first` }, { status: 404 });
        }
        const content = fake.reply(body);
        const created_at = new Date().toISOString();
        const done = { model: body.model, created_at, done: true, done_reason: "stop", total_duration: 1_000_000, eval_count: 10 };
        if (body.stream === false) return Response.json({ ...done, message: { role: "assistant", content } });
        const lines = [
          { model: body.model, created_at, message: { role: "assistant", content }, done: false },
          { ...done, message: { role: "assistant", content: "" } },
        ];
        return new Response(lines.map((l) => JSON.stringify(l)).join("\n") + "\n", { headers: { "content-type": "application/x-ndjson" } });
      }
      return new Response("404 page not found", { status: 404 });
    },
  });
  fake.url = `http://127.0.0.1:${server.port}`;
  return fake;
}
