import type { Request } from "express";
import {
  SSE_DONE,
  StreamEvent,
  anthropicErrorBody,
  anthropicErrorType,
  completionToChunks,
  messageToEvents,
  openAIErrorBody,
  responseToEvents,
  type ChatCompletion,
  type Message,
  type ResponsesResponse,
  type SseMessage,
} from "@luthien/wire";
import { InvalidRequestError, type HttpError } from "../errors";
import type { SseHeartbeat } from "./sse-writer";

/** The wire format of a client API: OpenAI Chat Completions, Anthropic Messages, or the OpenAI Responses API. */
export type ClientFormat = "openai" | "anthropic" | "responses";

/** What differs between the client APIs the gateway serves; everything else is one pipeline. */
export interface ClientApi {
  readonly format: ClientFormat;
  readonly protocolFormat: "OPENAI_CHAT" | "ANTHROPIC_MESSAGES" | "OPENAI_RESPONSES";
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
  /** The event that reports a failure after the status line went out; `last` is the last event the client got. */
  errorEvent(error: HttpError, last: SseMessage | undefined): StreamEvent;
  /** The events of a whole response, for a client that asked to stream (a policy's synthesized answer). */
  responseToEvents(body: object): StreamEvent[];
  /** What a SKIP/OBSERVE stream ends with after the provider's last event. */
  readonly terminator: readonly StreamEvent[];
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

const DONE = StreamEvent.of({ data: SSE_DONE });

/**
 * Where clients name their session, first match wins: ours, Claude Code's (v2.1.86+), Codex's (`session-id`, and
 * the older `session_id`), then the common `x-session-id`.
 */
export const SESSION_HEADERS = ["x-luthien-session-id", "x-claude-code-session-id", "session-id", "session_id", "x-session-id"] as const;
/** Longer values are cut: a session id is a label for grouping, not content. */
const MAX_SESSION_ID = 200;

/** The session a request names in a header, or "". */
export function sessionFromHeaders(req: Request): string {
  for (const name of SESSION_HEADERS) {
    const v = header(req, name).trim();
    if (v !== "") return v.slice(0, MAX_SESSION_ID);
  }
  return "";
}

export const openaiApi: ClientApi = {
  format: "openai",
  protocolFormat: "OPENAI_CHAT",
  route: "/v1/chat/completions",
  visibleHeaders: ["user-agent", "openai-organization", "openai-project", "x-request-id", ...SESSION_HEADERS],
  validate: (body) => requireCommon(requireObject(body), true),
  identity(body, req) {
    return { userId: typeof body["user"] === "string" ? body["user"] : "", sessionId: sessionFromHeaders(req) };
  },
  errorBody: (e) => openAIErrorBody(e.type, e.message, e.code),
  errorEvent: (e) => StreamEvent.fromJson(undefined, openAIErrorBody(e.type, e.message, e.code)),
  responseToEvents: (body) => [...completionToChunks(body as ChatCompletion).map((c) => StreamEvent.fromJson(undefined, c)), DONE],
  terminator: [DONE],
  // A comment line: every SSE parser skips it, so no chunk the guard or an SDK would check is added.
  heartbeat: { frame: ": ping\n\n" },
};

/**
 * Claude Code puts the session in `metadata.user_id`: a JSON object with `session_id` (current versions) or
 * `user_<hash>_account_<uuid>_session_<uuid>` (older ones).
 */
function claudeSession(userField: string): string {
  if (userField.startsWith("{")) {
    try {
      const id = (JSON.parse(userField) as { session_id?: unknown }).session_id;
      return typeof id === "string" ? id.slice(0, MAX_SESSION_ID) : "";
    } catch {
      return "";
    }
  }
  const m = /session_([0-9a-f-]{8,})/i.exec(userField);
  return m?.[1] ?? "";
}

export const anthropicApi: ClientApi = {
  format: "anthropic",
  protocolFormat: "ANTHROPIC_MESSAGES",
  route: "/v1/messages",
  visibleHeaders: ["user-agent", "anthropic-version", "anthropic-beta", "x-app", ...SESSION_HEADERS],
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
    const fromHeader = sessionFromHeaders(req);
    return { userId: userField, sessionId: fromHeader !== "" ? fromHeader : claudeSession(userField) };
  },
  errorBody: (e) => anthropicErrorBody(anthropicType(e), e.message),
  errorEvent: (e) => StreamEvent.fromJson("error", anthropicErrorBody(anthropicType(e), e.message)),
  responseToEvents: (body) => messageToEvents(body as Message).map((e) => StreamEvent.fromJson(e.type, e)),
  terminator: [],
  // Anthropic's own keepalive event, which clients ignore; it is only valid once message_start has gone out.
  heartbeat: { frame: 'event: ping\ndata: {"type": "ping"}\n\n', after: "message_start" },
};

/**
 * Our error types an Anthropic client sees as they are: the SDKs classify errors by status, and a spent budget must
 * be told apart from a rate limit (both 429) without parsing the message.
 */
const OWN_ANTHROPIC_TYPES = new Set(["budget_exceeded"]);

