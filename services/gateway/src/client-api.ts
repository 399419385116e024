import type { Request } from "express";
import {
  SSE_DONE,
  anthropicErrorBody,
  anthropicErrorType,
  completionToChunks,
  createAnthropicStreamBuilder,
  createAnthropicStreamValidator,
  createOpenAIStreamGuard,
  messageToEvents,
  openAIErrorBody,
  type AnthropicStreamEvent,
  type ChatCompletion,
  type ChatCompletionChunk,
  type Message,
  type SseMessage,
} from "@luthien/wire";
import { InvalidRequestError, type HttpError } from "./errors";
import type { ProviderFormat } from "./routing";

/**
 * Turns the events policies emitted into what may reach the client: checked (OpenAI) or rebuilt so it is valid by
 * construction (Anthropic). Throws StreamProtocolError when it cannot.
 */
export interface StreamStage {
  push(message: SseMessage): SseMessage[];
  /** At a clean end: whatever completes the stream, including the format's terminator. */
  end(): SseMessage[];
}

/** What differs between the client APIs the gateway serves; everything else is one pipeline. */
export interface ClientApi {
  readonly format: ProviderFormat;
  readonly protocolFormat: "OPENAI_CHAT" | "ANTHROPIC_MESSAGES";
  readonly route: string;
  /** Request headers policies may see. Credentials and cookies never leave the gateway. */
  readonly visibleHeaders: readonly string[];
  /** Checks the body's shape. @throws InvalidRequestError */
  validate(body: unknown): { model: string; stream: boolean };
  /** The caller's user and session ids, as the client's conventions carry them. */
  identity(body: Record<string, unknown>, req: Request): { userId: string; sessionId: string };
  errorBody(error: HttpError): object;
  /** The event that reports a failure after the status line went out. */
  errorEvent(error: HttpError): SseMessage;
  createStage(): StreamStage;
  /**
   * Checks every event that leaves for the client, whatever the mode (a SKIP stream is the provider's own).
   * @throws StreamProtocolError on the first event that breaks the format's rules
   */
  createValidator(): (message: SseMessage) => void;
  /** The events of a whole response, for a client that asked to stream (a policy's synthesized answer). */
  responseToEvents(body: object): SseMessage[];
  /** What a SKIP/OBSERVE stream ends with after the provider's last event. */
  readonly terminator: SseMessage[];
}

function requireObject(body: unknown): Record<string, unknown> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new InvalidRequestError("the request body must be a JSON object");
  return body as Record<string, unknown>;
}

function requireCommon(b: Record<string, unknown>): { model: string; stream: boolean } {
  if (typeof b["model"] !== "string" || b["model"] === "") throw new InvalidRequestError("`model` is required and must be a string");
  if (!Array.isArray(b["messages"])) throw new InvalidRequestError("`messages` is required and must be an array");
  if (b["stream"] !== undefined && b["stream"] !== null && typeof b["stream"] !== "boolean") throw new InvalidRequestError("`stream` must be a boolean");
  return { model: b["model"], stream: b["stream"] === true };
}

const header = (req: Request, name: string): string => {
  const v = req.headers[name];
  return typeof v === "string" ? v : "";
};

export const openaiApi: ClientApi = {
  format: "openai",
  protocolFormat: "OPENAI_CHAT",
  route: "/v1/chat/completions",
  visibleHeaders: ["user-agent", "openai-organization", "openai-project", "x-request-id", "x-session-id"],
  validate: (body) => requireCommon(requireObject(body)),
  identity(body, req) {
    return { userId: typeof body["user"] === "string" ? body["user"] : "", sessionId: header(req, "x-session-id") };
  },
  errorBody: (e) => openAIErrorBody(e.type, e.message, e.code),
  errorEvent: (e) => ({ data: JSON.stringify(openAIErrorBody(e.type, e.message, e.code)) }),
  createStage() {
    const guard = createOpenAIStreamGuard();
    return {
      push(m) {
        guard.check(JSON.parse(m.data) as ChatCompletionChunk);
        return [{ data: m.data }];
      },
      end: () => [{ data: SSE_DONE }],
    };
  },
  createValidator() {
    const guard = createOpenAIStreamGuard();
    return (m) => {
      if (m.data !== SSE_DONE) guard.check(JSON.parse(m.data) as ChatCompletionChunk);
    };
  },
  responseToEvents: (body) => [...completionToChunks(body as ChatCompletion).map((c) => ({ data: JSON.stringify(c) })), { data: SSE_DONE }],
  terminator: [{ data: SSE_DONE }],
};

/**
 * Claude Code puts the session in `metadata.user_id` (`user_<hash>_account_<uuid>_session_<uuid>`, or that as
 * JSON); OAuth clients send `x-session-id`.
 */
function claudeSession(userField: string): string {
  const m = /session_([0-9a-f-]{8,})/i.exec(userField);
  return m?.[1] ?? "";
}

export const anthropicApi: ClientApi = {
  format: "anthropic",
  protocolFormat: "ANTHROPIC_MESSAGES",
  route: "/v1/messages",
  visibleHeaders: ["user-agent", "anthropic-version", "anthropic-beta", "x-session-id", "x-app"],
  validate(body) {
    const b = requireObject(body);
    const common = requireCommon(b);
    if (typeof b["max_tokens"] !== "number" || !Number.isInteger(b["max_tokens"]) || b["max_tokens"] < 1) {
      throw new InvalidRequestError("`max_tokens` is required and must be a positive integer");
    }
    return common;
  },
  identity(body, req) {
    const meta = body["metadata"] as { user_id?: unknown } | undefined;
    const userField = typeof meta?.user_id === "string" ? meta.user_id : "";
    const fromHeader = header(req, "x-session-id");
    return { userId: userField, sessionId: fromHeader !== "" ? fromHeader : claudeSession(userField) };
  },
  errorBody: (e) => anthropicErrorBody(anthropicType(e), e.message),
  errorEvent: (e) => ({ event: "error", data: JSON.stringify(anthropicErrorBody(anthropicType(e), e.message)) }),
  createStage() {
    const builder = createAnthropicStreamBuilder();
    const toSse = (events: AnthropicStreamEvent[]): SseMessage[] => events.map((e) => ({ event: e.type, data: JSON.stringify(e) }));
    return {
      push: (m) => toSse(builder.push(JSON.parse(m.data) as AnthropicStreamEvent)),
      end: () => toSse(builder.end()),
    };
  },
  createValidator() {
    const validator = createAnthropicStreamValidator();
    return (m) => validator.check(JSON.parse(m.data) as AnthropicStreamEvent);
  },
  responseToEvents: (body) => messageToEvents(body as Message).map((e) => ({ event: e.type, data: JSON.stringify(e) })),
  terminator: [],
};

/** Anthropic clients know Anthropic's error types; keep the provider's own when it is Anthropic, else map the status. */
function anthropicType(e: HttpError): string {
  return e.fromProvider === "anthropic" ? e.type : anthropicErrorType(e.status);
}
