import * as http from "node:http";
import * as net from "node:net";

/** A response read off a raw socket: the status line's code, the headers (lower-case) and the body text. */
export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends a request with `node:http`, exactly as given: the path is not normalised (fetch would resolve `..`), any
 * Host header goes as is, and the body is written whole.
 */
export function rawRequest(
  port: number,
  o: { method?: string; path: string; headers?: Record<string, string | string[]>; body?: string | Buffer; timeoutMs?: number },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method: o.method ?? "GET", path: o.path, headers: o.headers ?? {}, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(", ") : v;
        resolve({ status: res.statusCode ?? 0, headers, body });
      });
      res.on("error", reject);
    });
    req.setTimeout(o.timeoutMs ?? 10000, () => req.destroy(new Error(`no answer within ${o.timeoutMs ?? 10000} ms`)));
    req.on("error", reject);
    req.end(o.body);
  });
}

/** What a connection saw before the server closed it. */
export interface ClosedConnection {
  /** Everything the server sent. */
  received: string;
  /** ms from the first byte written to the close. */
  openMs: number;
}

/**
 * Opens a TCP connection, writes `head`, then one more piece of `drip` every `everyMs` (a slowloris client), and
 * resolves when the server closes the connection, or rejects after `giveUpMs`.
 */
export function dribble(port: number, o: { head: string; drip: () => string; everyMs: number; giveUpMs: number }): Promise<ClosedConnection> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let received = "";
    const startedAt = Date.now();
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => (received += d));
    const drip = setInterval(() => {
      if (socket.writable) socket.write(o.drip());
    }, o.everyMs);
    const giveUp = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server kept the connection open for ${o.giveUpMs} ms; it sent ${JSON.stringify(received.slice(0, 200))}`));
    }, o.giveUpMs);
    const done = (): void => {
      clearInterval(drip);
      clearTimeout(giveUp);
      resolve({ received, openMs: Date.now() - startedAt });
    };
    // A reset after the server's answer (it closes while we still write) counts as a close too.
    socket.on("error", () => undefined);
    socket.on("close", done);
    socket.write(o.head);
  });
}
