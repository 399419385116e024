import { Readable } from "node:stream";
import type { Request, Response } from "express";
import type { Logger } from "@luthien/runtime";
import { createCallActivity, type ActivitySink } from "../activity";
import type { UpstreamCredential } from "../identity/auth";
import { ClientGoneError, InvalidRequestError, RouteRefusedError, UpstreamTimeoutError, UpstreamUnreachableError } from "../errors";
import type { GatewayMetrics } from "../metrics";
import { classifyPassthrough, normalisePath, refusal } from "./route-classes";
import type { ProviderConfig, Routing } from "../upstream/routing";
import { callLocals } from "../locals";
import type { SecretRedactor } from "../identity/secrets";
import { looksLikeAnthropic } from "../formats/client-api";
import { providerAuthHeaders } from "../upstream/provider-client";

/** Request headers a forwarded call carries; everything else (cookies, client credentials) stays here. */
const FORWARD_REQUEST = ["content-type", "accept", "anthropic-version", "anthropic-beta", "user-agent"];
/** Response headers passed back to the client. */
const FORWARD_RESPONSE = ["content-type", "request-id", "x-request-id", "retry-after", "anthropic-organization-id"];
/** Provider error bodies are read whole to redact echoed credentials; a larger one is cut here (errors are small). */
const MAX_ERROR_BODY_BYTES = 1024 * 1024;

/** The reason a call on an operator's unchecked route is marked with (header, event, metric). */
export const UNCHECKED_ROUTE = "unchecked-route";

export interface PassthroughOptions {
  routing: Routing;
  logger: Logger;
  timeoutMs: number;
  secrets: SecretRedactor;
  activity: ActivitySink;
  metrics: Pick<GatewayMetrics, "bypassed">;
}

/** Anthropic-looking requests (an `anthropic-version` header, or a `/v1/messages...` path) go to `anthropic`. */
export function passthroughProvider(routing: Routing, req: Request, path: string): ProviderConfig {
  return routing.providers.get(looksLikeAnthropic(req, path) ? "anthropic" : "openai") as ProviderConfig;
}

/**
 * Every `/v1/*` route no decided handler took. Its normalised path decides its class (route-classes.ts): harmless
 * routes go to the provider as they are, with the same auth as decided calls; routes an operator opted into go
 * through unchecked and marked; everything else is refused. What is forwarded is the normalised path, so the
 * provider resolves exactly the path that was classified.
 */
export function createPassthroughHandler(options: PassthroughOptions) {
  return async (req: Request, res: Response): Promise<void> => {
    const path = normalisePath(req.path);
    const routeClass = classifyPassthrough(req.method, path, options.routing.uncheckedRoutes);
    if (routeClass.kind === "refused" || path === undefined) {
      throw new RouteRefusedError(refusal(req.method, req.path, routeClass.kind === "refused" ? routeClass.reason : "its path does not normalise"));
    }
    const hasBody = req.method !== "GET" && req.method !== "HEAD";
    if (hasBody && !Buffer.isBuffer(req.body)) throw new InvalidRequestError("the request body could not be read");
    const auth = callLocals(res).auth;
    const query = req.originalUrl.includes("?") ? req.originalUrl.slice(req.originalUrl.indexOf("?")) : "";
    const provider = passthroughProvider(options.routing, req, path);
    if (routeClass.kind === "harmless") {
      await forwardToProvider({ ...options, req, res, provider, path: path + query, body: hasBody ? (req.body as Buffer) : undefined, credential: auth.credential });
      return;
    }
    // Unchecked, as the operator allowed: served, and marked like a fail-open bypass so the monitor shows it.
    const callId = res.locals.call.id;
    const activity = createCallActivity({ sink: options.activity, callId, format: provider.format, chunkEvents: false });
    activity.started({ model: "", stream: false, route: path, keyId: auth.keyId, owner: auth.owner, format: provider.format, provider: provider.name });
    activity.bypassed(UNCHECKED_ROUTE, `${req.method} ${path} is an unchecked route (uncheckedRoutes ${routeClass.route.path})`, "route");
    options.metrics.bypassed(UNCHECKED_ROUTE);
    res.set("x-luthien-policy-bypassed", UNCHECKED_ROUTE);
    let status = 502;
    try {
      status = await forwardToProvider({ ...options, req, res, provider, path: path + query, body: hasBody ? (req.body as Buffer) : undefined, credential: auth.credential });
    } finally {
      activity.ended({ status: res.headersSent ? res.statusCode : status, outcome: "ok" });
    }
  };
}

