import type { NatsConnection } from "@nats-io/transport-node";
import type { KV } from "@nats-io/kv";
import { connectBucket, KEYS_BUCKET } from "./internal/nats";
import { digestOf, keyIdInSecret, keyRefusal, parseKeyRecord, parseOwnerRecord, type KeyLimits, type KeyRecord } from "./record";

/** What a presented secret turned out to be. */
export type KeyLookup =
  | { kind: "key"; record: KeyRecord }
  /** Revoked or expired: known, and refused. */
  | { kind: "refused"; record: KeyRecord; reason: "revoked" | "expired" }
  /** Not a virtual key (it may still be a static one, or the caller's own provider credential). */
  | { kind: "unknown" }
  /** The directory cannot vouch for what it holds: not loaded yet, or cut off from the store past its grace. */
  | { kind: "unavailable" };

export interface DirectoryLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}

/** Options of {@link watchKeyDirectory}. */
export interface KeyDirectoryOptions {
  /** NATS servers, comma-separated. */
  url: string;
  /** @default "luthien-keys" */
  bucket?: string;
  /**
   * How long after losing the store the directory still answers from what it holds. Past it every virtual key is
   * `unavailable`: a revocation could have been missed. @default 2000 (the revocation bound)
   */
  staleAfterMs?: number;
  logger: DirectoryLogger;
  /** Called after every change the watch applied (tests, metrics). */
  onChange?: (record: KeyRecord | undefined, id: string) => void;
}

