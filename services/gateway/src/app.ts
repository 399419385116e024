import { randomUUID } from "node:crypto";
import { STATUS_CODES, type Server } from "node:http";
import type { Duplex } from "node:stream";
import express, { type NextFunction, type Request, type Response } from "express";
import type { Logger } from "@luthien/runtime";
import { NO_ACTIVITY, createCallActivity, type ActivitySink } from "./activity";
import type { KeyDirectory, RateLimiter } from "@luthien/keys";
import { createCallLimits } from "./identity/limits";
import { createAuthMiddleware, createClientAuth, gatewayKeyHeader, presentedCredential } from "./identity/auth";
import { createBatchHandlers } from "./routes/batches";
import { createCallHandler } from "./routes/call-handler";
import { anthropicApi, CLIENT_APIS, looksLikeAnthropic, openaiApi, type ClientApi } from "./formats/client-api";
import { COUNT_TOKENS_ROUTE, createCountTokensHandler } from "./routes/count-tokens";
import type { GatewayConfig } from "./config";
import { NotFoundError, toHttpError, type HttpError } from "./errors";
import { createGatewayMetrics, type GatewayMetrics } from "./metrics";
import { createPassthroughHandler } from "./routes/passthrough";
import { createEnginePools, type EnginePools } from "./engine/engine-pool";
import { BATCH_ROUTES } from "./routes/route-classes";
import { readJsonRequest } from "./formats/json-request";
import { initCallLocals } from "./locals";
import { createSecretRedactor, type SecretRedactor } from "./identity/secrets";
import { traceCalls } from "./tracing";
import { createUpstreams } from "./upstream/upstream";

export interface Gateway {
  app: express.Express;
  engines: EnginePools;
  metrics: GatewayMetrics;
  close(): void;
}

/** The client API whose error format a request gets when its route does not say (404s, passthrough, auth). */
function apiOf(req: Request): ClientApi {
  return looksLikeAnthropic(req) ? anthropicApi : openaiApi;
}

/**
 * Builds the gateway's Express app and its engine client. `listen` is the caller's job.
 * @param activity where activity events go @default nowhere
 * @param metrics what `GET /metrics` serves @default the gateway's metrics without process metrics or publisher counters
 * @param keys the watched virtual-key directory and the shared rate counters @default none: static keys only
 */
