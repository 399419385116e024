import { Readable } from "node:stream";
import type { Request, Response } from "express";
import type { Logger } from "@luthien/runtime";
import type { CallAuth } from "./auth";
import { InvalidRequestError, NotFoundError, UpstreamUnreachableError } from "./errors";
import type { ProviderConfig, Routing } from "./routing";

/** Request headers a passthrough call forwards; everything else (cookies, client credentials) stays here. */
const FORWARD_REQUEST = ["content-type", "accept", "anthropic-version", "anthropic-beta", "user-agent"];
/** Response headers passed back to the client. */
const FORWARD_RESPONSE = ["content-type", "request-id", "x-request-id", "retry-after", "anthropic-organization-id"];

/**
 * Other `/v1/*` routes (`/v1/messages/count_tokens`, `/v1/models`, ...) go to the provider as they are, with the
 * same auth as policy-checked calls but **no policy**. Anthropic-looking requests (an `anthropic-version` header, or
 * a `/v1/messages...` path) go to the `anthropic` provider, the rest to `openai`. The target is always the
 * provider's own host under `/v1/`: a path that normalises elsewhere (`..`, `%2e%2e`) is refused.
 */
export function createPassthroughHandler(options: { routing: Routing; logger: Logger; timeoutMs: number }) {
  return async (req: Request, res: Response): Promise<void> => {
    const anthropic = req.headers["anthropic-version"] !== undefined || req.path.startsWith("/v1/messages");
    const provider = options.routing.providers.get(anthropic ? "anthropic" : "openai") as ProviderConfig;
    const base = new URL(provider.baseUrl.replace(/\/v1\/?$/, "").replace(/\/$/, "") + "/");
    const target = new URL(req.originalUrl.replace(/^\/+/, ""), base);
    if (target.origin !== base.origin || !target.pathname.startsWith(`${base.pathname}v1/`)) throw new NotFoundError(req.method, req.path);

    const headers = new Headers();
    for (const name of FORWARD_REQUEST) {
      const v = req.headers[name];
      if (typeof v === "string") headers.set(name, v);
    }
    const { credential } = res.locals["auth"] as CallAuth;
    if (credential.kind === "server") {
      if (provider.apiKey !== undefined) {
        if (provider.format === "anthropic") headers.set("x-api-key", provider.apiKey);
        else headers.set("authorization", `Bearer ${provider.apiKey}`);
      }
    } else if (credential.kind === "api-key" && provider.format === "anthropic") {
      headers.set("x-api-key", credential.value);
    } else {
      headers.set("authorization", `Bearer ${credential.value}`);
    }

    const abort = new AbortController();
    res.on("close", () => abort.abort());
    const timer = setTimeout(() => abort.abort(), options.timeoutMs);
    try {
      const hasBody = req.method !== "GET" && req.method !== "HEAD";
      if (hasBody && !Buffer.isBuffer(req.body)) throw new InvalidRequestError("the request body could not be read");
      const upstream = await fetch(target, {
        method: req.method,
        headers,
        signal: abort.signal,
        ...(hasBody ? { body: req.body as Buffer } : {}),
      }).catch((err: unknown) => {
        throw new UpstreamUnreachableError({ cause: err });
      });
      res.status(upstream.status);
      for (const name of FORWARD_RESPONSE) {
        const v = upstream.headers.get(name);
        if (v !== null) res.set(name, v);
      }
      if (upstream.body === null) {
        res.end();
        return;
      }
      await new Promise<void>((resolve, reject) => {
        Readable.fromWeb(upstream.body as import("node:stream/web").ReadableStream).on("error", reject).pipe(res).on("finish", resolve).on("close", resolve);
      });
      options.logger.info("passthrough", { callId: res.locals["callId"] as string, method: req.method, path: target.pathname, status: upstream.status });
    } finally {
      clearTimeout(timer);
    }
  };
}
