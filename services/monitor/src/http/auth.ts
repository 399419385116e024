import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { NextFunction, Request, Response } from "express";

/** The session cookie set by `POST /login`. */
export const SESSION_COOKIE = "luthien_monitor_session";
/** How long a login lasts. */
export const SESSION_TTL_MS = 12 * 3600 * 1000;
/** Most sessions held at once; past it the oldest is ended. */
export const MAX_SESSIONS = 10_000;

/**
 * Who may use the API: the holder of `ADMIN_API_KEY` (as `Authorization: Bearer` or through a login session), or —
 * when no key is configured — a client on the loopback interface that names the monitor by a loopback host name,
 * and nobody else.
 */
export interface AdminAuth {
  readonly mode: "key" | "loopback";
  /**
   * Express middleware: next() when allowed, else a JSON error: 401 (no or wrong key; not a loopback client), and
   * in loopback mode 421 (not a loopback host name) or 403 (a foreign page's `Origin`).
   */
  require(req: Request, res: Response, next: NextFunction): void;
  /** Whether the request may use the API. */
  allowed(req: Request): boolean;
  /** Constant-time check of a presented key. */
  checkKey(presented: string): boolean;
  /**
   * Starts a session and returns its cookie value: 32 random bytes, held by the monitor (as a hash) until logout
   * or expiry; it carries and derives from nothing else.
   */
  issueSession(now?: number): string;
  /** Ends the session the request's cookie names, if any; that cookie is refused from then on. */
  endSession(req: Request): void;
}

function sha256(s: string): Buffer {
  return createHash("sha256").update(s, "utf8").digest();
}

/** Equal-length digests compared in constant time, so neither content nor length leaks through timing. */
function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

function isLoopback(addr: string | undefined): boolean {
  return addr === "127.0.0.1" || addr === "::1" || addr === "::ffff:127.0.0.1" || (addr?.startsWith("127.") ?? false);
}

// `localhost`, `127.0.0.1` or `[::1]`, with or without a port. A browser tricked by DNS rebinding sends the
// attacker's name (`evil.example:8001`) even though it connects to 127.0.0.1, so the address alone proves nothing.
const LOOPBACK_HOST = /^(?:localhost|127\.0\.0\.1|\[::1\])(?::\d{1,5})?$/i;

/** Whether a `Host` header value names this machine's loopback interface. */
export function isLoopbackHost(host: string | undefined): boolean {
  return host !== undefined && LOOPBACK_HOST.test(host);
}

/** Whether an `Origin` header value is a loopback origin (`http://localhost:8001`, ...). */
function isLoopbackOrigin(origin: string): boolean {
  try {
    const u = new URL(origin);
    return (u.protocol === "http:" || u.protocol === "https:") && isLoopbackHost(u.host);
  } catch {
    return false;
  }
}

function cookieValue(req: Request, name: string): string | undefined {
  const header = req.headers.cookie;
  if (header === undefined) return undefined;
  for (const part of header.split(";")) {
    const i = part.indexOf("=");
    if (i < 0) continue;
    if (part.slice(0, i).trim() === name) {
      try {
        return decodeURIComponent(part.slice(i + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/**
 * Creates the auth policy; `adminKey` undefined or empty means loopback-only. Sessions live in this process: a
 * restart (or another replica) asks to log in again, and logout ends a session for good.
 */
export function createAdminAuth(adminKey: string | undefined): AdminAuth {
  const key = adminKey !== undefined && adminKey !== "" ? adminKey : undefined;
  // sha256(token) → expiry. Only hashes are kept, so a heap dump holds no usable cookie.
  const sessions = new Map<string, number>();
  const tokenId = (token: string): string => createHash("sha256").update(token, "utf8").digest("base64url");

  const sessionValid = (value: string | undefined, now = Date.now()): boolean => {
    if (key === undefined || value === undefined || !/^[A-Za-z0-9_-]{43}$/.test(value)) return false;
    const id = tokenId(value);
    const expires = sessions.get(id);
    if (expires === undefined) return false;
    if (expires <= now) {
      sessions.delete(id);
      return false;
    }
    return true;
  };

  /** In loopback mode: why the request is refused, with its status; undefined when it may go on. */
  const loopbackRefusal = (req: Request): { status: number; message: string } | undefined => {
    if (!isLoopbackHost(req.headers.host)) {
      return {
        status: 421,
        message: "ADMIN_API_KEY is not set: the monitor API answers only as localhost, 127.0.0.1 or [::1] (set ADMIN_API_KEY to serve it under another name)",
      };
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !isLoopbackOrigin(origin)) {
      return { status: 403, message: "ADMIN_API_KEY is not set: the monitor API answers pages of its own origin only" };
    }
    if (!isLoopback(req.socket.remoteAddress)) return { status: 401, message: "ADMIN_API_KEY is not set: the monitor API answers loopback clients only" };
    return undefined;
  };

  const allowed = (req: Request): boolean => {
    if (key === undefined) return loopbackRefusal(req) === undefined;
    const auth = req.headers.authorization;
    if (auth !== undefined) {
      const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
      return m !== null && safeEqual(m[1]!, key);
    }
    return sessionValid(cookieValue(req, SESSION_COOKIE));
  };

  return {
    mode: key === undefined ? "loopback" : "key",
    allowed,
    checkKey: (presented) => key !== undefined && safeEqual(presented, key),
    issueSession: (now = Date.now()) => {
      for (const [id, expires] of sessions) if (expires <= now) sessions.delete(id);
      while (sessions.size >= MAX_SESSIONS) {
        const oldest = sessions.keys().next().value;
        if (oldest === undefined) break;
        sessions.delete(oldest);
      }
      const token = randomBytes(32).toString("base64url");
      sessions.set(tokenId(token), now + SESSION_TTL_MS);
      return token;
    },
    endSession(req) {
      const value = cookieValue(req, SESSION_COOKIE);
      if (value !== undefined) sessions.delete(tokenId(value));
    },
    require(req, res, next) {
      if (key === undefined) {
        const refusal = loopbackRefusal(req);
        if (refusal === undefined) return next();
        const type = refusal.status === 421 ? "misdirected_request" : refusal.status === 403 ? "forbidden" : "unauthorized";
        res.status(refusal.status).json({ error: { type, message: refusal.message } });
        return;
      }
      if (allowed(req)) return next();
      res.status(401).json({ error: { type: "unauthorized", message: "missing or wrong admin key (Authorization: Bearer <ADMIN_API_KEY>, or log in)" } });
    },
  };
}