/** A gateway's view of the key store: every record, by digest, kept current by a KV watch. */
export interface KeyDirectory {
  /** A map lookup on the secret's SHA-256: no store round trip for a key the watch delivered. */
  lookup(secret: string, now?: number): KeyLookup;
  /**
   * {@link lookup}, and for a virtual-key-shaped secret it does not hold, one read of that record from the store
   * (the watch may not have delivered a key created a moment ago). Concurrent misses of one id share the read.
   */
  resolve(secret: string): Promise<KeyLookup>;
  /** The limits every key of `owner` shares, when an operator set some. */
  ownerLimits(owner: string): KeyLimits | undefined;
  /** True once the first full load arrived and the watch is current (or within its grace). */
  readonly ready: boolean;
  /** Resolves at the first full load. */
  loaded(signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

const RETRY_MS = 500;
const MISSING_TTL_MS = 1000;
const MAX_MISSING = 10_000;

/**
 * Connects (and keeps reconnecting) to the store and watches its bucket. Until the first load arrives, and while the
 * store is out of reach for longer than `staleAfterMs`, every lookup of a virtual key is `unavailable` — the caller
 * refuses it — so a gateway that starts with the store down, or is cut off from it, never serves a revoked key.
 * After a reconnect the whole bucket is read again before the directory answers from it.
 */
export function watchKeyDirectory(options: KeyDirectoryOptions): KeyDirectory {
  const staleAfterMs = options.staleAfterMs ?? 2000;
  const logger = options.logger;
  let byDigest = new Map<string, KeyRecord>();
  let owners = new Map<string, KeyLimits>();
  let current = false;
  let lostAt: number | undefined;
  let closed = false;
  let nc: NatsConnection | undefined;
  let bucket: KV | undefined;
  const reading = new Map<string, Promise<KeyRecord | undefined>>();
  /** Ids read and not found, until when: made-up secrets in a key's shape cost one store read a second, not one each. */
  const missing = new Map<string, number>();
  let stopWatch: (() => void) | undefined;
  let markLoaded: () => void = () => undefined;
  const firstLoad = new Promise<void>((resolve) => (markLoaded = resolve));

  let loadedOnce = false;
  const usable = (now: number): boolean => current || (loadedOnce && lostAt !== undefined && now - lostAt < staleAfterMs);

  /** One watch: its initial values build a new map that replaces the old one at once, then updates edit it. */
  const watch = async (kv: KV): Promise<void> => {
    const iter = await kv.watch();
    stopWatch = () => iter.stop();
    const building = new Map<string, KeyRecord>();
    const buildingOwners = new Map<string, KeyLimits>();
    /** Owner name by KV key, to drop a deleted owner record. */
    const ownerOf = new Map<string, string>();
    const byId = new Map<string, string>();
    let live = false;
    const goLive = (): void => {
      if (live) return;
      live = true;
      byDigest = building;
      owners = buildingOwners;
      current = true;
      lostAt = undefined;
      loadedOnce = true;
      markLoaded();
      logger.info("key directory loaded", { keys: building.size });
    };
    if ((await kv.status()).values === 0) goLive();
    for await (const e of iter) {
      if (e.key.startsWith("owner-")) {
        const before = ownerOf.get(e.key);
        if (before !== undefined) buildingOwners.delete(before);
        ownerOf.delete(e.key);
        if (e.operation === "PUT") {
          try {
            const o = parseOwnerRecord(e.json());
            buildingOwners.set(o.owner, o.limits);
            ownerOf.set(e.key, o.owner);
          } catch (err) {
            // Fail closed: an owner whose limits this gateway cannot read gets a limit of nothing.
            let owner: unknown;
            try {
              owner = (e.json() as { owner?: unknown } | null)?.owner;
            } catch {
              // not JSON at all: no owner to refuse by name
            }
            if (typeof owner === "string") {
              buildingOwners.set(owner, { rpm: 0 });
              ownerOf.set(e.key, owner);
            }
            logger.warn("owner record does not parse: its keys are refused", { key: e.key, error: (err as Error).message });
          }
        }
        if (e.isUpdate) goLive();
        continue;
      }
      const oldDigest = byId.get(e.key);
      if (oldDigest !== undefined) building.delete(oldDigest);
      byId.delete(e.key);
      let record: KeyRecord | undefined;
      if (e.operation === "PUT") {
        try {
          record = parseKeyRecord(e.json());
          building.set(record.digest, record);
          byId.set(e.key, record.digest);
        } catch (err) {
          // Dropped, so the key is refused: a record this gateway cannot read grants nothing.
          logger.warn("key record ignored: it does not parse", { id: e.key, error: (err as Error).message });
        }
      }
      if (e.isUpdate) goLive();
      if (live) options.onChange?.(record, e.key);
    }
  };

  const run = async (): Promise<void> => {
    while (!closed) {
      try {
        const conn = await connectBucket({ url: options.url, bucket: options.bucket ?? KEYS_BUCKET, name: "luthien-keys", timeoutMs: 5000, forever: true });
        nc = conn.nc;
        bucket = conn.kv;
        if (closed) break;
        void (async () => {
          for await (const s of conn.nc.status()) {
            if (s.type === "disconnect") {
              current = false;
              lostAt ??= Date.now();
              logger.warn("key store connection lost: virtual keys are refused after the grace", { staleAfterMs });
            } else if (s.type === "reconnect") {
              // The watch may have missed changes while away: read the whole bucket again.
              stopWatch?.();
            }
          }
        })();
        while (!closed && !conn.nc.isClosed()) {
          try {
            await watch(conn.kv);
          } catch (err) {
            logger.warn("key directory watch failed; retrying", { error: (err as Error).message });
          }
          if (closed) break;
          current = false;
          lostAt ??= Date.now();
          await new Promise((r) => setTimeout(r, RETRY_MS));
        }
      } catch (err) {
        if (closed) break;
        logger.warn("key store unreachable; virtual keys are refused until it answers", { error: (err as Error).message });
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
  };
  void run();

  const judge = (record: KeyRecord, now: number): KeyLookup => {
    const reason = keyRefusal(record, now);
    return reason === undefined ? { kind: "key", record } : { kind: "refused", record, reason };
  };
  const lookup = (secret: string, now = Date.now()): KeyLookup => {
    if (!usable(now)) return { kind: "unavailable" };
    const record = byDigest.get(digestOf(secret));
    return record === undefined ? { kind: "unknown" } : judge(record, now);
  };
  const readRecord = (id: string): Promise<KeyRecord | undefined> => {
    let pending = reading.get(id);
    if (pending === undefined) {
      const kv = bucket;
      pending = (async () => {
        try {
          const e = kv === undefined ? null : await kv.get(id);
          return e !== null && e.operation === "PUT" ? parseKeyRecord(e.json()) : undefined;
        } catch {
          return undefined;
        } finally {
          reading.delete(id);
        }
      })();
      reading.set(id, pending);
    }
    return pending;
  };

  return {
    lookup,
    async resolve(secret) {
      const found = lookup(secret);
      const id = found.kind === "unknown" ? keyIdInSecret(secret) : undefined;
      if (id === undefined || (missing.get(id) ?? 0) > Date.now()) return found;
      const record = await readRecord(id);
      if (record === undefined) {
        if (missing.size >= MAX_MISSING) missing.clear();
        missing.set(id, Date.now() + MISSING_TTL_MS);
      }
      // The digest decides, as in the map: the id in a secret only says where to look.
      return record !== undefined && record.digest === digestOf(secret) ? judge(record, Date.now()) : found;
    },
    ownerLimits(owner) {
      return owners.get(owner);
    },
    get ready() {
      return usable(Date.now());
    },
    loaded(signal) {
      if (signal === undefined) return firstLoad;
      return Promise.race([
        firstLoad,
        new Promise<void>((_, reject) => {
          if (signal.aborted) reject(signal.reason);
          signal.addEventListener("abort", () => reject(signal.reason), { once: true });
        }),
      ]);
    },
    async close() {
      closed = true;
      stopWatch?.();
      await nc?.close().catch(() => undefined);
    },
  };
}
