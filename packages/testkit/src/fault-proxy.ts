import * as net from "node:net";

/**
 * What the proxy does to traffic:
 * - `pass`: forwards bytes both ways.
 * - `latency`: forwards each chunk after `latencyMs`, in each direction, order kept.
 * - `blackhole`: accepts connections and stops moving bytes, holding every socket open: the peers see silence, like
 *   a network partition. Bytes are held, not dropped (TCP would retransmit them once the partition heals), so a
 *   later `pass` lets them flow again.
 * - `reset`: every connection, existing and new, is aborted with a TCP RST on both sides.
 * - `close`: every connection, existing and new, is ended with a FIN on both sides.
 */
export type FaultMode = "pass" | "latency" | "blackhole" | "reset" | "close";

export interface FaultProxyOptions {
  /** `host:port` to forward to. */
  target: string;
  /** Listening port (0 = any free port). @default 0 */
  port?: number;
  /** The delay of `latency` mode, each direction, unless `mode()` names another. @default 200 */
  latencyMs?: number;
}

export interface FaultProxy {
  /** `127.0.0.1:<port>` */
  readonly address: string;
  readonly port: number;
  /** The current mode. */
  readonly current: FaultMode;
  /** Connections open right now (client side). */
  readonly connections: number;
  /** Switches mode; existing connections are affected at once, as are new ones. */
  mode(m: FaultMode, options?: { latencyMs?: number }): void;
  /** Closes the listener and destroys every connection. Idempotent. */
  stop(): Promise<void>;
}

interface Pair {
  client: net.Socket;
  upstream: net.Socket | undefined;
  /** When the last delayed chunk of each direction is due: a later chunk never overtakes an earlier one. */
  due: { up: number; down: number };
}

/**
 * A TCP proxy on 127.0.0.1 that injects network faults between a client and `target` (the tests put it between
 * the gateway and a policy engine). Plain `node:net`; no TLS or protocol awareness.
 */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const [host, portText] = splitTarget(options.target);
  let mode: FaultMode = "pass";
  let latencyMs = options.latencyMs ?? 200;
  const pairs = new Set<Pair>();

  const destroy = (p: Pair): void => {
    p.client.destroy();
    p.upstream?.destroy();
    pairs.delete(p);
  };

  const forward = (p: Pair, dir: "up" | "down", chunk: Buffer): void => {
    const to = dir === "up" ? p.upstream : p.client;
    if (to === undefined || to.destroyed) return;
    const now = Date.now();
    const at = Math.max(mode === "latency" ? now + latencyMs : now, p.due[dir]);
    if (at <= now) {
      to.write(chunk);
      return;
    }
    p.due[dir] = at;
    setTimeout(() => {
      if (!to.destroyed) to.write(chunk);
    }, at - now);
  };

  const connectUpstream = (p: Pair): void => {
    const upstream = net.connect(Number(portText), host);
    p.upstream = upstream;
    upstream.setNoDelay(true);
    upstream.on("data", (d: Buffer) => forward(p, "down", d));
    upstream.on("error", () => destroy(p));
    upstream.on("close", () => destroy(p));
    upstream.on("end", () => p.client.end());
  };

  /** Puts one connection in the current mode. */
  const apply = (p: Pair): void => {
    switch (mode) {
      case "reset":
        p.client.resetAndDestroy();
        p.upstream?.resetAndDestroy();
        pairs.delete(p);
        return;
      case "close":
        p.client.end();
        p.upstream?.end();
        return;
      case "blackhole":
        // Not reading leaves the bytes in the kernel buffers: the sender sees writes accepted and no answer.
        p.client.pause();
        p.upstream?.pause();
        return;
      default:
        if (p.upstream === undefined) connectUpstream(p);
        p.client.resume();
        p.upstream?.resume();
    }
  };

  const server = net.createServer((client) => {
    const p: Pair = { client, upstream: undefined, due: { up: 0, down: 0 } };
    pairs.add(p);
    client.setNoDelay(true);
    client.on("data", (d: Buffer) => forward(p, "up", d));
    client.on("error", () => destroy(p));
    client.on("close", () => destroy(p));
    client.on("end", () => p.upstream?.end());
    // A connection that arrives in blackhole mode is accepted but reaches nothing until the mode changes.
    if (mode !== "blackhole" && mode !== "reset" && mode !== "close") connectUpstream(p);
    apply(p);
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port));
  });

  let stopped: Promise<void> | undefined;
  return {
    address: `127.0.0.1:${port}`,
    port,
    get current() {
      return mode;
    },
    get connections() {
      return pairs.size;
    },
    mode(m, o) {
      mode = m;
      if (o?.latencyMs !== undefined) latencyMs = o.latencyMs;
      for (const p of [...pairs]) apply(p);
    },
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const p of [...pairs]) destroy(p);
      });
      return stopped;
    },
  };
}

function splitTarget(target: string): [string, string] {
  const i = target.lastIndexOf(":");
  if (i <= 0) throw new Error(`fault proxy target must be host:port, got ${JSON.stringify(target)}`);
  return [target.slice(0, i), target.slice(i + 1)];
}
