import { createHash, timingSafeEqual } from "node:crypto";
import type { NextFunction, Request, Response } from "express";
import { KEY_SECRET_PREFIX, keyIdInSecret, type KeyDirectory, type KeyLimits, type KeyLookup, type KeyRecord } from "@luthien/keys";
import { AuthenticationError, GatewayError, KeyStoreUnavailableError } from "../errors";
import type { CallLimits } from "./limits";
import { checkRouteScope } from "./scopes";

/**
 * - `client_key` (default): every call needs a gateway key — static (`GATEWAY_API_KEYS`) or virtual (`pnpm luthien
 *   keys create`); the provider gets the server's own key, or the caller's own credential beside a key whose scope
 *   allows it (`x-luthien-api-key` carries the gateway key then).
 * - `passthrough`: a gateway key still gets the server's key, and any other credential goes upstream unchanged.
 * - `off`: no auth at all; every caller gets the server's keys. For a laptop only (warned at start).
 */
export type AuthMode = "client_key" | "passthrough" | "off";

/** Our header for the gateway key when `Authorization` / `x-api-key` carry the caller's own provider credential. */
export const GATEWAY_KEY_HEADER = "x-luthien-api-key";

/** The credential a provider call carries. `api-key` travels as `x-api-key`, `bearer` as `Authorization: Bearer`. */
export type UpstreamCredential = { kind: "server" } | { kind: "api-key" | "bearer"; value: string };

export interface CallAuth {
  /**
   * A stable, non-secret id of the caller: a virtual key's `vk_…` id, a static key's `key_…` digest prefix, a
   * passed-through credential's digest prefix; "" with `AUTH_MODE=off`.
   */
  keyId: string;
  /** The virtual key's owner; "" for static keys and passed-through credentials. */
  owner: string;
  /** The virtual key's record (scopes, limits), when the call came with one. */
  key: KeyRecord | undefined;
  /** The limits its owner's keys share, when an operator set some (`pnpm luthien keys owner`). */
  ownerLimits?: KeyLimits | undefined;
  credential: UpstreamCredential;
}

