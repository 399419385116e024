import { createHash, timingSafeEqual } from "node:crypto";
import type { NextFunction, Request, Response } from "express";
import { AuthenticationError } from "./errors";

/**
 * - `client_key`: callers must present a gateway key; the provider gets the server's own key.
 * - `passthrough`: the caller's own credential goes upstream unchanged (no gateway key check).
 * - `both`: a gateway key is swapped for the server's key; any other credential passes through.
 */
export type AuthMode = "client_key" | "passthrough" | "both";

/** The credential a provider call carries. `api-key` travels as `x-api-key`, `bearer` as `Authorization: Bearer`. */
export type UpstreamCredential = { kind: "server" } | { kind: "api-key" | "bearer"; value: string };

export interface CallAuth {
  /** A stable, non-secret id of the caller's credential ("" when auth is off and none was presented). */
  keyId: string;
  credential: UpstreamCredential;
}

export interface ClientAuth {
  /** False when no gateway keys are configured and the mode does not require a caller credential. */
  readonly enforced: boolean;
  /**
   * Who is calling and what goes upstream, or undefined when the call must be refused (401). Gateway keys are
   * compared as SHA-256 digests with `timingSafeEqual` against every configured key, so neither the length nor
   * the position of a mismatch shows in the timing.
   */
  authenticate(req: Request): CallAuth | undefined;
}

/** The non-secret id of a credential: `key_` and 12 hex digits of its SHA-256. Safe for logs, events and policies. */
export function keyIdOf(secret: string): string {
  return `key_${createHash("sha256").update(secret).digest("hex").slice(0, 12)}`;
}

/**
 * Reads the caller's credential. `Authorization: Bearer` (an OAuth token, or an SDK's key) wins over `x-api-key`;
 * the header it came in decides how it travels upstream, never the shape of the value.
 */
export function presentedCredential(req: Request): { kind: "api-key" | "bearer"; value: string } | undefined {
  const auth = req.headers.authorization;
  if (auth !== undefined) {
    const m = /^Bearer\s+(\S.*)$/i.exec(auth.trim());
    if (m?.[1] !== undefined) return { kind: "bearer", value: m[1] };
  }
  const x = req.headers["x-api-key"];
  return typeof x === "string" && x !== "" ? { kind: "api-key", value: x } : undefined;
}

export function createClientAuth(options: { keys: readonly string[]; mode: AuthMode }): ClientAuth {
  const { mode } = options;
  const digests = options.keys.map((k) => ({ digest: createHash("sha256").update(k).digest(), id: keyIdOf(k) }));
  const gatewayKeyId = (value: string): string | undefined => {
    const digest = createHash("sha256").update(value).digest();
    let found: string | undefined;
    for (const d of digests) if (timingSafeEqual(d.digest, digest) && found === undefined) found = d.id;
    return found;
  };
  const enforced = mode === "passthrough" || digests.length > 0;
  return {
    enforced,
    authenticate(req) {
      const presented = presentedCredential(req);
      if (presented === undefined) return enforced ? undefined : { keyId: "", credential: { kind: "server" } };
      if (mode === "passthrough") return { keyId: keyIdOf(presented.value), credential: presented };
      const id = digests.length > 0 ? gatewayKeyId(presented.value) : undefined;
      if (id !== undefined) return { keyId: id, credential: { kind: "server" } };
      if (mode === "both") return { keyId: keyIdOf(presented.value), credential: presented };
      // client_key: with no keys configured auth is off and the server's key is used.
      return digests.length === 0 ? { keyId: "", credential: { kind: "server" } } : undefined;
    },
  };
}

/** Every middleware {@link createAuthMiddleware} made; the route-inventory test checks each route has one. */
const authMiddlewares = new WeakSet<object>();

/**
 * The middleware that guards every route but `/health` and `/ready`: it refuses the call (AuthenticationError → 401)
 * before the body is read, or records who is calling in `res.locals.auth`.
 */
export function createAuthMiddleware(auth: ClientAuth): (req: Request, res: Response, next: NextFunction) => void {
  const requireAuth = (req: Request, res: Response, next: NextFunction): void => {
    const who = auth.authenticate(req);
    if (who === undefined) throw new AuthenticationError();
    res.locals["auth"] = who;
    next();
  };
  authMiddlewares.add(requireAuth);
  return requireAuth;
}

/** True for a handler made by {@link createAuthMiddleware}. */
export function isAuthMiddleware(handler: unknown): boolean {
  return typeof handler === "function" && authMiddlewares.has(handler);
}