/** Anthropic clients know Anthropic's error types; keep the provider's own when it is Anthropic, else map the status. */
function anthropicType(e: HttpError): string {
  return e.fromProvider === "anthropic" || OWN_ANTHROPIC_TYPES.has(e.type) ? e.type : anthropicErrorType(e.status);
}

/**
 * What the gateway cannot serve statelessly: each would put content the policies never saw into the model's
 * context (a stored conversation, a stored prompt template, a stored item) or fetch the answer later, outside the
 * response policies (background mode).
 */
const STATEFUL_RESPONSES_FIELDS: readonly { field: string; set(v: unknown): boolean; why: string }[] = [
  { field: "previous_response_id", set: (v) => !absent(v), why: "it continues a conversation stored at the provider, which the policies cannot see; send the whole conversation in `input`" },
  { field: "conversation", set: (v) => !absent(v), why: "it continues a conversation stored at the provider, which the policies cannot see; send the whole conversation in `input`" },
  { field: "prompt", set: (v) => !absent(v), why: "a stored prompt template adds content the policies cannot see; send the instructions and input themselves" },
  { field: "background", set: (v) => v === true, why: "a background response is fetched later, outside the response policies; call without `background`" },
];

function requireResponsesInput(input: unknown): void {
  if (typeof input === "string" || absent(input)) return;
  if (!Array.isArray(input)) throw new InvalidRequestError("`input` must be a string or an array of input items");
  input.forEach((item: unknown, i) => {
    if (!isObject(item)) throw new InvalidRequestError(`\`input[${i}]\` must be an object`);
    const type = item["type"];
    if (type !== undefined && typeof type !== "string") throw new InvalidRequestError(`\`input[${i}].type\` must be a string`);
    if (type === "item_reference") {
      throw new InvalidRequestError(
        `\`input[${i}]\` is an item_reference, which this gateway does not serve: the referenced item is stored at the provider, where the policies cannot see it; send the item itself`,
      );
    }
    if (type === undefined || type === "message") {
      if (typeof item["role"] !== "string") throw new InvalidRequestError(`\`input[${i}].role\` must be a string`);
      requireContent(item["content"], `input[${i}].content`, false);
    }
  });
}

export const responsesApi: ClientApi = {
  format: "responses",
  protocolFormat: "OPENAI_RESPONSES",
  route: "/v1/responses",
  visibleHeaders: openaiApi.visibleHeaders,
  validate(body) {
    const b = requireObject(body);
    if (typeof b["model"] !== "string" || b["model"] === "") throw new InvalidRequestError("`model` is required and must be a string");
    if (!absent(b["stream"]) && typeof b["stream"] !== "boolean") throw new InvalidRequestError("`stream` must be a boolean");
    requireDepth(b, MAX_JSON_DEPTH);
    for (const { field, set, why } of STATEFUL_RESPONSES_FIELDS) {
      if (set(b[field])) throw new InvalidRequestError(`\`${field}\` is not supported by this gateway: ${why}`);
    }
    requireResponsesInput(b["input"]);
    if (!absent(b["instructions"]) && typeof b["instructions"] !== "string") throw new InvalidRequestError("`instructions` must be a string");
    const tools = b["tools"];
    if (!absent(tools) && (!Array.isArray(tools) || !tools.every(isObject))) throw new InvalidRequestError("`tools` must be an array of objects");
    return { model: b["model"], stream: b["stream"] === true };
  },
  identity(body, req) {
    const user = typeof body["user"] === "string" ? body["user"] : typeof body["safety_identifier"] === "string" ? body["safety_identifier"] : "";
    return { userId: user, sessionId: sessionFromHeaders(req) };
  },
  errorBody: openaiApi.errorBody,
  // openai-node throws on any event whose data has `error`; the AI SDK and the Agents SDK read the `error` event's
  // own fields. Both are here, numbered after the last event sent.
  errorEvent(e, last) {
    const event = {
      type: "error",
      code: e.code ?? e.type,
      message: e.message,
      param: null,
      sequence_number: nextSequenceNumber(last),
      error: { type: e.type, code: e.code, message: e.message, param: null },
    };
    return StreamEvent.fromJson("error", event);
  },
  responseToEvents: (body) => responseToEvents(body as ResponsesResponse).map((e) => StreamEvent.fromJson(e.type, e)),
  terminator: [],
  heartbeat: openaiApi.heartbeat,
};

function nextSequenceNumber(last: SseMessage | undefined): number {
  if (last === undefined) return 0;
  try {
    const n = (JSON.parse(last.data) as { sequence_number?: unknown }).sequence_number;
    return typeof n === "number" ? n + 1 : 0;
  } catch {
    return 0;
  }
}

/**
 * Whether a request that names no client API of its own (a 404, a passthrough route, a refused credential) speaks
 * Anthropic's: an `anthropic-version` header, or a path under `/v1/messages`.
 */
export function looksLikeAnthropic(req: Request, path: string = req.path): boolean {
  return req.headers["anthropic-version"] !== undefined || path.toLowerCase().startsWith("/v1/messages");
}

/** The client APIs whose calls the policies decide, by route. */
export const CLIENT_APIS: readonly ClientApi[] = [openaiApi, anthropicApi, responsesApi];