export function createGateway(
  config: GatewayConfig,
  logger: Logger,
  activity: ActivitySink = NO_ACTIVITY,
  metrics: GatewayMetrics = createGatewayMetrics({ processMetrics: false }),
  keys: { directory?: KeyDirectory; limiter?: RateLimiter } = {},
): Gateway {
  const engines = createEnginePools({
    routing: config.routing,
    transport: config.policyTransport,
    streams: config.policyStreams,
    timeoutMs: config.policyTimeoutMs,
    maxWaitMs: config.policyMaxWaitMs,
    maxHoldMs: config.policyMaxHoldMs,
    maxBodyBytes: config.maxBodyBytes,
    logger,
    metrics: metrics.engine,
  });
  const upstreams = createUpstreams({ timeoutMs: config.upstreamTimeoutMs });
  const auth = createClientAuth({ keys: config.apiKeys, mode: config.authMode, ...(keys.directory !== undefined ? { directory: keys.directory } : {}) });
  const limits = createCallLimits({ limiter: keys.limiter, prices: config.prices, onStoreError: config.limitsOnStoreError, logger, metrics });
  const secrets = createSecretRedactor([...[...config.routing.providers.values()].map((p) => p.apiKey), ...config.apiKeys]);
  if (config.authMode === "off") logger.warn("AUTH_MODE=off: every caller is served with the server's provider keys, no gateway key asked");
  else if (config.apiKeys.length === 0 && keys.directory === undefined) {
    logger.warn("no gateway keys (GATEWAY_API_KEYS empty, virtual keys off): every call is refused unless it passes its own credential through", { authMode: config.authMode });
  }
  for (const pool of config.routing.engines.values()) {
    if (pool.failureMode === "open") logger.warn("policy engine pool fails open: its calls are served without policy when it fails", { pool: pool.name });
  }

  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);

  app.use(metrics.http);
  app.use(function assignCallId(req, res, next) {
    const callId = randomUUID();
    initCallLocals(res, callId, apiOf(req));
    res.setHeader("x-luthien-call-id", callId);
    next();
  });

  app.get("/health", (_req, res) => {
    res.json({ status: "ok" });
  });
  // Public like /health: labels hold route patterns, phases and reasons, never keys, key ids or paths.
  app.get("/metrics", metrics.handler);
  // Ready when every engine pool has a serving replica: a pool without one could only fail (or bypass) its calls.
  app.get("/ready", async (_req, res) => {
    const ok = await engines.ready();
    // Virtual keys do not decide readiness: static keys still work while the key store is away, and it is reported.
    const directory = keys.directory;
    res.status(ok ? 200 : 503).json({
      status: ok ? "ready" : "policy engine unavailable",
      engines: engines.status(),
      ...(directory !== undefined ? { virtualKeys: directory.ready ? "ready" : "unavailable" } : {}),
    });
  });

  // Runs before any body is read: an unauthenticated client cannot make the gateway parse 32 MiB.
  const requireAuth = createAuthMiddleware(auth, { allowedOrigins: config.allowedOrigins, limits });
  // JSON only (415 otherwise): a browser sends text/plain and form bodies cross-origin without asking first.
  const json = readJsonRequest({ limit: config.maxBodyBytes });
  for (const api of CLIENT_APIS) {
    app.post(
      api.route,
      function useClientApi(_req, res, next) {
        res.locals.call.api = api;
        next();
      },
      traceCalls(api),
      requireAuth,
      json,
      createCallHandler({
        api,
        engines,
        routing: config.routing,
        upstreams,
        logger,
        window: config.policyWindow,
        onViolation: (callId, err) => logger.warn("stream.protocol_violation", { callId, error: err.message }),
        activity,
        chunkEvents: config.activityChunks,
        secrets,
        maxCallMs: config.maxCallMs,
        heartbeatMs: config.sseHeartbeatMs,
        limits,
        metrics,
      }),
    );
  }
  const forwarding = { routing: config.routing, logger, timeoutMs: config.upstreamTimeoutMs, secrets, activity, metrics };
  app.post(
    COUNT_TOKENS_ROUTE,
    function useClientApi(_req, res, next) {
      res.locals.call.api = anthropicApi;
      next();
    },
    requireAuth,
    json,
    createCountTokensHandler({ ...forwarding, engines }),
  );
  // Anthropic Message Batches through the policies, only when GATEWAY_CONFIG turns them on; otherwise they reach the
  // passthrough below and are refused (route-classes.ts).
  if (config.routing.batches.enabled) {
    const batches = createBatchHandlers({ ...forwarding, engines, window: config.policyWindow, maxLineBytes: config.maxBodyBytes });
    for (const route of BATCH_ROUTES) {
      app[route.method](route.path, requireAuth, ...(route.kind === "create" ? [json].flat() : []), batches[route.kind]);
    }
  }
  // Everything else under /v1/: harmless, opted in unchecked, or refused (route-classes.ts).
  app.all("/v1/{*path}", requireAuth, express.raw({ limit: config.maxBodyBytes, type: () => true }), createPassthroughHandler(forwarding));

  app.use(function notFound(req) {
    throw new NotFoundError(req.method, req.path);
  });
  // The error boundary: everything thrown before a response started is mapped once (toHttpError) and rendered in
  // the format of the route's client API.
  app.use(function errorBoundary(err: unknown, req: Request, res: Response, _next: NextFunction) {
    const redact = redactorFor(secrets, req, res);
    const http = toHttpError(err, { redact });
    if (http.status >= 500) {
      logger.error("request failed", { callId: res.locals.call.id, status: http.status, error: redact(String((err as Error | undefined)?.message ?? err)) });
    }
    if (res.headersSent) {
      res.end();
      return;
    }
    const { api, started } = res.locals.call;
    // A call refused before it started (401, 400, 413, ...) is still a call the monitor should show.
    if (req.route?.path === api.route && !started) publishRefused(activity, req, res, api, http);
    res.status(http.status).set(http.headers).json(api.errorBody(http));
  });

  return { app, engines, metrics, close: () => engines.close() };
}

