/** The Ollama side: the official client, with every request bounded by a timeout. */
import { Ollama } from "ollama";

export function ollamaClient(baseUrl: string, timeoutMs: number): Ollama {
  return new Ollama({
    host: baseUrl,
    fetch: ((input: RequestInfo | URL, init?: RequestInit) => {
      const timeout = AbortSignal.timeout(timeoutMs);
      const signal = init?.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
      return fetch(input, { ...init, signal });
    }) as typeof fetch,
  });
}

/** Ollama names an untagged model "<name>:latest". */
export function sameModel(listed: string, wanted: string): boolean {
  return listed === wanted || listed === `${wanted}:latest`;
}

export type OllamaStatus = { ollama: "up" | "down"; ollamaModel: string };

/**
 * up when `GET /` answers; ollamaModel is the model's name when /api/tags
 * lists it, "not_loaded" when it does not, "unknown" when Ollama is down.
 * Both requests run at once, within timeoutMs.
 */
export async function ollamaStatus(baseUrl: string, model: string, timeoutMs: number): Promise<OllamaStatus> {
  const root = fetch(new URL("/", baseUrl), { signal: AbortSignal.timeout(timeoutMs) }).then(
    (r) => r.ok,
    () => false,
  );
  const tags = ollamaClient(baseUrl, timeoutMs)
    .list()
    .then(
      (list) => list.models.some((m) => sameModel(m.name, model)),
      () => undefined,
    );
  const [up, listed] = await Promise.all([root, tags]);
  if (!up) return { ollama: "down", ollamaModel: "unknown" };
  return { ollama: "up", ollamaModel: listed === undefined ? "unknown" : listed ? model : "not_loaded" };
}
