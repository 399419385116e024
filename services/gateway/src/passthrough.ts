import { Readable } from "node:stream";
import type { Request, Response } from "express";
import type { Logger } from "@luthien/runtime";
import type { CallAuth } from "./auth";
import { ClientGoneError, InvalidRequestError, NotFoundError, UpstreamTimeoutError, UpstreamUnreachableError } from "./errors";
import type { ProviderConfig, Routing } from "./routing";
import type { SecretRedactor } from "./secrets";

/** Request headers a passthrough call forwards; everything else (cookies, client credentials) stays here. */
const FORWARD_REQUEST = ["content-type", "accept", "anthropic-version", "anthropic-beta", "user-agent"];
/** Response headers passed back to the client. */
const FORWARD_RESPONSE = ["content-type", "request-id", "x-request-id", "retry-after", "anthropic-organization-id"];
/** Provider error bodies are read whole to redact echoed credentials; a larger one is cut here (errors are small). */
const MAX_ERROR_BODY_BYTES = 1024 * 1024;

/**
 * Other `/v1/*` routes (`/v1/messages/count_tokens`, `/v1/models`, ...) go to the provider as they are, with the
 * same auth as policy-checked calls but **no policy**. Anthropic-looking requests (an `anthropic-version` header, or
 * a `/v1/messages...` path) go to the `anthropic` provider, the rest to `openai`. The target is always the
 * provider's own host under `/v1/`: a path that normalises elsewhere (`..`, `%2e%2e`) is refused.
 */
export function createPassthroughHandler(options: { routing: Routing; logger: Logger; timeoutMs: number; secrets: SecretRedactor }) {
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
    // Error bodies may echo the credential the provider was sent (the server's own key, in client_key mode), and
    // a client may put a key in the path; neither reaches an answer or a log line.
    const redact = (text: string): string => options.secrets.redact(text, credential.kind === "server" ? [] : [credential.value]);
    const logged = (status: number) => ({ callId: res.locals["callId"] as string, method: req.method, path: redact(target.pathname), status });
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
    }, options.timeoutMs);
    try {
      const hasBody = req.method !== "GET" && req.method !== "HEAD";
      if (hasBody && !Buffer.isBuffer(req.body)) throw new InvalidRequestError("the request body could not be read");
      const upstream = await fetch(target, {
        method: req.method,
        headers,
        signal: abort.signal,
        ...(hasBody ? { body: req.body as Buffer } : {}),
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
        return;
      }
      if (upstream.status >= 400) {
        res.send(Buffer.from(redact((await readCapped(upstream.body, MAX_ERROR_BODY_BYTES)).toString("utf8"))));
        options.logger.info("passthrough", logged(upstream.status));
        return;
      }
      await new Promise<void>((resolve, reject) => {
        Readable.fromWeb(upstream.body as import("node:stream/web").ReadableStream).on("error", reject).pipe(res).on("finish", resolve).on("close", resolve);
      });
      options.logger.info("passthrough", logged(upstream.status));
    } finally {
      clearTimeout(timer);
    }
  };
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
