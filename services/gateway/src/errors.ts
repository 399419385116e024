import * as Anthropic from "@anthropic-ai/sdk";
import * as OpenAI from "openai";
import { ConversionError, StreamProtocolError } from "@luthien/wire";

/** Base of every error the gateway turns into an HTTP answer; `status` and `type` are what the client sees. */
export abstract class GatewayError extends Error {
  abstract readonly status: number;
  abstract readonly type: string;
  /** Headers the answer carries (`retry-after`). */
  readonly headers: Record<string, string> = {};
}

/** The client's request is malformed (bad JSON, missing fields). */
export class InvalidRequestError extends GatewayError {
  readonly status: number;
  readonly type = "invalid_request_error";
  constructor(message: string, status = 400, options?: ErrorOptions) {
    super(message, options);
    this.name = "InvalidRequestError";
    this.status = status;
  }
}

/** No key, a key that is not a gateway key, or one revoked, expired or used beyond its scope. Never echoes the key. */
export class AuthenticationError extends GatewayError {
  readonly status = 401;
  readonly type = "authentication_error";
  constructor(message = "invalid or missing API key") {
    super(message);
    this.name = "AuthenticationError";
  }
}

/** A valid gateway key asked for what its scope does not allow (a model, a route, more tokens). */
export class PermissionError extends GatewayError {
  readonly status = 403;
  readonly type = "permission_error";
  constructor(message: string) {
    super(message);
    this.name = "PermissionError";
  }
}

/**
 * A virtual key was presented while the gateway's key directory cannot vouch for it (not loaded yet, or cut off from
 * the store past its grace): refused, since it could have been revoked meanwhile. Retryable.
 */
export class KeyStoreUnavailableError extends GatewayError {
  readonly status = 503;
  readonly type = "key_store_unavailable";
  constructor() {
    super("the gateway cannot check virtual keys right now (its key store is unreachable); retry shortly");
    this.name = "KeyStoreUnavailableError";
    this.headers["retry-after"] = "1";
  }
}

/** A key's rate limit is used up for now: 429, with `retry-after`, before any engine or provider call. */
export class RateLimitedError extends GatewayError {
  readonly status = 429;
  readonly type = "rate_limit_error";
  constructor(limit: string, retryAfterS: number) {
    super(`rate limit reached for this key (${limit}); retry after ${retryAfterS} s`);
    this.name = "RateLimitedError";
    this.headers["retry-after"] = String(retryAfterS);
  }
}

/** A key's spend budget (per day or month) is used up: 429 with `retry-after` until the next UTC day or month. */
export class BudgetExceededError extends GatewayError {
  readonly status = 429;
  readonly type = "budget_exceeded";
  constructor(budget: string, retryAfterS: number) {
    super(`spend budget reached for this key (${budget})`);
    this.name = "BudgetExceededError";
    this.headers["retry-after"] = String(retryAfterS);
  }
}

/** The limit store failed and LIMITS_ON_STORE_ERROR=deny (the default): the call is refused, retryable. */
export class LimitStoreUnavailableError extends GatewayError {
  readonly status = 503;
  readonly type = "rate_limiter_unavailable";
  constructor() {
    super("the gateway cannot check this key's limits right now; retry shortly");
    this.name = "LimitStoreUnavailableError";
    this.headers["retry-after"] = "1";
  }
}

/** No such route. */
export class NotFoundError extends GatewayError {
  readonly status = 404;
  readonly type = "not_found_error";
  constructor(method: string, path: string) {
    super(`no route for ${method} ${path}`);
    this.name = "NotFoundError";
  }
}

/**
 * A route outside the decided and harmless classes (see route-classes.ts) that no operator let through: its content
 * would reach the provider without policy.
 */
export class RouteRefusedError extends GatewayError {
  readonly status = 404;
  readonly type = "not_found_error";
  /** `message` names the route, why it is refused and how to allow it (route-classes.ts `refusal`). */
  constructor(message: string) {
    super(message);
    this.name = "RouteRefusedError";
  }
}

/**
 * The policy engine could not decide: unreachable, erroring, closing the stream early, speaking another protocol
 * version. The call fails closed. `reason` is a short token (also used for the bypass header in fail-open mode).
 */
