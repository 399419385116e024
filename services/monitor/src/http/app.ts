import express, { type NextFunction, type Request, type Response } from "express";
import type { Logger } from "@luthien/runtime";
import { isTransientDatabaseError, rootCauseMessage } from "../db/database";
import { DatabaseUnavailableError, InvalidQueryError } from "../errors";
import type { LiveHub } from "../live";
import type { MonitorMetrics } from "../metrics";
import type { StoreOriginals } from "../originals";
import type { KeyStore } from "@luthien/keys";
import { MAX_PAGE_SIZE, type CallQuery, type GroupQuery, type MonitorStore } from "../store";
import { SESSION_COOKIE, SESSION_TTL_MS, type AdminAuth } from "./auth";

/** Options of {@link createMonitorApp}. */
export interface MonitorAppOptions {
  store: MonitorStore;
  hub: LiveHub;
  auth: AdminAuth;
  logger: Logger;
  /** The UI's static files. */
  publicDir: string;
  /** Whether the database and NATS are reachable now. */
  readiness(): Promise<{ database: boolean; nats: boolean }>;
  /** Extra numbers for `GET /api/stats` (consumer counters and such). */
  counters(): Record<string, number>;
  /** HTTP metrics and `GET /metrics`. @default neither */
  metrics?: Pick<MonitorMetrics, "http" | "handler">;
  /** How originals are stored now (`GET /api/session` tells the UI). @default "redacted" */
  storeOriginals?: StoreOriginals;
  /** The virtual-key store behind `/api/keys` (opened on first use). @default none: those routes answer 503 */
  keys?: () => Promise<KeyStore>;
}

const LOGIN_FAILURES_PER_MINUTE = 20;

function one(req: Request, name: string): string | undefined {
  const v = (req.query as Record<string, unknown>)[name];
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw new InvalidQueryError(`${name}: give it once, as a plain value`);
  return v === "" ? undefined : v;
}

function intParam(req: Request, name: string): number | undefined {
  const v = one(req, name);
  if (v === undefined) return undefined;
  if (!/^\d{1,9}$/.test(v)) throw new InvalidQueryError(`${name}: must be a non-negative integer`);
  return Number(v);
}

function timeParam(req: Request, name: string): Date | undefined {
  const v = one(req, name);
  if (v === undefined) return undefined;
  const t = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (Number.isNaN(t)) throw new InvalidQueryError(`${name}: must be an ISO 8601 time or epoch milliseconds`);
  return new Date(t);
}

/**
 * The monitor's HTTP surface: the UI (static, public), `/health`, `/ready` and `/metrics` (public), `/login` and
 * `/logout`, and `/api/*` behind the admin key. `/metrics` is public like `/health`, so that a scraper needs no admin
 * key: it carries counts and latencies labelled by route pattern and status, never event contents, ids or keys.
 */
