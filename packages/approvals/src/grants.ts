import { createHash } from "node:crypto";
import { jetstream } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { createGlobMatcher } from "@luthien/runtime";
import { canonicalJson } from "./messages";

/** The KV bucket of "approve for this session" grants, one value per session; idle sessions' grants age out. */
export const GRANTS_BUCKET = "luthien-approvals";
const GRANTS_TTL_MS = 24 * 3600_000;
const MAX_GRANTS = 100;

/** One "approve for this session": the tool, and the arguments exactly (`input`) or a glob over them (`pattern`). */
export interface SessionGrant {
  policy: string;
  tool: string;
  /** The arguments as canonical JSON, when no pattern was given. */
  input?: string;
  pattern?: string;
  approvalId: string;
  by: string;
  at: string;
}

/**
 * Whose session a grant belongs to. The session id is the client's own word, so a grant is bound to the key (and
 * owner) that made the call too: another key naming the same session gets nothing from it.
 */
export interface GrantScope {
  keyId: string;
  owner: string;
  sessionId: string;
}

export interface GrantStore {
  /** The grant that covers this call, if any. Never throws: a store it cannot read means "ask". */
  find(scope: GrantScope, call: { policy: string; tool: string; input: unknown }): Promise<SessionGrant | undefined>;
  /** @throws when the store cannot be written, or the call has no session */
  add(scope: GrantScope, grant: SessionGrant): Promise<void>;
}

// Hashed so no client string can break a key, and so the bucket holds no raw ids.
const keyOf = (s: GrantScope): string =>
  `session.${createHash("sha256")
    .update(JSON.stringify([s.keyId, s.owner, s.sessionId]))
    .digest("hex")
    .slice(0, 40)}`;

function parseGrants(bytes: Uint8Array | undefined): SessionGrant[] {
  if (bytes === undefined || bytes.length === 0) return [];
  try {
    const doc = JSON.parse(new TextDecoder().decode(bytes)) as { grants?: unknown };
    return Array.isArray(doc.grants) ? (doc.grants as SessionGrant[]).filter((g) => typeof g === "object" && g !== null && typeof g.tool === "string") : [];
  } catch {
    return [];
  }
}

function covers(grant: SessionGrant, call: { policy: string; tool: string; input: unknown }): boolean {
  if (grant.policy !== call.policy || grant.tool !== call.tool) return false;
  const args = canonicalJson(call.input);
  if (typeof grant.pattern === "string") return createGlobMatcher(grant.pattern)(args);
  return grant.input === args;
}

/** Grants in the `luthien-approvals` bucket, shared by every engine replica. */
export function grantStore(nc: Promise<NatsConnection>, options: { timeoutMs: number }): GrantStore {
  let bucket: Promise<KV> | undefined;
  const kv = (): Promise<KV> => {
    bucket ??= nc.then((c) => new Kvm(jetstream(c, { timeout: options.timeoutMs })).create(GRANTS_BUCKET, { history: 1, ttl: GRANTS_TTL_MS }));
    // A failed bind is retried on the next use.
    bucket.catch(() => {
      bucket = undefined;
    });
    return bucket;
  };
  const withTimeout = <T>(p: Promise<T>): Promise<T> =>
    Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error("grant store timed out")), options.timeoutMs).unref())]);
  return {
    async find(scope, call) {
      if (scope.sessionId === "") return undefined;
      try {
        const entry = await withTimeout(kv().then((b) => b.get(keyOf(scope))));
        return parseGrants(entry?.value).find((g) => covers(g, call));
      } catch {
        return undefined;
      }
    },
    async add(scope, grant) {
      if (scope.sessionId === "") throw new Error("the call has no session");
      const b = await withTimeout(kv());
      const key = keyOf(scope);
      for (let attempt = 0; attempt < 5; attempt++) {
        const entry = await withTimeout(b.get(key));
        const grants = [...parseGrants(entry?.value), grant].slice(-MAX_GRANTS);
        const value = JSON.stringify({ grants });
        try {
          if (entry === null || entry.operation !== "PUT") await withTimeout(b.create(key, value));
          else await withTimeout(b.update(key, value, entry.revision));
          return;
        } catch (err) {
          // Another replica wrote the session's grants in between: read again.
          if (attempt === 4) throw err;
        }
      }
    },
  };
}
