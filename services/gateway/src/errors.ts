import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from "openai";
import { StreamProtocolError, openAIErrorBody, type OpenAIErrorBody } from "@luthien/wire";

/** Base of every error the gateway turns into an HTTP answer; `status` and `type` are what the client sees. */
export abstract class GatewayError extends Error {
  abstract readonly status: number;
  abstract readonly type: string;
}

/** The client's request is malformed (bad JSON, missing fields). */
export class InvalidRequestError extends GatewayError {
  readonly status: number;
  readonly type = "invalid_request_error";
  constructor(message: string, status = 400) {
    super(message);
    this.name = "InvalidRequestError";
    this.status = status;
  }
}

/** No key, or a key that is not one of `GATEWAY_API_KEYS`. */
export class AuthenticationError extends GatewayError {
  readonly status = 401;
  readonly type = "authentication_error";
  constructor() {
    super("invalid or missing API key");
    this.name = "AuthenticationError";
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

/** The client went away; nothing is written. */
export class ClientGoneError extends Error {
  constructor() {
    super("client disconnected");
    this.name = "ClientGoneError";
  }
}

export interface HttpError {
  status: number;
  body: OpenAIErrorBody;
  headers: Record<string, string>;
}

/**
 * The one place where failures become HTTP answers (OpenAI error format). Provider errors keep their status and
 * error body, so a 429 stays a 429 the client can retry; anything unknown is a 500 without internals.
 */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof GatewayError) {
    return { status: err.status, body: openAIErrorBody(err.type, err.message), headers: {} };
  }
  if (err instanceof APIUserAbortError) {
    return { status: 499, body: openAIErrorBody("client_closed_request", "the client closed the request"), headers: {} };
  }
  if (err instanceof APIConnectionTimeoutError) {
    return { status: 504, body: openAIErrorBody("upstream_timeout", "the provider did not answer in time"), headers: {} };
  }
  if (err instanceof APIConnectionError) {
    return { status: 502, body: openAIErrorBody("upstream_unavailable", "the provider could not be reached"), headers: {} };
  }
  if (err instanceof APIError) {
    const status = err.status ?? 502;
    const upstream = err.error as { message?: unknown; type?: unknown; code?: unknown } | undefined;
    const body = openAIErrorBody(
      typeof upstream?.type === "string" ? upstream.type : "upstream_error",
      typeof upstream?.message === "string" ? upstream.message : `the provider answered ${status}`,
      typeof upstream?.code === "string" ? upstream.code : null,
    );
    const headers: Record<string, string> = {};
    const retryAfter = err.headers?.get("retry-after");
    if (retryAfter !== undefined && retryAfter !== null) headers["retry-after"] = retryAfter;
    return { status, body, headers };
  }
  if (err instanceof StreamProtocolError) {
    return { status: 502, body: openAIErrorBody("policy_stream_invalid", `the policy produced an invalid stream: ${err.message}`), headers: {} };
  }
  const parserError = err as { type?: unknown; status?: unknown };
  if (parserError.type === "entity.parse.failed") {
    return { status: 400, body: openAIErrorBody("invalid_request_error", "the request body is not valid JSON"), headers: {} };
  }
  if (parserError.type === "entity.too.large") {
    return { status: 413, body: openAIErrorBody("invalid_request_error", "the request body is too large"), headers: {} };
  }
  if (typeof parserError.status === "number" && parserError.status >= 400 && parserError.status < 500) {
    return { status: parserError.status, body: openAIErrorBody("invalid_request_error", "the request could not be read"), headers: {} };
  }
  return { status: 500, body: openAIErrorBody("internal_error", "internal gateway error"), headers: {} };
}
