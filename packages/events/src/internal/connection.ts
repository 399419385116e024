/** Private: a NATS connection that starts in the background, reconnects for ever and reports its state. */
import type { NatsConnection } from "@nats-io/transport-node";
import { describeError, type EventsLogger } from "../logger";
import { connectForever, sleep } from "./nats";

export interface ManagedConnection {
  /** The connection once it was established at least once; undefined before. */
  current(): NatsConnection | undefined;
  /** Connected right now (not before the first connect, not while reconnecting, not after close). */
  isConnected(): boolean;
  /** Resolves with the connection as soon as it is connected (at once when it is), or undefined once closed. */
  whenConnected(): Promise<NatsConnection | undefined>;
  /** How many times the connection was lost since creation. */
  disconnects(): number;
  /** Called after every reconnect (not the first connect). */
  onReconnect(listener: () => void): void;
  /** Called whenever the connection is lost (before reconnect attempts). */
  onDisconnect(listener: () => void): void;
  /** Drains or closes the connection and ends the dial loop. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts connecting at once without waiting: a caller created while NATS is down works as soon as NATS comes up.
 * Disconnects and reconnects are logged at info; neither ever throws at the caller.
 */
export function createManagedConnection(options: { url: string; name: string; logger: EventsLogger }): ManagedConnection {
  const { url, name, logger } = options;
  let nc: NatsConnection | undefined;
  let connected = false;
  let closed = false;
  let disconnects = 0;
  let waiters: ((c: NatsConnection | undefined) => void)[] = [];
  const reconnectListeners: (() => void)[] = [];
  const disconnectListeners: (() => void)[] = [];

  const wake = (): void => {
    const ws = waiters;
    waiters = [];
    for (const w of ws) w(closed ? undefined : nc);
  };

  const connecting = connectForever(url, name, () => closed).then(
    async (c) => {
      if (closed) {
        await c.close().catch(() => {});
        return;
      }
      nc = c;
      connected = true;
      logger.info("connected to NATS", { server: c.getServer(), name });
      wake();
      for await (const s of c.status()) {
        switch (s.type) {
          case "disconnect":
            connected = false;
            disconnects++;
            logger.warn("disconnected from NATS; reconnecting", { server: s.server, name });
            for (const l of disconnectListeners) l();
            break;
          case "reconnect":
            connected = true;
            logger.info("reconnected to NATS", { server: s.server, name });
            for (const l of reconnectListeners) l();
            wake();
            break;
          case "close":
            connected = false;
            break;
          default:
            break;
        }
      }
    },
    (err: unknown) => {
      // Only when close() ended the dial loop, or the options were invalid.
      if (!closed) logger.error("cannot connect to NATS", { error: describeError(err), name });
    },
  );

  return {
    current: () => nc,
    isConnected: () => connected && !closed,
    disconnects: () => disconnects,
    whenConnected: () => {
      if (closed) return Promise.resolve(undefined);
      if (connected && nc !== undefined) return Promise.resolve(nc);
      return new Promise((resolve) => waiters.push(resolve));
    },
    onReconnect: (listener) => {
      reconnectListeners.push(listener);
    },
    onDisconnect: (listener) => {
      disconnectListeners.push(listener);
    },
    close: async () => {
      if (closed) return;
      const wasConnected = connected;
      closed = true;
      connected = false;
      wake();
      if (nc !== undefined) {
        // Acks and publishes written just before close() are still in the outbound buffer: flush them first, but
        // never wait long for a server that does not answer.
        if (wasConnected && !nc.isClosed()) {
          const giveUp = new AbortController();
          await Promise.race([nc.flush().catch(() => {}), sleep(2000, giveUp.signal)]);
          giveUp.abort();
        }
        await nc.close().catch(() => {});
      }
      await connecting;
    },
  };
}
