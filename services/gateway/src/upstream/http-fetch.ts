import * as http from "node:http";
import * as https from "node:https";
import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";

/** Statuses whose responses have no body (the `Response` constructor refuses one). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * A `fetch` for the provider SDKs over `node:http`/`node:https` with keep-alive agents. Node's built-in fetch costs
 * noticeably more CPU per call (its request and response are built on web streams end to end); here only the
 * response body is one, because the SDKs read it as such. Bodies the SDKs send for chat calls are strings; anything
 * else (a stream, form data) goes to the built-in fetch.
 * @param options.maxSockets connections per provider host @default Infinity
 */
export function createHttpFetch(options: { maxSockets?: number } = {}): typeof fetch {
  const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? Infinity };
  const agents = { "http:": new http.Agent(agentOptions), "https:": new https.Agent(agentOptions) };

  return (input, init = {}) => {
    const body = init.body;
    if (input instanceof Request || (body !== undefined && body !== null && typeof body !== "string" && !(body instanceof Uint8Array))) {
      return fetch(input, init);
    }
    const url = new URL(String(input));
    const protocol = url.protocol === "https:" ? "https:" : "http:";
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => (headers[k] = v));
    if (typeof body === "string" || body instanceof Uint8Array) headers["content-length"] = String(Buffer.byteLength(body));
    return new Promise<Response>((resolve, reject) => {
      const request = (protocol === "https:" ? https : http).request(
        url,
        { method: init.method ?? "GET", headers, agent: agents[protocol], ...(init.signal !== undefined && init.signal !== null ? { signal: init.signal } : {}) },
        (res) => {
          const responseHeaders = new Headers();
          for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) responseHeaders.append(res.rawHeaders[i] as string, res.rawHeaders[i + 1] as string);
          const status = res.statusCode ?? 502;
          const stream = NULL_BODY.has(status) ? null : (Readable.toWeb(res) as WebReadableStream<Uint8Array> as unknown as ReadableStream<Uint8Array>);
          if (stream === null) res.resume();
          resolve(new Response(stream, { status, statusText: res.statusMessage ?? "", headers: responseHeaders }));
        },
      );
      request.on("error", reject);
      request.end(body ?? undefined);
    });
  };
}
