import { randomUUID } from "node:crypto";
import express, { type NextFunction, type Request, type Response } from "express";
import OpenAI from "openai";
import type { Logger } from "@luthien/runtime";
import { createClientAuth } from "./auth";
import { createChatCompletionsHandler } from "./chat-completions";
import type { GatewayConfig } from "./config";
import { AuthenticationError, NotFoundError, toHttpError } from "./errors";
import { createPolicyEngine, type PolicyEngine } from "./policy-engine";

export interface Gateway {
  app: express.Express;
  engine: PolicyEngine;
  close(): void;
}

/** Builds the gateway's Express app and its engine client. `listen` is the caller's job. */
export function createGateway(config: GatewayConfig, logger: Logger): Gateway {
  const engine = createPolicyEngine({
    address: config.policyEngineUrl,
    timeoutMs: config.policyTimeoutMs,
    maxWaitMs: config.policyMaxWaitMs,
    logger,
  });
  const openai = new OpenAI({
    // The OpenAI client insists on a key; an OpenAI-compatible upstream without auth ignores this placeholder.
    apiKey: config.openaiApiKey ?? "no-key",
    baseURL: config.openaiUpstreamUrl,
    maxRetries: 0,
    timeout: config.upstreamTimeoutMs,
  });
  const auth = createClientAuth(config.apiKeys);
  if (!auth.enabled) logger.warn("GATEWAY_API_KEYS is empty: client authentication is OFF");
  if (config.policyFailureMode === "open") logger.warn("POLICY_FAILURE_MODE=open: calls are served without policy when the engine fails");

  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);

  app.use((_req, res, next) => {
    const callId = randomUUID();
    res.locals["callId"] = callId;
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

  const requireKey = (req: Request, res: Response, next: NextFunction): void => {
    const keyId = auth.identify(req);
    if (keyId === undefined) throw new AuthenticationError();
    res.locals["keyId"] = keyId;
    next();
  };

  app.post(
    "/v1/chat/completions",
    requireKey,
    express.json({ limit: config.bodyLimit, type: () => true }),
    createChatCompletionsHandler({ engine, openai, logger, failureMode: config.policyFailureMode, window: config.policyWindow }),
  );

  app.use((req) => {
    throw new NotFoundError(req.method, req.path);
  });
  // The error boundary: one mapping (toHttpError) for everything thrown before a response started.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const http = toHttpError(err);
    if (http.status >= 500) logger.error("request failed", { callId: res.locals["callId"] as string, status: http.status, error: (err as Error).message });
    if (res.headersSent) {
      res.end();
      return;
    }
    res.status(http.status).set(http.headers).json(http.body);
  });

  return { app, engine, close: () => engine.close() };
}
