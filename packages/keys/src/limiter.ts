import { randomUUID } from "node:crypto";
import type { KV } from "@nats-io/kv";
import { KeyStoreError } from "./errors";
import { connectBucket, LIMITS_BUCKET, SPEND_BUCKET, type Connected } from "./internal/nats";

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

/** Counters every gateway replica shares through KV values changed by compare-and-set. */
export interface RateLimiter {
  /**
   * Takes one request slot of `limit` per rolling minute for `subject` (a key id or an owner).
   * @throws KeyStoreError when the store cannot be reached or keeps conflicting within the timeout
   */
  admit(subject: string, limit: number, signal?: AbortSignal): Promise<Admission>;
  /**
   * Takes one of `limit` concurrent slots for `subject` across replicas. The slot is this replica's until `release`;
   * a replica that dies without releasing stops counting once its heartbeat is older than 10 s.
   * @throws KeyStoreError when the store cannot be reached
   */
  acquire(subject: string, limit: number): Promise<{ acquired: true; release: () => void } | { acquired: false; retryAfterS: number }>;
  /** What `subject` counted in the rolling minute (tokens), and when the oldest of it ages out. @throws KeyStoreError */
  windowTotal(subject: string): Promise<{ total: number; retryAfterS: number }>;
  /** Adds `amount` to the rolling minute of `subject` (tokens used by a call that ended). @throws KeyStoreError */
  addToWindow(subject: string, amount: number): Promise<void>;
  /** The total of a calendar counter (`usd.<id>.day.2026-12-04`), 0 when none. @throws KeyStoreError */
  periodTotal(subject: string): Promise<number>;
  /** Adds `amount` to a calendar counter; kept 40 days. @throws KeyStoreError */
  addToPeriod(subject: string, amount: number): Promise<void>;
  close(): Promise<void>;
}

/** Width of one counting slice. Counting covers the current slice and the six before it: 60–70 s. */
const SLICE_MS = 10_000;
const SLICES = 7;
const MAX_CAS_ATTEMPTS = 20;
const WINDOW_TTL_MS = 10 * 60_000;
const PERIOD_TTL_MS = 40 * 86_400_000;
/** A replica's concurrent-call count is refreshed this often while it holds slots, and trusted this long. */
const HOLD_HEARTBEAT_MS = 2_000;
const HOLD_STALE_MS = 10_000;

/** Slots held per replica: its count and when it last said so. */
type Holds = Record<string, { n: number; at: number }>;

/** Amounts counted per slice start (ms), for the slices still in the window. */
type Counter = Record<string, number>;

/** The slices of `counter` still inside the window that ends with `slice`, and their sum. */
function live(counter: Counter, slice: number): { kept: Counter; total: number; oldest: number } {
  const kept: Counter = {};
  let total = 0;
  let oldest = slice;
  for (const [start, n] of Object.entries(counter)) {
    if (Number(start) > slice - SLICES * SLICE_MS) {
      kept[start] = n;
      total += n;
      oldest = Math.min(oldest, Number(start));
    }
  }
  return { kept, total, oldest };
}

const retryAfter = (oldest: number): number => Math.max(1, Math.ceil((oldest + SLICES * SLICE_MS - Date.now()) / 1000));
const sliceNow = (): number => Math.floor(Date.now() / SLICE_MS) * SLICE_MS;

/**
 * Rolling minutes are 10 s slices in one KV value per subject. A request is admitted when the slices of the last
 * 60–70 s hold fewer than `limit` — so no 60 s window, however placed, serves more than `limit` across all replicas.
 * Each replica leases request slots in blocks of `limit / 50` (at least one) and serves them locally until its slice
 * ends: a lease is counted when taken, so unused leased slots make the limit stricter, never looser, and only one
 * store round trip per block is paid. One refill per subject runs at a time on a replica. Calendar counters (spend)
 * live in a second bucket that keeps them 40 days.
 */
