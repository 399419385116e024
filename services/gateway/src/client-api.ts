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
import type { SseHeartbeat } from "./sse-writer";

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
  /**
   * Checks the body's shape, as far as the gateway, the engine and the converters rely on it: an object, a model,
   * messages that are objects with a role and text or content blocks, tools as a list, no nesting deeper than
   * {@link MAX_JSON_DEPTH}. Everything else goes to the provider, whose own validation answers it.
   * @throws InvalidRequestError
   */
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
  /** What a stream gets after `SSE_HEARTBEAT_MS` of silence; never seen by the validator. */
  readonly heartbeat: SseHeartbeat;
}

/**
 * The deepest JSON nesting a request may have. `JSON.stringify` (the gateway, the SDKs and the engine all use it)
 * and the format converters recurse, and V8 runs out of stack a few thousand levels down, which was a 500; real
 * requests, tool schemas included, stay far below this.
 */
export const MAX_JSON_DEPTH = 128;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
/** Unset or null: optional fields may be sent as null, and the provider decides what that means. */
const absent = (v: unknown): v is undefined | null => v === undefined || v === null;

function requireObject(body: unknown): Record<string, unknown> {
  if (!isObject(body)) throw new InvalidRequestError("the request body must be a JSON object");
  return body;
}

/** Walks the value without recursion (the point is to refuse what would overflow a recursive walk). */
function requireDepth(value: unknown, max: number): void {
  const stack: [unknown, number][] = [[value, 1]];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const [v, depth] = next;
    if (typeof v !== "object" || v === null) continue;
    if (depth > max) throw new InvalidRequestError(`the request is nested more than ${max} levels deep`);
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (typeof child === "object" && child !== null) stack.push([child, depth + 1]);
  }
}

/** A message's content: text, or a list of blocks that each say their `type`. */
function requireContent(content: unknown, at: string, nullable: boolean): void {
  if (typeof content === "string" || (nullable && absent(content))) return;
  if (!Array.isArray(content)) throw new InvalidRequestError(`\`${at}\` must be a string or an array of content blocks`);
  content.forEach((block: unknown, i) => {
    if (!isObject(block) || typeof block["type"] !== "string") throw new InvalidRequestError(`\`${at}[${i}]\` must be an object with a string \`type\``);
  });
}

/**
 * What every client API shares. OpenAI messages may leave `content` out or null (an assistant turn that only
 * calls tools); Anthropic messages may not.
 */
function requireCommon(b: Record<string, unknown>, contentNullable: boolean): { model: string; stream: boolean } {
  if (typeof b["model"] !== "string" || b["model"] === "") throw new InvalidRequestError("`model` is required and must be a string");
  const messages = b["messages"];
  if (!Array.isArray(messages)) throw new InvalidRequestError("`messages` is required and must be an array");
  if (b["stream"] !== undefined && b["stream"] !== null && typeof b["stream"] !== "boolean") throw new InvalidRequestError("`stream` must be a boolean");
  requireDepth(b, MAX_JSON_DEPTH);
  messages.forEach((m: unknown, i) => {
    if (!isObject(m)) throw new InvalidRequestError(`\`messages[${i}]\` must be an object`);
    if (typeof m["role"] !== "string") throw new InvalidRequestError(`\`messages[${i}].role\` must be a string`);
    requireContent(m["content"], `messages[${i}].content`, contentNullable);
  });
  const tools = b["tools"];
  if (!absent(tools) && (!Array.isArray(tools) || !tools.every(isObject))) throw new InvalidRequestError("`tools` must be an array of objects");
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
  validate: (body) => requireCommon(requireObject(body), true),
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
  // A comment line: every SSE parser skips it, so no chunk the guard or an SDK would check is added.
  heartbeat: { frame: ": ping\n\n" },
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
    const common = requireCommon(b, false);
    if (typeof b["max_tokens"] !== "number" || !Number.isInteger(b["max_tokens"]) || b["max_tokens"] < 1) {
      throw new InvalidRequestError("`max_tokens` is required and must be a positive integer");
    }
    if (!absent(b["system"])) requireContent(b["system"], "system", false);
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
  // Anthropic's own keepalive event, which clients ignore; it is only valid once message_start has gone out.
  heartbeat: { frame: 'event: ping\ndata: {"type": "ping"}\n\n', after: "message_start" },
};

/** Anthropic clients know Anthropic's error types; keep the provider's own when it is Anthropic, else map the status. */
function anthropicType(e: HttpError): string {
  return e.fromProvider === "anthropic" ? e.type : anthropicErrorType(e.status);
}
