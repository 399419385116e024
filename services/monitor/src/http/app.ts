import * as path from "node:path";
import express, { type NextFunction, type Request, type RequestHandler, type Response } from "express";
import type { ApprovalClient, DecideReply } from "@luthien/approvals";
import type { Logger } from "@luthien/runtime";
import { approvalsLib, type ApprovalListState, type ApprovalStore } from "../approvals";
import { isTransientDatabaseError, rootCauseMessage } from "../db/database";
import { DatabaseUnavailableError, InvalidQueryError } from "../errors";
import type { LiveHub } from "../live";
import type { MonitorMetrics } from "../metrics";
import type { StoreOriginals } from "../originals";
import type { KeyStore } from "@luthien/keys";
import type { ReplayReportStore } from "../replays";
import {
  CALL_SORTS,
  LABEL_FILTERS,
  LABELS,
  MAX_BUCKETS,
  MAX_PAGE_SIZE,
  type CallQuery,
  type GroupQuery,
  type Label,
  type LabelFilter,
  type MonitorStore,
  type RangeQuery,
  type ReplayQuery,
} from "../store";
import { VERDICTS } from "../verdict";
import { exportCalls, MAX_EXPORT_ROWS } from "./export";
import { SESSION_COOKIE, SESSION_TTL_MS, type AdminAuth } from "./auth";

/** Options of {@link createMonitorApp}. */
export interface MonitorAppOptions {
  store: MonitorStore;
  approvals: ApprovalStore;
  replays: ReplayReportStore;
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
  /** Sends decisions to the engine holding an approval (opened on first use). @default none: decisions answer 503 */
  approvalClient?: () => Promise<ApprovalClient>;
}

const LOGIN_FAILURES_PER_MINUTE = 20;

function one(req: Request, name: string): string | undefined {
  const v = (req.query as Record<string, unknown>)[name];
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw new InvalidQueryError(`${name}: give it once, as a plain value`);
  return v === "" ? undefined : v;
}

function enumParam<T extends string>(req: Request, name: string, allowed: readonly T[]): T | undefined {
  const v = one(req, name);
  if (v !== undefined && !(allowed as readonly string[]).includes(v)) throw new InvalidQueryError(`${name}: one of ${allowed.join(", ")}`);
  return v as T | undefined;
}

/** The JSON body as an object with only `allowed` fields (no body: empty). @throws InvalidQueryError otherwise */
function bodyObject(req: Request, allowed: readonly string[]): Record<string, unknown> {
  const b: unknown = req.body ?? {};
  if (typeof b !== "object" || b === null || Array.isArray(b)) throw new InvalidQueryError("the body must be a JSON object");
  const extra = Object.keys(b).find((k) => !allowed.includes(k));
  if (extra !== undefined) throw new InvalidQueryError(`unknown field ${JSON.stringify(extra.slice(0, 50))} (known: ${allowed.join(", ")})`);
  return b as Record<string, unknown>;
}

/** How each refused decision is answered. */
const DECISION_REFUSALS: Record<Extract<DecideReply, { ok: false }>["reason"], number> = {
  already_decided: 409,
  late: 409,
  not_held: 409,
  invalid: 400,
  timeout: 504,
};

const APPROVAL_LIST_STATES: readonly ApprovalListState[] = ["pending", "decided", "all"];
const MAX_LABEL_NOTE = 2000;
/** Replay reports carry examples and per-call results. */
const MAX_REPORT_BYTES = "5mb";

/** A comma-separated list of allowed values; undefined when absent. */
function listParam<T extends string>(req: Request, name: string, allowed: readonly T[]): T[] | undefined {
  const v = one(req, name);
  if (v === undefined) return undefined;
  const values = v.split(",").filter((x) => x !== "");
  const bad = values.find((x) => !(allowed as readonly string[]).includes(x));
  if (bad !== undefined) throw new InvalidQueryError(`${name}: comma-separated values of ${allowed.join(", ")}`);
  return values as T[];
}

function rangeOf(req: Request): RangeQuery {
  const from = timeParam(req, "from");
  const to = timeParam(req, "to");
  return { ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) };
}

