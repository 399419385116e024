import { randomUUID } from "node:crypto";
import express, { type NextFunction, type Request, type Response } from "express";
import type { Logger } from "@luthien/runtime";
import { NO_ACTIVITY, type ActivitySink } from "./activity";
import { createClientAuth } from "./auth";
import { createCallHandler } from "./call-handler";
import { anthropicApi, openaiApi, type ClientApi } from "./client-api";
import type { GatewayConfig } from "./config";
import { AuthenticationError, NotFoundError, toHttpError } from "./errors";
import { createPassthroughHandler } from "./passthrough";
import { createPolicyEngine, type PolicyEngine } from "./policy-engine";
import { createUpstreams } from "./upstream";

export interface Gateway {
  app: express.Express;
  engine: PolicyEngine;
  close(): void;
}

/** The client API whose error format a request gets when its route does not say (404s, passthrough, auth). */
function apiOf(req: Request): ClientApi {
  return req.path.startsWith("/v1/messages") || req.headers["anthropic-version"] !== undefined ? anthropicApi : openaiApi;
}

/**
 * Builds the gateway's Express app and its engine client. `listen` is the caller's job.
 * @param activity where activity events go @default nowhere
 */
export function createGateway(config: GatewayConfig, logger: Logger, activity: ActivitySink = NO_ACTIVITY): Gateway {
  const engine = createPolicyEngine({
    address: config.policyEngineUrl,
    timeoutMs: config.policyTimeoutMs,
    maxWaitMs: config.policyMaxWaitMs,
    logger,
  });
  const upstreams = createUpstreams({ timeoutMs: config.upstreamTimeoutMs });
  const auth = createClientAuth({ keys: config.apiKeys, mode: config.authMode });
  if (!auth.enforced) logger.warn("GATEWAY_API_KEYS is empty: calls without a credential use the server's provider keys");
  if (config.policyFailureMode === "open") logger.warn("POLICY_FAILURE_MODE=open: calls are served without policy when the engine fails");

  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);

  app.use((req, res, next) => {
    const callId = randomUUID();
    res.locals["callId"] = callId;
    res.locals["api"] = apiOf(req);
    res.set("x-luthien-call-id", callId);
    next();
  });

  app.get("/health", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.get("/ready", async (_req, res) => {
    const ok = await engine.ready();
    res.status(ok ? 200 : 503).json({ status: ok ? "ready" : "policy engine unavailable" });
  });

  const requireAuth = (req: Request, res: Response, next: NextFunction): void => {
    const who = auth.authenticate(req);
    if (who === undefined) throw new AuthenticationError();
    res.locals["auth"] = who;
    next();
  };
  const json = express.json({ limit: config.maxBodyBytes, type: () => true });
  for (const api of [openaiApi, anthropicApi]) {
    app.post(
      api.route,
      (_req, res, next) => {
        res.locals["api"] = api;
        next();
      },
      requireAuth,
      json,
      createCallHandler({
        api,
        engine,
        routing: config.routing,
        upstreams,
        logger,
        failureMode: config.policyFailureMode,
        window: config.policyWindow,
        onViolation: (callId, err) => logger.warn("stream.protocol_violation", { callId, error: err.message }),
        activity,
        chunkEvents: config.activityChunks,
      }),
    );
  }
  app.all(
    "/v1/{*path}",
    requireAuth,
    express.raw({ limit: config.maxBodyBytes, type: () => true }),
    createPassthroughHandler({ routing: config.routing, logger, timeoutMs: config.upstreamTimeoutMs }),
  );

  app.use((req) => {
    throw new NotFoundError(req.method, req.path);
  });
  // The error boundary: everything thrown before a response started is mapped once (toHttpError) and rendered in
  // the format of the route's client API.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const http = toHttpError(err);
    if (http.status >= 500) logger.error("request failed", { callId: res.locals["callId"] as string, status: http.status, error: (err as Error).message });
    if (res.headersSent) {
      res.end();
      return;
    }
    res.status(http.status).set(http.headers).json((res.locals["api"] as ClientApi).errorBody(http));
  });

  return { app, engine, close: () => engine.close() };
}