/**
 * `call.started` and `call.ended` for a call refused before the call handler began it: what is known of it (the
 * model when the body was read, the key id when authenticated) and the error the client got, already redacted.
 */
function publishRefused(sink: ActivitySink, req: Request, res: Response, api: ClientApi, http: HttpError): void {
  const body = typeof req.body === "object" && req.body !== null ? (req.body as Record<string, unknown>) : {};
  const { auth, id, receivedAt } = res.locals.call;
  const activity = createCallActivity({ sink, callId: id, format: api.format, chunkEvents: false, startedAt: receivedAt });
  activity.started({
    model: typeof body["model"] === "string" ? body["model"].slice(0, 200) : "",
    stream: body["stream"] === true,
    route: api.route,
    keyId: auth?.keyId ?? "",
    ...(auth !== undefined ? { owner: auth.owner } : {}),
    // Refused before its body was read (auth, limits), the call still belongs to the session its headers name.
    ...api.identity(body, req),
    format: api.format,
    provider: "",
  });
  activity.ended({ status: http.status, outcome: "error", error: { type: http.type, message: http.message }, errorBody: api.errorBody(http) });
}

/** Redacts the server's and the gateway's keys, and whatever credential this caller presented. */
function redactorFor(secrets: SecretRedactor, req: Request, res: Response): (text: string) => string {
  // Presented but refused (a 401) is still the caller's secret.
  const presented = presentedCredential(req);
  const forCaller = secrets.forCaller(res.locals.call.auth?.credential ?? presented);
  const header = gatewayKeyHeader(req);
  return header === undefined ? forCaller : (text) => secrets.redact(forCaller(text), [header]);
}

/**
 * Applies the HTTP server settings of `config` to the server the gateway's app listens on: header size
 * (`GATEWAY_MAX_HEADER_BYTES` → 431), headers and request timeouts against slowloris (→ 408, connection closed),
 * the keep-alive idle timeout, and provider-shaped answers to requests Node could not parse.
 *
 * Call it before `listen()` or synchronously right after it (`const server = app.listen(...); configureServer(server,
 * config)`): Node reads the connection-check interval when the server starts listening.
 *
 * There is deliberately no socket inactivity timeout: a non-streaming call may stay silent for minutes while the
 * provider thinks; `GATEWAY_MAX_CALL_MS` bounds it instead, and streams get heartbeats.
 */
export function configureServer(server: Server, config: GatewayConfig, logger?: Logger): void {
  const settings = server as Server & { maxHeaderSize?: number; connectionsCheckingInterval: number };
  // Read per connection, so setting it on a created server works (Node answers 431 past it).
  settings.maxHeaderSize = config.maxHeaderBytes;
  settings.headersTimeout = config.headersTimeoutMs;
  settings.requestTimeout = config.requestTimeoutMs;
  settings.keepAliveTimeout = config.keepAliveTimeoutMs;
  // Node looks for timed-out connections every 30 s by default, which would let a 15 s headers timeout last 45 s:
  // look every quarter of the shortest timeout instead, at most once a second.
  const shortest = Math.min(...[config.headersTimeoutMs, config.requestTimeoutMs].filter((t) => t > 0), 4000);
  settings.connectionsCheckingInterval = Math.max(50, Math.floor(shortest / 4));
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => answerClientError(err, socket, logger));
}

/**
 * What Node does by default for a request it could not parse or that timed out, with a body both SDKs read
 * (Anthropic's error shape carries OpenAI's `error.message` and `error.type` too): the client API is unknown here.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex, logger: Logger | undefined): void {
  // The response in flight on this connection, if any: once its headers went out, any more bytes would corrupt it.
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
  if (err.code !== "ECONNRESET" && socket.writable && (inFlight === undefined || inFlight === null || inFlight.headersSent !== true)) {
    const http = toHttpError(err);
    const callId = randomUUID();
    const body = JSON.stringify({ type: "error", error: { type: http.type, message: http.message, param: null, code: http.code } });
    socket.write(
      `HTTP/1.1 ${http.status} ${STATUS_CODES[http.status] ?? "Error"}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nx-luthien-call-id: ${callId}\r\nConnection: close\r\n\r\n${body}`,
    );
    logger?.info("client error", { callId, status: http.status, code: err.code });
  }
  socket.destroy();
}
