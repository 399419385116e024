import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { NextFunction, Request, Response } from "express";

/** The session cookie set by `POST /login`. */
export const SESSION_COOKIE = "luthien_monitor_session";
/** How long a login lasts. */
export const SESSION_TTL_MS = 12 * 3600 * 1000;

/**
 * Who may use the API: the holder of `ADMIN_API_KEY` (as `Authorization: Bearer` or through the login cookie),
 * or — when no key is configured — any client on the loopback interface, and nobody else.
 */
export interface AdminAuth {
  readonly mode: "key" | "loopback";
  /** Express middleware: next() when allowed, else a 401 JSON error. */
  require(req: Request, res: Response, next: NextFunction): void;
  /** Whether the request may use the API. */
  allowed(req: Request): boolean;
  /** Constant-time check of a presented key. */
  checkKey(presented: string): boolean;
  /** A cookie value for a fresh session (an HMAC of the issue time under the key; never the key itself). */
  issueSession(now?: number): string;
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

function cookieValue(req: Request, name: string): string | undefined {
  const header = req.headers.cookie;
  if (header === undefined) return undefined;
  for (const part of header.split(";")) {
    const i = part.indexOf("=");
    if (i < 0) continue;
    if (part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return undefined;
}

/** Creates the auth policy; `adminKey` undefined or empty means loopback-only. */
export function createAdminAuth(adminKey: string | undefined): AdminAuth {
  const key = adminKey !== undefined && adminKey !== "" ? adminKey : undefined;
  const sign = (issued: string): string => createHmac("sha256", key ?? "").update(`luthien-monitor-session:${issued}`).digest("base64url");

  const sessionValid = (value: string | undefined, now = Date.now()): boolean => {
    if (key === undefined || value === undefined) return false;
    const [issued, mac] = value.split(".");
    if (issued === undefined || mac === undefined || !/^\d+$/.test(issued)) return false;
    const t = Number(issued);
    if (t > now + 60_000 || now - t > SESSION_TTL_MS) return false;
    return safeEqual(mac, sign(issued));
  };

  const allowed = (req: Request): boolean => {
    if (key === undefined) return isLoopback(req.socket.remoteAddress);
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
    issueSession: (now = Date.now()) => `${now}.${sign(String(now))}`,
    require(req, res, next) {
      if (allowed(req)) return next();
      res.status(401).json({
        error: {
          type: "unauthorized",
          message:
            key === undefined
              ? "ADMIN_API_KEY is not set: the monitor API answers loopback clients only"
              : "missing or wrong admin key (Authorization: Bearer <ADMIN_API_KEY>, or log in)",
        },
      });
    },
  };
}