export interface ForwardOptions {
  req: Request;
  res: Response;
  provider: ProviderConfig;
  /** The normalised path under `/v1/`, with its query string. */
  path: string;
  body: Buffer | undefined;
  credential: UpstreamCredential;
  logger: Logger;
  timeoutMs: number;
  secrets: SecretRedactor;
}

/**
 * Sends one request to the provider's own host under `/v1/` and pipes its answer back: the status, a few headers,
 * the body (error bodies redacted of any credential they echo). Resolves with the provider's status.
 */
export async function forwardToProvider(o: ForwardOptions): Promise<number> {
  const { req, res, provider, credential } = o;
  const base = new URL(provider.baseUrl.replace(/\/v1\/?$/, "").replace(/\/$/, "") + "/");
  const target = new URL(o.path.replace(/^\/+/, ""), base);
  if (target.origin !== base.origin || !target.pathname.startsWith(`${base.pathname}v1/`))
    throw new RouteRefusedError(refusal(req.method, req.path, "it resolves outside the provider's /v1/"));

  const headers = new Headers();
  for (const name of FORWARD_REQUEST) {
    const v = req.headers[name];
    if (typeof v === "string") headers.set(name, v);
  }
  // Error bodies may echo the credential the provider was sent (the server's own key, in client_key mode), and
  // a client may put a key in the path; neither reaches an answer or a log line.
  const redact = o.secrets.forCaller(credential);
  const logged = (status: number) => ({ callId: res.locals.call.id, method: req.method, path: redact(target.pathname), status });
  for (const [name, value] of Object.entries(providerAuthHeaders(provider, credential))) headers.set(name, value);

  // Why the provider request was stopped: a client that left is no provider failure (and no 502 to log).
  let stopped: "client" | "timeout" | undefined;
  const abort = new AbortController();
  res.on("close", () => {
    if (!res.writableFinished) stopped ??= "client";
    abort.abort();
  });
  const timer = setTimeout(() => {
    stopped ??= "timeout";
    abort.abort();
  }, o.timeoutMs);
  try {
    const upstream = await fetch(target, {
      method: req.method,
      headers,
      signal: abort.signal,
      ...(o.body !== undefined ? { body: o.body } : {}),
    }).catch((err: unknown) => {
      if (stopped === "client") throw new ClientGoneError();
      if (stopped === "timeout") throw new UpstreamTimeoutError({ cause: err });
      throw new UpstreamUnreachableError({ cause: err });
    });
    res.status(upstream.status);
    for (const name of FORWARD_RESPONSE) {
      const v = upstream.headers.get(name);
      if (v !== null) res.set(name, v);
    }
    if (upstream.body === null) {
      res.end();
      return upstream.status;
    }
    if (upstream.status >= 400) {
      res.send(Buffer.from(redact((await readCapped(upstream.body, MAX_ERROR_BODY_BYTES)).toString("utf8"))));
      o.logger.info("passthrough", logged(upstream.status));
      return upstream.status;
    }
    await new Promise<void>((resolve, reject) => {
      Readable.fromWeb(upstream.body as import("node:stream/web").ReadableStream)
        .on("error", reject)
        .pipe(res)
        .on("finish", resolve)
        .on("close", resolve);
    });
    o.logger.info("passthrough", logged(upstream.status));
    return upstream.status;
  } finally {
    clearTimeout(timer);
  }
}

/** The first `max` bytes of a body; the rest is not read. */
async function readCapped(body: ReadableStream<Uint8Array>, max: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  const reader = body.getReader();
  try {
    while (size < max) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(Buffer.from(value));
      size += value.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(parts).subarray(0, max);
}
