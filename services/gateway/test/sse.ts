import { decodeSseEvents, type SseMessage } from "@luthien/wire";

/** Posts to the gateway with fetch and collects the raw SSE events, with the time the stream closed. */
export async function postRaw(url: string, body: unknown, init: { headers?: Record<string, string>; signal?: AbortSignal } = {}): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...init.headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
    ...(init.signal !== undefined ? { signal: init.signal } : {}),
  });
}

export async function readEvents(res: Response, onEvent?: (e: SseMessage, n: number) => void): Promise<{ events: SseMessage[]; closedAt: number }> {
  const events: SseMessage[] = [];
  if (res.body === null) throw new Error("no body");
  for await (const e of decodeSseEvents(res.body as unknown as AsyncIterable<Uint8Array>)) {
    events.push(e);
    onEvent?.(e, events.length);
  }
  return { events, closedAt: Date.now() };
}