export class PolicyUnavailableError extends GatewayError {
  readonly status = 503;
  readonly type = "policy_unavailable";
  constructor(
    readonly reason: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "PolicyUnavailableError";
  }
}

/**
 * A policy threw while deciding the call (the engine answered `policy_error`). Unlike an outage this is never served
 * without policy, not even in a pool that fails open: a client or provider could craft the input that makes a policy
 * throw. The call fails closed.
 */
export class PolicyFailedError extends GatewayError {
  readonly status = 502;
  readonly type = "policy_failed";
  constructor(message: string) {
    super(message);
    this.name = "PolicyFailedError";
  }
}

/**
 * The fail-open rule, in one place: only an engine outage (unreachable, erroring, timing out) in a pool whose
 * failure mode is `open` may be served without policy. A policy that failed, a denial, or anything else never is.
 */
export function servableWithoutPolicy(err: unknown, failureMode: "closed" | "open"): err is PolicyUnavailableError | PolicyTimeoutError {
  return failureMode === "open" && (err instanceof PolicyUnavailableError || err instanceof PolicyTimeoutError);
}

/** The engine did not answer a verdict within `POLICY_TIMEOUT_MS` (plus keepalive extensions). */
export class PolicyTimeoutError extends GatewayError {
  readonly status = 504;
  readonly type = "policy_timeout";
  readonly reason = "timeout";
  constructor(message: string) {
    super(message);
    this.name = "PolicyTimeoutError";
  }
}

/** A policy refused the call (or its response). */
export class PolicyDeniedError extends GatewayError {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
    this.name = "PolicyDeniedError";
  }
}

/**
 * The call ran past `GATEWAY_MAX_CALL_MS`. The provider request and the engine stream were stopped; the client gets
 * a 504, or an error event when the stream had started.
 */
export class CallTimeoutError extends GatewayError {
  readonly status = 504;
  readonly type = "call_timeout";
  constructor(limitMs: number) {
    super(`the call exceeded the gateway's limit of ${limitMs} ms`);
    this.name = "CallTimeoutError";
  }
}

/** A provider could not be reached (passthrough routes; SDK calls report their own connection errors). */
export class UpstreamUnreachableError extends GatewayError {
  readonly status = 502;
  readonly type = "upstream_unavailable";
  constructor(options?: ErrorOptions) {
    super("the provider could not be reached", options);
    this.name = "UpstreamUnreachableError";
  }
}

/** A provider answered 2xx with a body that is not what its API sends (not JSON, not an object). */
export class UpstreamInvalidResponseError extends GatewayError {
  readonly status = 502;
  readonly type = "upstream_invalid_response";
  constructor(options?: ErrorOptions) {
    super("the provider's answer could not be read", options);
    this.name = "UpstreamInvalidResponseError";
  }
}

/** A provider did not answer within `UPSTREAM_TIMEOUT_MS` (passthrough routes; SDK calls report their own). */
export class UpstreamTimeoutError extends GatewayError {
  readonly status = 504;
  readonly type = "upstream_timeout";
  constructor(options?: ErrorOptions) {
    super("the provider did not answer in time", options);
    this.name = "UpstreamTimeoutError";
  }
}

/** A request body over MAX_BODY_BYTES. */
export class RequestTooLargeError extends GatewayError {
  readonly status = 413;
  readonly type = "request_too_large";
  constructor(limit: number) {
    super(`the request body is larger than ${limit} bytes`);
    this.name = "RequestTooLargeError";
  }
}

/** The client went away; nothing is written. */
export class ClientGoneError extends Error {
  constructor() {
    super("client disconnected");
    this.name = "ClientGoneError";
  }
}

/** A failure as the client will see it, before it is rendered in the client's format. */
export interface HttpError {
  status: number;
  /** An error type: ours (`policy_unavailable`), or the provider's own when it sent one. */
  type: string;
  message: string;
  code: string | null;
  headers: Record<string, string>;
  /** The body came from the provider, in the provider's wire format. */
  fromProvider?: "openai" | "anthropic";
}

/** The `status`, `error` and `headers` every provider SDK error carries. */
interface ProviderApiError {
  status: number | undefined;
  error: unknown;
  headers: Headers | undefined;
}