/** The smallest of the usual chart steps (1 s … 1 day) at least `ms` wide. */
function niceBucket(ms: number): number {
  const steps = [1, 5, 10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400].map((s) => s * 1000);
  return steps.find((s) => s >= ms) ?? Math.ceil(ms / 86_400_000) * 86_400_000;
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
  const { store, approvals, replays, hub, auth, logger } = options;
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

  const callQuery = (req: Request): CallQuery => {
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
    set("policy", one(req, "policy"));
    set("verdict", listParam(req, "verdict", VERDICTS));
    set("sort", enumParam(req, "sort", CALL_SORTS));
    set("label", enumParam<LabelFilter>(req, "label", LABEL_FILTERS));
    set("q", one(req, "q"));
    set("from", timeParam(req, "from"));
    set("to", timeParam(req, "to"));
    set("cursor", one(req, "cursor"));
    set("limit", intParam(req, "limit"));
    const order = one(req, "order");
    if (order !== undefined && order !== "asc" && order !== "desc") throw new InvalidQueryError("order: asc or desc");
    set("order", order);
    return query;
  };
  api.get("/calls", async (req, res) => {
    res.json(await store.listCalls(callQuery(req)));
  });
  // Before /calls/:id. Any filtered list, streamed page by page (the same filters and order as /calls).
  api.get("/calls/export", async (req, res) => {
    const format = enumParam(req, "format", ["csv", "json"] as const) ?? "csv";
    const query = callQuery(req);
    const max = Math.min(intParam(req, "max") ?? MAX_EXPORT_ROWS, MAX_EXPORT_ROWS);
    const abort = new AbortController();
    res.on("close", () => abort.abort());
    await exportCalls({ store, query, format, max, res, signal: abort.signal });
  });
  api.get("/facets", async (req, res) => {
    res.json(await store.facets(rangeOf(req)));
  });
  api.get("/dashboard", async (req, res) => {
    const to = timeParam(req, "to") ?? new Date();
    const from = timeParam(req, "from") ?? new Date(to.getTime() - 24 * 3600_000);
    if (from.getTime() >= to.getTime()) throw new InvalidQueryError("from: must be before to");
    const span = to.getTime() - from.getTime();
    // About 60 buckets unless asked, never more than MAX_BUCKETS.
    const bucketMs = Math.max(intParam(req, "bucketMs") ?? niceBucket(span / 60), Math.ceil(span / MAX_BUCKETS), 1000);
    res.json(await store.dashboard({ from, to, bucketMs }));
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

  const smallJson = express.json({ limit: "16kb" });
  api.put("/calls/:id/label", smallJson, async (req, res) => {
    const b = bodyObject(req, ["label", "note"]);
    const label = b["label"];
    const note = b["note"] ?? "";
    if (typeof label !== "string" || !(LABELS as readonly string[]).includes(label)) throw new InvalidQueryError(`label: one of ${LABELS.join(", ")}`);
    if (typeof note !== "string" || note.length > MAX_LABEL_NOTE) throw new InvalidQueryError(`note: a string of at most ${MAX_LABEL_NOTE} characters`);
    const stored = await store.setLabel(String(req.params["id"]), label as Label, note);
    if (stored === undefined) {
      res.status(404).json({ error: { type: "not_found", message: "no such call" } });
      return;
    }
    res.json({ label: stored });
  });
  api.delete("/calls/:id/label", async (req, res) => {
    await store.deleteLabel(String(req.params["id"]));
    res.status(204).end();
  });

  // Approvals: read from the stored events (any replica answers the same), decided over NATS by the engine that
  // holds the call.
  api.get("/approvals", async (req, res) => {
    const state = enumParam(req, "state", APPROVAL_LIST_STATES) ?? "all";
    const limit = intParam(req, "limit");
    res.json({ approvals: await approvals.list({ state, ...(limit !== undefined ? { limit } : {}) }) });
  });
  const approvalId = (req: Request): string => {
    const id = String(req.params["id"]);
    if (!approvalsLib().isApprovalId(id)) throw new InvalidQueryError("not an approval id");
    return id;
  };
  api.get("/approvals/:id", async (req, res) => {
    const a = await approvals.get(approvalId(req));
    if (a === undefined) {
      res.status(404).json({ error: { type: "not_found", message: "no such approval" } });
      return;
    }
    res.json({ approval: a });
  });
  const decide =
    (decision: "approve" | "deny"): RequestHandler =>
    async (req, res) => {
      const id = approvalId(req);
      const b = bodyObject(req, decision === "approve" ? ["note", "scope", "pattern", "by"] : ["note", "by"]);
      // Checked here by the engine's own reader, so a malformed decision never reaches (or is recorded by) it.
      const parsed = approvalsLib().parseDecision(new TextEncoder().encode(JSON.stringify({ decision, ...b, by: b["by"] ?? "monitor" })));
      if (!parsed.ok) throw new InvalidQueryError(parsed.message);
      const unavailable = (message: string): void => {
        res.status(503).json({ error: { type: "nats_unavailable", message } });
      };
      if (options.approvalClient === undefined) return unavailable("approvals are off on this monitor");
      let reply: DecideReply;
      try {
        reply = await (await options.approvalClient()).decide(id, parsed.decision);
      } catch (err) {
        return unavailable(`cannot reach the policy engines over NATS: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (reply.ok) {
        res.json({ ok: true, state: reply.state });
        return;
      }
      // No engine received it, so none recorded it: the monitor does, and the approval shows it as refused.
      if (reply.reason === "not_held") await approvals.recordRefusal({ approvalId: id, decision, by: parsed.decision.by, reason: reply.reason, message: reply.message });
      res.status(DECISION_REFUSALS[reply.reason]).json({ error: { type: reply.reason, message: reply.message, ...(reply.state !== undefined ? { state: reply.state } : {}) } });
    };
  api.post("/approvals/:id/approve", smallJson, decide("approve"));
  api.post("/approvals/:id/deny", smallJson, decide("deny"));

  // Replays: the stored calls a candidate configuration is run over, and the reports of those runs.
  api.get("/replay/calls", async (req, res) => {
    const query: ReplayQuery = {};
    const set = <K extends keyof ReplayQuery>(k: K, v: ReplayQuery[K] | undefined): void => {
      if (v !== undefined) query[k] = v;
    };
    set("from", timeParam(req, "from"));
    set("to", timeParam(req, "to"));
    set("cursor", one(req, "cursor"));
    set("limit", intParam(req, "limit"));
    const labelled = enumParam(req, "labelled", ["true", "false"]);
    set("labelled", labelled === undefined ? undefined : labelled === "true");
    res.json(await store.replayCalls(query));
  });
  api.post("/replays", express.json({ limit: MAX_REPORT_BYTES }), async (req, res) => {
    const report: unknown = req.body;
    if (typeof report !== "object" || report === null || Array.isArray(report)) throw new InvalidQueryError("the report must be a JSON object");
    res.status(201).json(await replays.save(report as Record<string, unknown>));
  });
  api.get("/replays", async (req, res) => {
    res.json({ replays: await replays.list(intParam(req, "limit")) });
  });
  api.get("/replays/:id", async (req, res) => {
    const r = await replays.get(String(req.params["id"]));
    if (r === undefined) {
      res.status(404).json({ error: { type: "not_found", message: "no such replay report" } });
      return;
    }
    res.json(r);
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
  api.get("/keys", async (_req, res) => {
    res.json({ keys: await (await keyStore()).list() });
  });
  api.post("/keys", smallJson, async (req, res) => {
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
  api.put("/owners/:owner", smallJson, async (req, res) => {
    const b = (typeof req.body === "object" && req.body !== null ? req.body : {}) as Record<string, unknown>;
    res.json({ owner: await (await keyStore()).setOwnerLimits(String(req.params["owner"]), (b["limits"] ?? {}) as object) });
  });

  api.use((_req, res) => {
    res.status(404).json({ error: { type: "not_found", message: "no such API route" } });
  });

  app.use("/api", api);
  // The UI's two libraries, from their packages: the chart library, and an emoji font so that block messages and
  // model output never show blank boxes on a machine without one.
  app.use("/vendor/uplot", express.static(path.join(path.dirname(require.resolve("uplot/package.json")), "dist"), { maxAge: "1d" }));
  app.use("/vendor/noto-emoji", express.static(path.dirname(require.resolve("@fontsource/noto-emoji/package.json")), { maxAge: "7d" }));
  app.use(express.static(options.publicDir, { index: "index.html", maxAge: 0 }));

  let lastUnavailableLog = 0;
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    // The keys package is loaded on first use (monitor.ts), so its errors are told by name here.
    const keyError = err instanceof Error && (err.name === "KeyRecordError" || err.name === "KeyStoreError") ? err.name : undefined;
    // express.json's own errors: a body that is not JSON, or too large.
    const bodyError = (err as { type?: unknown } | null)?.type;
    if (bodyError === "entity.parse.failed" || bodyError === "entity.too.large") {
      const large = bodyError === "entity.too.large";
      res.status(large ? 413 : 400).json({ error: { type: large ? "too_large" : "invalid_request", message: large ? "the body is too large" : "the body is not valid JSON" } });
      return;
    }
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
