import { KeyRecordError, KeyStoreError } from "./errors";
import { connectBucket, KEYS_BUCKET, type Connected } from "./internal/nats";
import {
  digestOf,
  keyRefusal,
  newKeyId,
  newKeySecret,
  ownerRecordKey,
  parseKeyRecord,
  parseLimits,
  parseOwnerRecord,
  parseScopes,
  type KeyLimits,
  type KeyRecord,
  type KeyScopes,
  type OwnerRecord,
} from "./record";

/** Options of {@link openKeyStore}. */
export interface KeyStoreOptions {
  /** NATS servers, comma-separated. */
  url: string;
  /** @default "luthien-keys" */
  bucket?: string;
  /** Connect and per-operation timeout. @default 5000 */
  timeoutMs?: number;
}

/** What a new key is made of; `scopes` and `limits` are validated as stored records are. */
export interface NewKey {
  name: string;
  owner: string;
  /** ISO time. @default never expires */
  expiresAt?: string;
  scopes?: KeyScopes;
  limits?: KeyLimits;
}

/** A record and its secret: the only time the secret exists outside the caller's hands. */
export interface IssuedKey {
  record: KeyRecord;
  secret: string;
}

/** The operator's side of the key store (CLI, admin API). Every change reaches the gateways' directories by watch. */
export interface KeyStore {
  create(key: NewKey, signal?: AbortSignal): Promise<IssuedKey>;
  list(): Promise<KeyRecord[]>;
  /** @throws KeyStoreError when there is no such key */
  get(id: string): Promise<KeyRecord>;
  /** Marks the key revoked (kept, so it can still be named). Revoking twice keeps the first time. */
  revoke(id: string): Promise<KeyRecord>;
  /** A new secret for the same id, scopes and limits; the old secret is refused at once. */
  rotate(id: string): Promise<IssuedKey>;
  /** Sets the limits every key of `owner` shares (an empty `limits` lifts them). */
  setOwnerLimits(owner: string, limits: KeyLimits): Promise<OwnerRecord>;
  listOwners(): Promise<OwnerRecord[]>;
  close(): Promise<void>;
}

const MAX_CAS_ATTEMPTS = 5;

/** @throws KeyStoreError when NATS or JetStream cannot be reached within the timeout */
export async function openKeyStore(options: KeyStoreOptions): Promise<KeyStore> {
  const timeoutMs = options.timeoutMs ?? 5000;
  let conn: Connected;
  try {
    conn = await connectBucket({ url: options.url, bucket: options.bucket ?? KEYS_BUCKET, name: "luthien-keys-admin", timeoutMs, forever: false });
  } catch (err) {
    throw new KeyStoreError(`the key store (JetStream KV on ${options.url}) cannot be reached: ${(err as Error).message}`, { cause: err });
  }
  const { kv, nc } = conn;
  const encode = (r: KeyRecord): string => JSON.stringify(r);

  const read = async (id: string): Promise<{ record: KeyRecord; revision: number }> => {
    if (!/^vk_[0-9a-f]{12}$/.test(id)) throw new KeyStoreError(`no key ${JSON.stringify(id)}: ids are vk_ and 12 hex digits`);
    const e = await kv.get(id);
    if (e === null || e.operation !== "PUT") throw new KeyStoreError(`no key ${id}`);
    return { record: parseKeyRecord(e.json()), revision: e.revision };
  };
  /** Read, change, write if nobody wrote in between; retried a few times when someone did. */
  const change = async (id: string, edit: (r: KeyRecord) => KeyRecord): Promise<KeyRecord> => {
    for (let attempt = 0; ; attempt++) {
      const { record, revision } = await read(id);
      const next = edit(record);
      try {
        await kv.update(id, encode(next), revision);
        return next;
      } catch (err) {
        if (attempt + 1 >= MAX_CAS_ATTEMPTS) throw new KeyStoreError(`key ${id} kept changing under this update`, { cause: err });
      }
    }
  };

  return {
    async create(key, signal) {
      signal?.throwIfAborted();
      const record = parseKeyRecord({
        id: newKeyId(),
        name: key.name,
        owner: key.owner,
        digest: "0".repeat(64),
        createdAt: new Date().toISOString(),
        ...(key.expiresAt !== undefined ? { expiresAt: key.expiresAt } : {}),
        scopes: parseScopes(key.scopes ?? {}),
        limits: parseLimits(key.limits ?? {}),
      });
      if (record.expiresAt !== undefined && keyRefusal(record) === "expired") throw new KeyRecordError("expiresAt is in the past");
      const secret = newKeySecret(record.id);
      record.digest = digestOf(secret);
      await kv.create(record.id, encode(record));
      return { record, secret };
    },
    async list() {
      const out: KeyRecord[] = [];
      for await (const id of await kv.keys()) if (id.startsWith("vk_")) out.push((await read(id)).record);
      return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
    },
    async get(id) {
      return (await read(id)).record;
    },
    revoke(id) {
      return change(id, (r) => (r.revokedAt !== undefined ? r : { ...r, revokedAt: new Date().toISOString() }));
    },
    async rotate(id) {
      const secret = newKeySecret(id);
      const record = await change(id, (r) => {
        if (r.revokedAt !== undefined) throw new KeyStoreError(`key ${id} is revoked: create a new one`);
        return { ...r, digest: digestOf(secret), rotatedAt: new Date().toISOString() };
      });
      return { record, secret };
    },
    async setOwnerLimits(owner, limits) {
      const record: OwnerRecord = parseOwnerRecord({ owner, limits: parseLimits(limits), updatedAt: new Date().toISOString() });
      await kv.put(ownerRecordKey(owner), JSON.stringify(record));
      return record;
    },
    async listOwners() {
      const out: OwnerRecord[] = [];
      for await (const k of await kv.keys()) {
        if (!k.startsWith("owner-")) continue;
        const e = await kv.get(k);
        if (e !== null && e.operation === "PUT") out.push(parseOwnerRecord(e.json()));
      }
      return out.sort((a, b) => a.owner.localeCompare(b.owner));
    },
    async close() {
      await nc.drain().catch(() => undefined);
    },
  };
}