export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const timeoutMs = options.timeoutMs ?? 1000;
  const buckets = new Map<string, Promise<Connected>>();
  const bucket = (name: string, ttlMs: number): Promise<KV> => {
    let conn = buckets.get(name);
    if (conn === undefined) {
      conn = connectBucket({ url: options.url, bucket: name, name: "luthien-limits", timeoutMs, forever: true, ttlMs });
      // A failed bind is retried at the next call, not cached.
      conn.catch(() => buckets.delete(name));
      buckets.set(name, conn);
    }
    return withTimeout(
      conn.then((c) => c.kv),
      timeoutMs,
    );
  };
  const windows = (): Promise<KV> => bucket(options.bucket ?? LIMITS_BUCKET, WINDOW_TTL_MS);
  const periods = (): Promise<KV> => bucket(SPEND_BUCKET, PERIOD_TTL_MS);
  // Bound at once, not on the first limited call: connecting and creating a bucket can take longer than one
  // operation's timeout on a busy server, and that first call would be refused as a store outage.
  windows().catch(() => undefined);
  periods().catch(() => undefined);

  /** Reads, edits and writes `key` if nobody wrote in between, retrying when someone did; `edit` may decline (undefined). */
  /**
   * The last value this replica wrote per counter, with its revision: the next edit tries it before reading, so an
   * uncontended change is one round trip. A stale one only costs a conflict and a fresh read; a refusal decided on
   * it is confirmed on a fresh read, so it never makes a limit stricter than the store says.
   */
  const written = new Map<string, { revision: number; value: unknown }>();
  const MAX_WRITTEN = 10_000;

  /** Reads, edits and writes `key` if nobody wrote in between, retrying when someone did; `edit` may decline. */
  const casEdit = async <T>(kv: KV, key: string, edit: (value: unknown) => { value: unknown; result: T } | { result: T }): Promise<T> => {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const known = written.get(key);
      written.delete(key);
      let revision: number | undefined;
      let current: unknown;
      if (known !== undefined) {
        ({ revision, value: current } = known);
      } else {
        const entry = await withTimeout(kv.get(key), timeoutMs);
        revision = entry?.revision;
        current = entry !== null && entry.operation === "PUT" ? entry.json() : undefined;
      }
      const next = edit(current);
      if (!("value" in next)) {
        if (known !== undefined) continue;
        return next.result;
      }
      try {
        const body = JSON.stringify(next.value);
        const wrote = await withTimeout(revision === undefined ? kv.create(key, body) : kv.update(key, body, revision), timeoutMs);
        if (written.size >= MAX_WRITTEN) written.clear();
        written.set(key, { revision: wrote, value: next.value });
        return next.result;
      } catch (err) {
        if (!isConflict(err)) throw err;
        if (known === undefined) await new Promise((r) => setTimeout(r, Math.random() * 5 * (attempt + 1)));
      }
    }
    throw new KeyStoreError(`counter ${key} kept changing under this replica`);
  };

  const refill = async (subject: string, limit: number, slice: number): Promise<{ taken: number; retryAfterS: number }> => {
    const block = Math.max(1, Math.floor(limit / 50));
    return casEdit(await windows(), subject, (value) => {
      const { kept, total, oldest } = live((value ?? {}) as Counter, slice);
      const taken = Math.min(block, limit - total);
      if (taken <= 0) return { result: { taken: 0, retryAfterS: retryAfter(oldest) } };
      kept[String(slice)] = (kept[String(slice)] ?? 0) + taken;
      return { value: kept, result: { taken, retryAfterS: 0 } };
    });
  };

  const leases = new Map<string, { slice: number; left: number; refill: Promise<Admission> | undefined }>();
  const admit = async (subject: string, limit: number, signal?: AbortSignal): Promise<Admission> => {
    for (;;) {
      signal?.throwIfAborted();
      const slice = sliceNow();
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

  const replica = randomUUID();
  /** Slots this replica holds per subject, and the heartbeat that keeps them counted. */
  const held = new Map<string, { n: number; heartbeat: NodeJS.Timeout }>();
  const writeHold = (subject: string, delta: number, limit?: number): Promise<boolean> =>
    windows().then((kv) =>
      casEdit(kv, subject, (value) => {
        const holds: Holds = {};
        const now = Date.now();
        let others = 0;
        for (const [r, h] of Object.entries((value ?? {}) as Holds)) {
          if (r === replica || now - h.at > HOLD_STALE_MS || h.n <= 0) continue;
          holds[r] = h;
          others += h.n;
        }
        const mine = Math.max(0, (held.get(subject)?.n ?? 0) + delta);
        if (limit !== undefined && delta > 0 && others + mine > limit) return { result: false };
        if (mine > 0) holds[replica] = { n: mine, at: now };
        return { value: holds, result: true };
      }),
    );

  /** One hold write per subject at a time on this replica: each computes its count from the one before. */
  const queues = new Map<string, Promise<unknown>>();
  const serial = <T>(subject: string, fn: () => Promise<T>): Promise<T> => {
    const next = (queues.get(subject) ?? Promise.resolve()).then(fn, fn);
    const settled = next.catch(() => undefined);
    queues.set(subject, settled);
    void settled.then(() => {
      if (queues.get(subject) === settled) queues.delete(subject);
    });
    return next;
  };
  const refreshHold = (subject: string): Promise<unknown> => serial(subject, () => writeHold(subject, 0)).catch(() => undefined);

  const acquire: RateLimiter["acquire"] = async (subject, limit) => {
    const ok = await serial(subject, async () => {
      if (!(await writeHold(subject, 1, limit))) return false;
      let entry = held.get(subject);
      if (entry === undefined) {
        const heartbeat = setInterval(() => void refreshHold(subject), HOLD_HEARTBEAT_MS);
        heartbeat.unref();
        entry = { n: 0, heartbeat };
        held.set(subject, entry);
      }
      entry.n++;
      return true;
    });
    if (!ok) return { acquired: false, retryAfterS: 1 };
    let released = false;
    return {
      acquired: true,
      release: () => {
        if (released) return;
        released = true;
        const e = held.get(subject);
        if (e === undefined) return;
        e.n--;
        // Written after the local count drops: a failed write leaves a count that ages out with its heartbeat.
        void refreshHold(subject);
        if (e.n <= 0) {
          clearInterval(e.heartbeat);
          held.delete(subject);
        }
      },
    };
  };

  return {
    admit,
    acquire,
    async windowTotal(subject) {
      const kv = await windows();
      const entry = await withTimeout(kv.get(subject), timeoutMs);
      const { total, oldest } = live(entry !== null && entry.operation === "PUT" ? (entry.json() as Counter) : {}, sliceNow());
      return { total, retryAfterS: retryAfter(oldest) };
    },
    async addToWindow(subject, amount) {
      if (amount <= 0) return;
      const slice = sliceNow();
      await casEdit(await windows(), subject, (value) => {
        const { kept } = live((value ?? {}) as Counter, slice);
        kept[String(slice)] = (kept[String(slice)] ?? 0) + amount;
        return { value: kept, result: undefined };
      });
    },
    async periodTotal(subject) {
      const kv = await periods();
      const entry = await withTimeout(kv.get(subject), timeoutMs);
      const v = entry !== null && entry.operation === "PUT" ? entry.json() : 0;
      return typeof v === "number" ? v : 0;
    },
    async addToPeriod(subject, amount) {
      if (amount <= 0) return;
      await casEdit(await periods(), subject, (value) => ({ value: (typeof value === "number" ? value : 0) + amount, result: undefined }));
    },
    async close() {
      for (const e of held.values()) clearInterval(e.heartbeat);
      for (const conn of buckets.values()) {
        const c = await conn.catch(() => undefined);
        await c?.nc.close().catch(() => undefined);
      }
    },
  };
}

function isConflict(err: unknown): boolean {
  const e = err as { api_error?: { err_code?: number }; message?: string };
  // 10071: wrong last sequence (someone wrote first); "key exists" for a concurrent first create.
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