export interface ClientAuth {
  /**
   * Who is calling and what goes upstream. Static keys are compared as SHA-256 digests with `timingSafeEqual`
   * against every configured key; virtual keys are looked up by digest in the watched directory.
   * @throws AuthenticationError (401) for a credential that is not a usable gateway key where one is required
   * @throws KeyStoreUnavailableError (503) for a virtual key while the key directory cannot vouch for it
   */
  authenticate(req: Request): CallAuth | Promise<CallAuth>;
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

/** The gateway key in {@link GATEWAY_KEY_HEADER}, when sent. */
export function gatewayKeyHeader(req: Request): string | undefined {
  const v = req.headers[GATEWAY_KEY_HEADER];
  const s = typeof v === "string" ? v.trim() : undefined;
  return s !== undefined && s !== "" ? s : undefined;
}

/** Options of {@link createClientAuth}. */
export interface ClientAuthOptions {
  /** GATEWAY_API_KEYS. */
  keys: readonly string[];
  mode: AuthMode;
  /** The watched store of virtual keys. @default none: only static keys */
  directory?: KeyDirectory;
}

type GatewayKey = { id: string; owner: string; record: KeyRecord | undefined; ownerLimits: KeyLimits | undefined; passthrough: boolean };

export function createClientAuth(options: ClientAuthOptions): ClientAuth {
  const { mode, directory } = options;
  const statics = options.keys.map((k) => ({ digest: createHash("sha256").update(k).digest(), id: keyIdOf(k) }));
  const staticKey = (value: string): string | undefined => {
    const digest = createHash("sha256").update(value).digest();
    let found: string | undefined;
    for (const d of statics) if (timingSafeEqual(d.digest, digest) && found === undefined) found = d.id;
    return found;
  };
  /** The gateway key `value` is, undefined when it is none; throws when it is one that may not be used. */
  const gatewayKey = (value: string): GatewayKey | undefined | Promise<GatewayKey | undefined> => {
    const id = staticKey(value);
    if (id !== undefined) return { id, owner: "", record: undefined, ownerLimits: undefined, passthrough: mode === "passthrough" };
    if (directory === undefined) return undefined;
    const found = directory.lookup(value);
    // A key made a moment ago may not have reached the watch yet: its record is read once from the store.
    return found.kind === "unknown" && keyIdInSecret(value) !== undefined ? directory.resolve(value).then((r) => fromLookup(r, value)) : fromLookup(found, value);
  };
  const fromLookup = (found: KeyLookup, value: string): GatewayKey | undefined => {
    switch (found.kind) {
      case "key":
        return {
          id: found.record.id,
          owner: found.record.owner,
          record: found.record,
          ownerLimits: directory?.ownerLimits(found.record.owner),
          passthrough: mode === "passthrough" || found.record.scopes.passthrough === true,
        };
      case "refused":
        throw new AuthenticationError(`this gateway key is ${found.reason}`);
      case "unavailable":
        // Only a virtual key's own shape is refused: other credentials are not the directory's to vouch for.
        if (value.startsWith(KEY_SECRET_PREFIX)) throw new KeyStoreUnavailableError();
        return undefined;
      case "unknown":
        return undefined;
    }
  };
  const served = (key: GatewayKey, credential: UpstreamCredential): CallAuth => ({ keyId: key.id, owner: key.owner, key: key.record, ownerLimits: key.ownerLimits, credential });
  return {
    authenticate(req) {
      if (mode === "off") return { keyId: "", owner: "", key: undefined, credential: { kind: "server" } };
      const presented = presentedCredential(req);
      const header = gatewayKeyHeader(req);
      if (header !== undefined) {
        return then(gatewayKey(header), (key) => {
          if (key === undefined) throw new AuthenticationError("invalid gateway key");
          if (presented === undefined || presented.value === header) return served(key, { kind: "server" });
          if (!key.passthrough) throw new AuthenticationError("this gateway key may not carry a provider credential (its scope does not allow passthrough)");
          return served(key, presented);
        });
      }
      if (presented === undefined) throw new AuthenticationError("missing API key");
      return then(gatewayKey(presented.value), (key) => {
        if (key !== undefined) return served(key, { kind: "server" });
        if (mode === "passthrough") return { keyId: keyIdOf(presented.value), owner: "", key: undefined, credential: presented };
        throw new AuthenticationError("invalid API key: not a gateway key (provider credentials pass through only with AUTH_MODE=passthrough or a key scoped for it)");
      });
    },
  };
}

/** `f(v)`, or once `v` resolves: the common case (a key the directory holds) stays synchronous. */
function then<T, R>(v: T | Promise<T>, f: (x: T) => R): R | Promise<R> {
  return v instanceof Promise ? v.then(f) : f(v);
}

/** Every middleware {@link createAuthMiddleware} made; the route-inventory test checks each route has one. */
const authMiddlewares = new WeakSet<object>();

/** A request a browser sent from a web page whose origin is not in `GATEWAY_ALLOWED_ORIGINS`. */
export class OriginNotAllowedError extends GatewayError {
  readonly status = 403;
  readonly type = "permission_error";
  constructor(origin: string | undefined) {
    super(
      origin !== undefined
        ? `requests from web pages are refused unless their origin is listed in GATEWAY_ALLOWED_ORIGINS; ${JSON.stringify(origin.slice(0, 200))} is not`
        : "requests from web pages are refused unless their origin is listed in GATEWAY_ALLOWED_ORIGINS",
    );
    this.name = "OriginNotAllowedError";
  }
}

/** Response headers a page of an allowed origin may read. */
const EXPOSED_HEADERS = "x-luthien-call-id, x-luthien-policy-bypassed, x-luthien-overhead-ms, x-luthien-limits-unchecked, retry-after, x-should-retry";

/**
 * The browser's side of a call, which only browsers send: `Origin` (every cross-origin request, and every POST from
 * a page), or `Sec-Fetch-Site` naming another site. SDKs, curl and coding agents send neither. A page must not use
 * the gateway as its caller's proxy — with no gateway keys, its `text/plain` POST would be served with the server's
 * provider keys (CSRF) — so such a request is refused, whatever credential it carries, unless its origin is allowed;
 * an allowed one gets CORS headers and its preflights are answered. `Origin` is checked even when it equals the
 * gateway's own host: the gateway serves no pages, and a DNS-rebound page looks same-origin.
 * @returns true when the request was answered here (a preflight of an allowed origin)
 * @throws OriginNotAllowedError
 */
function checkBrowserOrigin(req: Request, res: Response, allowed: ReadonlySet<string>): boolean {
  const origin = req.headers.origin;
  const site = req.headers["sec-fetch-site"];
  if (origin === undefined && site !== "cross-site" && site !== "same-site") return false;
  if (origin === undefined || !allowed.has(origin.toLowerCase())) throw new OriginNotAllowedError(origin);
  res.vary("Origin");
  res.set("access-control-allow-origin", origin);
  const method = req.headers["access-control-request-method"];
  if (req.method !== "OPTIONS" || method === undefined) {
    res.set("access-control-expose-headers", EXPOSED_HEADERS);
    return false;
  }
  const asked = req.headers["access-control-request-headers"];
  res.set("access-control-allow-methods", "GET, POST");
  // The page may send the headers it asked for (auth, anthropic-version, SDK headers): its origin is trusted.
  if (asked !== undefined && /^[\w\-, ]*$/.test(asked)) res.set("access-control-allow-headers", asked);
  res.set("access-control-max-age", "600");
  res.status(204).end();
  return true;
}

/** Options of {@link createAuthMiddleware}. */
export interface AuthMiddlewareOptions {
  /** GATEWAY_ALLOWED_ORIGINS: origins whose pages may call from a browser. @default none */
  allowedOrigins?: readonly string[];
  /** Each key's rate limits. @default none checked */
  limits?: CallLimits;
}

/** Set on an answer served while the limit store failed and LIMITS_ON_STORE_ERROR=allow. */
export const LIMITS_UNCHECKED_HEADER = "x-luthien-limits-unchecked";

/**
 * The middleware that guards every route but `/health` and `/ready`: it refuses the call before the body is read —
 * a browser request from an origin not allowed (OriginNotAllowedError → 403), then a caller it cannot authenticate
 * (AuthenticationError → 401) — or records who is calling in `res.locals.auth`.
 */
export function createAuthMiddleware(auth: ClientAuth, options: AuthMiddlewareOptions = {}): (req: Request, res: Response, next: NextFunction) => void | Promise<void> {
  const allowed = new Set((options.allowedOrigins ?? []).map((o) => o.toLowerCase()));
  const limits = options.limits;
  /** Scope and limits of an authenticated caller; synchronous unless its key has limits to check. */
  const admit = (who: CallAuth, req: Request, res: Response, next: NextFunction): void | Promise<void> => {
    res.locals.call.auth = who;
    checkRouteScope(who, req.path);
    if (limits === undefined || !limits.applies(who)) return next();
    return limits.admit(who).then((admitted) => {
      // "close" comes once the answer is finished or the client left: either way the call no longer runs here.
      res.once("close", admitted.release);
      if (admitted.unchecked) {
        res.locals.call.limitsUnchecked = true;
        res.set(LIMITS_UNCHECKED_HEADER, "store_unavailable");
      }
      next();
    });
  };
  const requireAuth = (req: Request, res: Response, next: NextFunction): void | Promise<void> => {
    if (checkBrowserOrigin(req, res, allowed)) return;
    const who = auth.authenticate(req);
    return who instanceof Promise ? who.then((w) => admit(w, req, res, next)) : admit(who, req, res, next);
  };
  authMiddlewares.add(requireAuth);
  return requireAuth;
}

/** True for a handler made by {@link createAuthMiddleware}. */
export function isAuthMiddleware(handler: unknown): boolean {
  return typeof handler === "function" && authMiddlewares.has(handler);
}
