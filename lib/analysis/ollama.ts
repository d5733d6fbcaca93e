/** The Ollama side: the official client, with every request bounded by a timeout. */
import { Ollama } from "ollama";

/**
 * Every request ends after timeoutMs (rejecting with a TimeoutError) or when
 * `signal` aborts (an AbortError), whichever comes first.
 */
export function ollamaClient(baseUrl: string, timeoutMs: number, signal?: AbortSignal): Ollama {
  return new Ollama({
    host: baseUrl,
    fetch: ((input: RequestInfo | URL, init?: RequestInit) => {
      const signals = [AbortSignal.timeout(Math.ceil(timeoutMs)), signal, init?.signal].filter((s) => s !== undefined && s !== null);
      return fetch(input, { ...init, signal: signals.length > 1 ? AbortSignal.any(signals) : signals[0] });
    }) as typeof fetch,
  });
}

/** Ollama names an untagged model "<name>:latest". */
function sameModel(listed: string, wanted: string): boolean {
  return listed === wanted || listed === `${wanted}:latest`;
}

export type OllamaStatus = { ollama: "up" | "down"; ollamaModel: string };

/**
 * up when `GET /` answers; ollamaModel is the model's name when /api/tags
 * lists it, "not_loaded" when it does not, "unknown" when Ollama is down.
 * Both requests run at once, within timeoutMs.
 */
export async function ollamaStatus(baseUrl: string, model: string, timeoutMs: number): Promise<OllamaStatus> {
  const root = fetch(new URL("/", baseUrl), { signal: AbortSignal.timeout(Math.ceil(timeoutMs)) }).then(
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