export interface ToHttpErrorOptions {
  /**
   * Applied to every text of the answer: provider messages may echo a credential. @default text unchanged
   */
  redact?: (text: string) => string;
}

/** Errors Node's HTTP parser reports (`clientError`) before there is a request to route, by `code`. */
const CLIENT_ERRORS: Record<string, { status: number; type: string; message: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, type: "request_headers_too_large", message: "the request headers are too large" },
  HPE_CHUNK_EXTENSIONS_OVERFLOW: { status: 413, type: "request_too_large", message: "the request's chunk extensions are too large" },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, type: "request_timeout", message: "the request was not received in time" },
};

/**
 * The one place where failures become HTTP answers; each client API renders the result in its own format.
 * Provider errors keep their status and error type, so a 429 or 529 stays retryable for the client; anything
 * unknown is a 500 without internals. Errors of Node's HTTP parser (`HPE_*`, request timeouts) map to 4xx.
 */
export function toHttpError(err: unknown, options: ToHttpErrorOptions = {}): HttpError {
  const http = mapError(err);
  const redact = options.redact;
  if (redact === undefined) return http;
  return { ...http, type: redact(http.type), message: redact(http.message), code: http.code === null ? null : redact(http.code) };
}

function mapError(err: unknown): HttpError {
  const make = (status: number, type: string, message: string, code: string | null = null): HttpError => ({ status, type, message, code, headers: {} });
  if (err instanceof GatewayError) return { ...make(err.status, err.type, err.message), headers: { ...err.headers } };
  if (err instanceof ConversionError) return make(400, "invalid_request_error", err.message);
  if (err instanceof StreamProtocolError) return make(502, "policy_stream_invalid", `the policy produced an invalid stream: ${err.message}`);
  if (err instanceof ClientGoneError || err instanceof OpenAI.APIUserAbortError || err instanceof Anthropic.APIUserAbortError) {
    return make(499, "client_closed_request", "the client closed the request");
  }
  if (err instanceof OpenAI.APIConnectionTimeoutError || err instanceof Anthropic.APIConnectionTimeoutError) {
    return make(504, "upstream_timeout", "the provider did not answer in time");
  }
  if (err instanceof OpenAI.APIConnectionError || err instanceof Anthropic.APIConnectionError) {
    return make(502, "upstream_unavailable", "the provider could not be reached");
  }
  const provider = err instanceof OpenAI.APIError ? "openai" : err instanceof Anthropic.APIError ? "anthropic" : undefined;
  if (provider !== undefined) {
    const e = err as ProviderApiError;
    const status = e.status ?? 502;
    // OpenAI sends {error: {message, type, code}}; Anthropic sends {type: "error", error: {type, message}}.
    const body = (e.error ?? {}) as { error?: unknown; message?: unknown; type?: unknown; code?: unknown };
    const inner = (provider === "anthropic" && typeof body.error === "object" && body.error !== null ? body.error : body) as typeof body;
    const http = make(
      status,
      typeof inner.type === "string" && inner.type !== "error" ? inner.type : "upstream_error",
      typeof inner.message === "string" ? inner.message : `the provider answered ${status}`,
      typeof inner.code === "string" ? inner.code : null,
    );
    http.fromProvider = provider;
    for (const name of ["retry-after", "x-should-retry"]) {
      const v = e.headers?.get(name);
      if (v !== undefined && v !== null) http.headers[name] = v;
    }
    return http;
  }
  const parserError = err as { type?: unknown; status?: unknown; code?: unknown };
  if (typeof parserError.code === "string") {
    const known = CLIENT_ERRORS[parserError.code];
    if (known !== undefined) return make(known.status, known.type, known.message);
    if (parserError.code.startsWith("HPE_")) return make(400, "invalid_request_error", "the request could not be parsed");
  }
  if (parserError.type === "entity.parse.failed") return make(400, "invalid_request_error", "the request body is not valid JSON");
  if (parserError.type === "entity.too.large") return make(413, "request_too_large", "the request body is too large");
  if (typeof parserError.status === "number" && parserError.status >= 400 && parserError.status < 500) {
    return make(parserError.status, "invalid_request_error", "the request could not be read");
  }
  return make(500, "internal_error", "internal gateway error");
}
