import type { KV } from "@nats-io/kv";
import { KeyStoreError } from "./errors";
import { connectBucket, LIMITS_BUCKET, type Connected } from "./internal/nats";

/** A request admitted, or refused until `retryAfterS` from now. */
export type Admission = { admitted: true } | { admitted: false; retryAfterS: number };

/** Options of {@link createRateLimiter}. */
export interface RateLimiterOptions {
  /** NATS servers, comma-separated. */
  url: string;
  /** @default "luthien-limits" */
  bucket?: string;
  /** One store operation's timeout; past it the admission fails with KeyStoreError. @default 1000 */
  timeoutMs?: number;
}

/** Requests-per-minute admission shared by every gateway replica through one KV counter per key. */
export interface RateLimiter {
  /**
   * Takes one request slot of `limit` per rolling minute for `subject` (a key id or an owner).
   * @throws KeyStoreError when the store cannot be reached or keeps conflicting within the timeout
   */
  admit(subject: string, limit: number, signal?: AbortSignal): Promise<Admission>;
  close(): Promise<void>;
}

/** Width of one counting slice. Counting covers the current slice and the six before it: 60–70 s. */
const SLICE_MS = 10_000;
const SLICES = 7;
const MAX_CAS_ATTEMPTS = 20;

/** Requests counted per slice start (ms), for the slices still in the window. */
type Counter = Record<string, number>;

/**
 * A sliding window of 10 s slices in one KV value per subject, changed by compare-and-set. A request is admitted
 * when the slices of the last 60–70 s hold fewer than `limit` — so no 60 s window, however placed, serves more than
 * `limit` across all replicas. Each replica leases slots in blocks of `limit / 50` (at least one) and serves them
 * locally until its slice ends: a lease is counted when taken, so unused leased slots make the limit stricter, never
 * looser, and only one store round trip per block is paid. One refill per subject runs at a time on a replica.
 */
export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const timeoutMs = options.timeoutMs ?? 1000;
  let conn: Promise<Connected> | undefined;
  const bucket = (): Promise<KV> => {
    conn ??= connectBucket({ url: options.url, bucket: options.bucket ?? LIMITS_BUCKET, name: "luthien-limits", timeoutMs, forever: true, ttlMs: 10 * 60_000 });
    return conn.then((c) => c.kv);
  };
  const leases = new Map<string, { slice: number; left: number; refill: Promise<Admission> | undefined }>();

  const refill = async (subject: string, limit: number, slice: number): Promise<{ taken: number; retryAfterS: number }> => {
    const kv = await withTimeout(bucket(), timeoutMs);
    const block = Math.max(1, Math.floor(limit / 50));
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const entry = await withTimeout(kv.get(subject), timeoutMs);
      const counter: Counter = entry !== null && entry.operation === "PUT" ? (entry.json() as Counter) : {};
      const kept: Counter = {};
      let used = 0;
      for (const [start, n] of Object.entries(counter)) {
        if (Number(start) > slice - SLICES * SLICE_MS) {
          kept[start] = n;
          used += n;
        }
      }
      const taken = Math.min(block, limit - used);
      if (taken <= 0) {
        const oldest = Math.min(...Object.keys(kept).map(Number));
        return { taken: 0, retryAfterS: Math.max(1, Math.ceil((oldest + SLICES * SLICE_MS - Date.now()) / 1000)) };
      }
      kept[String(slice)] = (kept[String(slice)] ?? 0) + taken;
      try {
        const body = JSON.stringify(kept);
        await withTimeout(entry === null ? kv.create(subject, body) : kv.update(subject, body, entry.revision), timeoutMs);
        return { taken, retryAfterS: 0 };
      } catch (err) {
        if (!isConflict(err)) throw err;
        await new Promise((r) => setTimeout(r, Math.random() * 5 * (attempt + 1)));
      }
    }
    throw new KeyStoreError(`rate counter ${subject} kept changing under this replica`);
  };

  const admit = async (subject: string, limit: number, signal?: AbortSignal): Promise<Admission> => {
    for (;;) {
      signal?.throwIfAborted();
      const slice = Math.floor(Date.now() / SLICE_MS) * SLICE_MS;
      let lease = leases.get(subject);
      if (lease === undefined || lease.slice !== slice) {
        lease = { slice, left: 0, refill: lease?.slice === slice ? lease.refill : undefined };
        leases.set(subject, lease);
      }
      if (lease.left > 0) {
        lease.left--;
        return { admitted: true };
      }
      if (lease.refill !== undefined) {
        const shared = await lease.refill;
        // Refused for everyone waiting on this refill; admitted means slots were added: take one of them.
        if (!shared.admitted) return shared;
        continue;
      }
      const current = lease;
      current.refill = (async (): Promise<Admission> => {
        try {
          const { taken, retryAfterS } = await refill(subject, limit, slice);
          current.left += taken;
          return taken > 0 ? { admitted: true } : { admitted: false, retryAfterS };
        } finally {
          current.refill = undefined;
        }
      })();
      const mine = await current.refill;
      if (!mine.admitted) return mine;
    }
  };

  return {
    admit,
    async close() {
      const c = await conn?.catch(() => undefined);
      await c?.nc.close().catch(() => undefined);
    },
  };
}

function isConflict(err: unknown): boolean {
  const e = err as { api_error?: { err_code?: number }; message?: string };
  // 10071: wrong last sequence (someone wrote first); 10058-ish "exists" for a concurrent create.
  return e.api_error?.err_code === 10071 || /wrong last sequence|key exists/i.test(String(e.message));
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new KeyStoreError(`the limit store did not answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
