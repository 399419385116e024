import type { Response } from "express";
import type { ActivityEvent } from "@luthien/events";

/** Options of {@link createLiveHub}. */
export interface LiveHubOptions {
  /** Bytes a client may have waiting unsent; past it the client is dropped (it reconnects and catches up through the API). @default 1_048_576 */
  maxBufferedBytes?: number;
  /** Interval of the `: heartbeat` comment that keeps proxies and idle connections open. @default 15000 */
  heartbeatMs?: number;
  /** Events whose `data` encodes larger than this are sent with `data` replaced by `{ truncated: true, bytes }`. @default 32768 */
  maxDataBytes?: number;
}

/** Which events a client wants. */
export interface LiveFilter {
  callId?: string;
  /** Matches `type === prefix` or `type` starting with `prefix + "."` (`policy` matches `policy.x.y`). */
  typePrefix?: string;
}

/** Fans stored events out to SSE clients. */
export interface LiveHub {
  /** Starts an SSE response on `res` and keeps it until the client leaves, is dropped or the hub closes. */
  attach(res: Response, filter: LiveFilter): void;
  /** Sends events (already stored) to every client whose filter matches. Never blocks. */
  broadcast(events: readonly ActivityEvent[]): void;
  clients(): number;
  /** Clients dropped for not reading fast enough, since start. */
  dropped(): number;
  /** Ends every stream. */
  close(): void;
}

interface Client {
  res: Response;
  filter: LiveFilter;
}

function matches(filter: LiveFilter, e: ActivityEvent): boolean {
  if (filter.callId !== undefined && filter.callId !== e.callId) return false;
  const p = filter.typePrefix;
  if (p !== undefined && p !== "" && e.type !== p && !e.type.startsWith(p.endsWith(".") ? p : p + ".")) return false;
  return true;
}

/**
 * Creates the hub. A slow client is never allowed to grow memory: events are written straight to its socket and
 * once more than `maxBufferedBytes` sit unsent there, the client is disconnected rather than waited for.
 */
export function createLiveHub(options: LiveHubOptions = {}): LiveHub {
  const maxBuffered = options.maxBufferedBytes ?? 1024 * 1024;
  const maxData = options.maxDataBytes ?? 32 * 1024;
  const clients = new Set<Client>();
  let droppedCount = 0;

  const remove = (c: Client): void => {
    clients.delete(c);
  };

  const heartbeat = setInterval(() => {
    for (const c of clients) c.res.write(": heartbeat\n\n");
  }, options.heartbeatMs ?? 15_000);
  heartbeat.unref();

  const frame = (e: ActivityEvent): string => {
    let json = JSON.stringify(e);
    if (json.length > maxData) json = JSON.stringify({ ...e, data: { truncated: true, bytes: Buffer.byteLength(JSON.stringify(e.data)) } });
    return `id: ${e.id}\nevent: activity\ndata: ${json}\n\n`;
  };

  return {
    attach(res, filter) {
      res.status(200).set({
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-cache, no-transform",
        Connection: "keep-alive",
        // Tells nginx-style proxies not to buffer the stream.
        "X-Accel-Buffering": "no",
      });
      res.flushHeaders();
      res.write("retry: 3000\n: connected\n\n");
      const client: Client = { res, filter };
      clients.add(client);
      res.on("close", () => remove(client));
    },
    broadcast(events) {
      if (clients.size === 0 || events.length === 0) return;
      const frames = new Map<string, string>();
      for (const c of clients) {
        let out = "";
        for (const e of events) {
          if (!matches(c.filter, e)) continue;
          let f = frames.get(e.id);
          if (f === undefined) {
            f = frame(e);
            frames.set(e.id, f);
          }
          out += f;
        }
        if (out === "") continue;
        if (c.res.writableLength > maxBuffered) {
          droppedCount++;
          remove(c);
          c.res.destroy();
          continue;
        }
        c.res.write(out);
      }
    },
    clients: () => clients.size,
    dropped: () => droppedCount,
    close() {
      clearInterval(heartbeat);
      for (const c of clients) c.res.end();
      clients.clear();
    },
  };
}
