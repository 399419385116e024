/** Private: the only module of this package that opens NATS connections. */
import { connect, type NatsConnection } from "@nats-io/transport-node";

const servers = (url: string): string[] =>
  url
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");

/**
 * An engine's connection: reconnects for ever, and the first connect waits for a server that is not up yet (held
 * calls wait for it, and expire when it does not come). `isClosed` ends the dial loop on shutdown.
 */
export function connectForever(url: string, name: string, isClosed: () => boolean): Promise<NatsConnection> {
  return connect({
    servers: servers(url),
    name,
    maxReconnectAttempts: -1,
    waitOnFirstConnect: true,
    reconnectTimeWait: 250,
    reconnectJitter: 100,
    pingInterval: 5_000,
    maxPingOut: 2,
    reconnectToServer: () => {
      if (isClosed()) throw new Error("closed");
      return null;
    },
  });
}

/** A decider's connection (a CLI call, a monitor): one attempt, then it reconnects while it lives. */
export function connectOnce(url: string, name: string, timeoutMs: number): Promise<NatsConnection> {
  return connect({ servers: servers(url), name, timeout: timeoutMs, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
}
