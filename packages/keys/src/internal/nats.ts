/** Private: the only module of this package that talks to NATS. */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";

/** The JetStream KV bucket of key records, by id. One value per key: a record's history is not kept. */
export const KEYS_BUCKET = "luthien-keys";
/** The bucket of rate counters, by key id or owner; idle counters age out. */
export const LIMITS_BUCKET = "luthien-limits";
/** The bucket of calendar spend counters (per key and owner, per UTC day and month). */
export const SPEND_BUCKET = "luthien-spend";

export interface Connected {
  nc: NatsConnection;
  kv: KV;
}

/**
 * Connects and binds (creating when missing) the bucket. `forever` keeps reconnecting (a gateway's directory);
 * otherwise one attempt within `timeoutMs` (a CLI call, an admin request).
 */
export async function connectBucket(options: { url: string; bucket: string; name: string; timeoutMs: number; forever: boolean; ttlMs?: number }): Promise<Connected> {
  const nc = await connect({
    servers: options.url
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== ""),
    name: options.name,
    timeout: options.timeoutMs,
    ...(options.forever
      ? { maxReconnectAttempts: -1, waitOnFirstConnect: true, reconnectTimeWait: 250, reconnectJitter: 100, pingInterval: 5_000, maxPingOut: 2 }
      : { maxReconnectAttempts: 0 }),
  });
  try {
    const kv = await new Kvm(jetstream(nc, { timeout: options.timeoutMs })).create(options.bucket, { history: 1, ...(options.ttlMs !== undefined ? { ttl: options.ttlMs } : {}) });
    return { nc, kv };
  } catch (err) {
    await nc.close().catch(() => undefined);
    throw err;
  }
}
