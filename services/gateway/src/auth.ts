import { createHash, timingSafeEqual } from "node:crypto";
import type { Request } from "express";

export interface ClientAuth {
  /** False when no keys are configured: every caller is let in (and `keyId` is ""). */
  readonly enabled: boolean;
  /**
   * The key id of the caller's key, or undefined when it is not accepted. Keys are compared as SHA-256 digests
   * with `timingSafeEqual` against every configured key, so neither the length nor the position of a mismatch
   * shows in the timing.
   */
  identify(req: Request): string | undefined;
}

/** The non-secret id of a key: `key_` and 12 hex digits of its SHA-256. Safe for logs, events and policies. */
export function keyIdOf(key: string): string {
  return `key_${createHash("sha256").update(key).digest("hex").slice(0, 12)}`;
}

/** Reads the caller's key from `Authorization: Bearer <key>` or `x-api-key`. */
export function presentedKey(req: Request): string | undefined {
  const auth = req.headers.authorization;
  if (auth !== undefined) {
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (m?.[1] !== undefined) return m[1];
  }
  const x = req.headers["x-api-key"];
  return typeof x === "string" && x !== "" ? x : undefined;
}

export function createClientAuth(keys: readonly string[]): ClientAuth {
  const digests = keys.map((k) => ({ digest: createHash("sha256").update(k).digest(), id: keyIdOf(k) }));
  return {
    enabled: digests.length > 0,
    identify(req) {
      if (digests.length === 0) return "";
      const key = presentedKey(req);
      if (key === undefined) return undefined;
      const digest = createHash("sha256").update(key).digest();
      let found: string | undefined;
      for (const d of digests) if (timingSafeEqual(d.digest, digest) && found === undefined) found = d.id;
      return found;
    },
  };
}