export function createMonitorApp(options: MonitorAppOptions): express.Express {
  const { store, hub, auth, logger } = options;
  const app = express();
  app.disable("x-powered-by");
  app.set("query parser", "simple");
  if (options.metrics !== undefined) app.use(options.metrics.http);

  app.use((_req, res, next) => {
    // The UI renders prompts and model output as text; the policy below stops injected markup from running even if
    // a bug ever let some through.
    res.set({
      "Content-Security-Policy":
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
      "X-Content-Type-Options": "nosniff",
      "Referrer-Policy": "no-referrer",
      "X-Frame-Options": "DENY",
    });
    next();
  });

  app.get("/health", (_req, res) => {
    res.json({ status: "ok" });
  });

  if (options.metrics !== undefined) app.get("/metrics", options.metrics.handler);

  app.get("/ready", async (_req, res) => {
    const r = await options.readiness();
    const body = { status: r.database && r.nats ? "ready" : "unavailable", database: r.database ? "up" : "down", nats: r.nats ? "up" : "down" };
    res.status(r.database && r.nats ? 200 : 503).json(body);
  });

  const failures = new Map<string, { count: number; resetAt: number }>();
  app.post("/login", express.urlencoded({ extended: false, limit: "8kb" }), express.json({ limit: "8kb" }), (req, res) => {
    const isForm = req.is("application/x-www-form-urlencoded") !== false;
    const ip = req.socket.remoteAddress ?? "?";
    const now = Date.now();
    const f = failures.get(ip);
    if (f !== undefined && f.resetAt > now && f.count >= LOGIN_FAILURES_PER_MINUTE) {
      res.status(429).json({ error: { type: "rate_limited", message: "too many failed logins; wait a minute" } });
      return;
    }
    const key = (req.body as { key?: unknown } | undefined)?.key;
    if (typeof key !== "string" || !auth.checkKey(key)) {
      if (failures.size > 10_000) for (const [k, v] of failures) if (v.resetAt <= now) failures.delete(k);
      if (f === undefined || f.resetAt <= now) failures.set(ip, { count: 1, resetAt: now + 60_000 });
      else f.count++;
      logger.warn("failed monitor login", { ip });
      if (isForm) res.redirect(303, "/#login-failed");
      else res.status(401).json({ error: { type: "unauthorized", message: auth.mode === "loopback" ? "ADMIN_API_KEY is not set; there is nothing to log in with" : "wrong admin key" } });
      return;
    }
    failures.delete(ip);
    res.cookie(SESSION_COOKIE, auth.issueSession(now), {
      httpOnly: true,
      sameSite: "strict",
      secure: req.secure,
      path: "/",
      maxAge: SESSION_TTL_MS,
    });
    if (isForm) res.redirect(303, "/");
    else res.status(204).end();
  });

  app.post("/logout", (req, res) => {
    // The session ends here, not only in this browser: the same cookie sent again is refused.
    auth.endSession(req);
    res.clearCookie(SESSION_COOKIE, { httpOnly: true, sameSite: "strict", secure: req.secure, path: "/" });
    res.status(204).end();
  });

  const api = express.Router();
  api.use((req, res, next) => auth.require(req, res, next));

  api.get("/session", (_req, res) => {
    res.json({ authenticated: true, mode: auth.mode, storeOriginals: options.storeOriginals ?? "redacted" });
  });

  api.get("/calls", async (req, res) => {
    const query: CallQuery = {};
    const set = <K extends keyof CallQuery>(k: K, v: CallQuery[K] | undefined): void => {
      if (v !== undefined) query[k] = v;
    };
    set("model", one(req, "model"));
    set("keyId", one(req, "keyId"));
    set("owner", one(req, "owner"));
    set("userId", one(req, "userId"));
    set("sessionId", one(req, "sessionId"));
    set("status", intParam(req, "status"));
    set("outcome", one(req, "outcome"));
    set("action", one(req, "action"));
    set("q", one(req, "q"));
    set("from", timeParam(req, "from"));
    set("to", timeParam(req, "to"));
    set("cursor", one(req, "cursor"));
    set("limit", intParam(req, "limit"));
    const order = one(req, "order");
    if (order !== undefined && order !== "asc" && order !== "desc") throw new InvalidQueryError("order: asc or desc");
    set("order", order);
    res.json(await store.listCalls(query));
  });

  const groupQuery = (req: Request): GroupQuery => {
    const query: GroupQuery = {};
    for (const [k, v] of [
      ["keyId", one(req, "keyId")],
      ["owner", one(req, "owner")],
    ] as const) {
      if (v !== undefined) query[k] = v;
    }
    const from = timeParam(req, "from");
    const to = timeParam(req, "to");
    const limit = intParam(req, "limit");
    if (from !== undefined) query.from = from;
    if (to !== undefined) query.to = to;
    if (limit !== undefined) query.limit = limit;
    return query;
  };
  api.get("/sessions", async (req, res) => {
    res.json({ sessions: await store.listSessions(groupQuery(req)) });
  });
  api.get("/sessions/:id", async (req, res) => {
    // A session's calls in order, each with its interventions (policyActions); details at /api/calls/:id.
    res.json(
      await store.listCalls({
        sessionId: String(req.params["id"]),
        order: "asc",
        limit: MAX_PAGE_SIZE,
        ...(one(req, "cursor") !== undefined ? { cursor: one(req, "cursor") as string } : {}),
      }),
    );
  });
  api.get("/keys/usage", async (req, res) => {
    res.json({ keys: await store.keyUsage(groupQuery(req)) });
  });

  api.get("/calls/:id", async (req, res) => {
    const detail = await store.getCall(String(req.params["id"]));
    if (detail === undefined) {
      res.status(404).json({ error: { type: "not_found", message: "no such call" } });
      return;
    }
    res.json(detail);
  });

  api.get("/activity/stream", (req, res) => {
    const filter: { callId?: string; typePrefix?: string } = {};
    const callId = one(req, "callId");
    const type = one(req, "type");
    if (callId !== undefined) filter.callId = callId;
    if (type !== undefined) filter.typePrefix = type;
    hub.attach(res, filter);
  });

  api.get("/stats", async (_req, res) => {
    res.json({ ...(await store.stats()), ...options.counters(), liveClients: hub.clients(), liveClientsDropped: hub.dropped() });
  });

  api.get("/config-events", async (req, res) => {
    res.json({ configEvents: await store.listConfigEvents(intParam(req, "limit") ?? 50) });
  });

  api.get("/dead-letters", async (req, res) => {
    res.json({ deadLetters: await store.listDeadLetters(intParam(req, "limit") ?? 50) });
  });

  // Virtual keys: the same store `pnpm luthien keys` writes. A secret is in the answer to create and rotate only.
  const keyStore = async (): Promise<KeyStore> => {
    if (options.keys === undefined) throw Object.assign(new Error("virtual keys are off on this monitor"), { name: "KeyStoreError" });
    return options.keys();
  };
  const keyJson = express.json({ limit: "16kb" });
  api.get("/keys", async (_req, res) => {
    res.json({ keys: await (await keyStore()).list() });
  });
  api.post("/keys", keyJson, async (req, res) => {
    const b = (typeof req.body === "object" && req.body !== null ? req.body : {}) as Record<string, unknown>;
    const issued = await (await keyStore()).create({
      name: b["name"] as string,
      owner: b["owner"] as string,
      ...(b["expiresAt"] !== undefined ? { expiresAt: b["expiresAt"] as string } : {}),
      ...(b["scopes"] !== undefined ? { scopes: b["scopes"] as object } : {}),
      ...(b["limits"] !== undefined ? { limits: b["limits"] as object } : {}),
    });
    res.status(201).set("cache-control", "no-store").json({ key: issued.record, secret: issued.secret });
  });
  api.post("/keys/:id/revoke", async (req, res) => {
    res.json({ key: await (await keyStore()).revoke(String(req.params["id"])) });
  });
  api.post("/keys/:id/rotate", async (req, res) => {
    const issued = await (await keyStore()).rotate(String(req.params["id"]));
    res.set("cache-control", "no-store").json({ key: issued.record, secret: issued.secret });
  });

  api.get("/owners", async (_req, res) => {
    res.json({ owners: await (await keyStore()).listOwners() });
  });
  api.put("/owners/:owner", keyJson, async (req, res) => {
    const b = (typeof req.body === "object" && req.body !== null ? req.body : {}) as Record<string, unknown>;
    res.json({ owner: await (await keyStore()).setOwnerLimits(String(req.params["owner"]), (b["limits"] ?? {}) as object) });
  });

  api.use((_req, res) => {
    res.status(404).json({ error: { type: "not_found", message: "no such API route" } });
  });

  app.use("/api", api);
  app.use(express.static(options.publicDir, { index: "index.html", maxAge: 0 }));

  let lastUnavailableLog = 0;
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    // The keys package is loaded on first use (monitor.ts), so its errors are told by name here.
    const keyError = err instanceof Error && (err.name === "KeyRecordError" || err.name === "KeyStoreError") ? err.name : undefined;
    if (err instanceof InvalidQueryError || keyError === "KeyRecordError") {
      res.status(400).json({ error: { type: "invalid_request", message: (err as Error).message } });
      return;
    }
    if (err instanceof Error && keyError === "KeyStoreError") {
      const missing = err.message.startsWith("no key");
      res.status(missing ? 404 : 503).json({ error: { type: missing ? "not_found" : "key_store_unavailable", message: err.message } });
      return;
    }
    if (err instanceof DatabaseUnavailableError || isTransientDatabaseError(err)) {
      // The database is restarting or away (/ready says so too): a short answer, and a log line every 10 s at most
      // rather than one per request with the whole statement in it.
      const now = Date.now();
      if (now - lastUnavailableLog > 10_000) {
        lastUnavailableLog = now;
        logger.warn("API requests fail: the database is unavailable", { error: rootCauseMessage(err) });
      }
      if (!res.headersSent) {
        res
          .status(503)
          .set("Retry-After", "2")
          .json({ error: { type: "database_unavailable", message: "the database is unavailable; try again shortly" } });
      }
      return;
    }
    logger.error("request failed", { error: err instanceof Error ? err.message : String(err) });
    if (!res.headersSent) res.status(500).json({ error: { type: "internal", message: "the monitor could not answer; see its log" } });
  });
  return app;
}
