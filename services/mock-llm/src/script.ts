/** One tool call the mock model makes. */
export interface MockToolCall {
  /** @default `call_mock_<call>_<i>` (OpenAI; the Responses `call_id`) or `toolu_mock_<call>_<i>` (Anthropic) */
  id?: string;
  name: string;
  /** The arguments as a JSON string. For a non-streaming Anthropic answer it must parse to a JSON object. */
  arguments: string;
  /** Stream the arguments as exactly these fragments; they must join to `arguments`. @default [arguments] */
  argumentChunks?: string[];
}

/**
 * An Anthropic thinking block, sent before the text; in the Responses API a reasoning item whose summary is the
 * text (and whose `encrypted_content` is the signature, when `include` asks for it). Chat Completions and legacy
 * Completions ignore it.
 */
export interface MockThinking {
  text: string;
  /** @default a fixed base64 string */
  signature?: string;
  /** Stream the thinking as exactly these deltas; they must join to `text`. @default one delta per word */
  chunks?: string[];
}

/**
 * What the mock model answers to one call. Every field is optional; `{}` answers {@link DEFAULT_TEXT}.
 * "Content-bearing events" (what `failAfter`/`hangAfter` count) are text, thinking and tool-argument deltas, in
 * the order they are sent.
 */
export interface MockScript {
  /**
   * The answer text. @default {@link DEFAULT_TEXT} when there are no `chunks` and no tool calls, else ""
   */
  text?: string;
  /** Stream the text as exactly these deltas (text = chunks.join("")). @default one delta per word, spaces kept */
  chunks?: string[];
  /** Tool calls, after the text, in this order (Responses: function_call items). Legacy Completions ignore them. */
  toolCalls?: MockToolCall[];
  thinking?: MockThinking;
  /**
   * Overrides OpenAI `finish_reason` / Anthropic `stop_reason`. In the Responses API `max_output_tokens` (or Chat's
   * `length`, Anthropic's `max_tokens`) and `content_filter` make the response `incomplete` with that reason; any
   * other value completes it. @default stop|tool_calls, end_turn|tool_use
   */
  finishReason?: string;
  /** @default input ≈ request bytes / 4, output ≈ answer characters / 4 (at least 1 each) */
  usage?: { inputTokens?: number; outputTokens?: number };
  /** Answer with this HTTP error before any byte, in the endpoint's own error format. */
  error?: { status: number; type?: string; message?: string };
  /** Streams only: after this many content-bearing events, send a provider error event and end the response. */
  failAfter?: number;
  /** Streams only: after this many content-bearing events, send nothing more until the client leaves. */
  hangAfter?: number;
  /** Wait this long before sending anything (headers included). */
  delayMs?: number;
  /** Streams only: wait this long before each event after the first. */
  chunkDelayMs?: number;
  /**
   * Streams only: after this many events of any kind (0 = right after the headers, before the first event), send
   * nothing for `pauseMs`, then go on. A long silence such as thinking, for heartbeat and stall tests.
   */
  pauseAfter?: number;
  /** How long the `pauseAfter` silence lasts. @default 0 */
  pauseMs?: number;
}

/** The answer when no script says otherwise. */
export const DEFAULT_TEXT = "Hello from the Luthien mock model.";

const DEFAULT_SIGNATURE = Buffer.from("luthien-mock-thinking-signature").toString("base64");

/** Thrown by {@link parseScript} when a script is malformed; the message names the offending field. */
export class ScriptError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ScriptError";
  }
}

type JsonObject = Record<string, unknown>;

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function expectObject(v: unknown, where: string, keys: readonly string[]): JsonObject {
  if (!isObject(v)) throw new ScriptError(`${where} must be an object`);
  // Unknown keys are rejected so that a typo ("failafter") fails loudly instead of scripting nothing.
  for (const k of Object.keys(v)) {
    if (!keys.includes(k)) throw new ScriptError(`${where} has unknown field ${JSON.stringify(k)}`);
  }
  return v;
}

function optString(o: JsonObject, key: string, where: string): string | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw new ScriptError(`${where}.${key} must be a string`);
  return v;
}

function optStrings(o: JsonObject, key: string, where: string): string[] | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((s): s is string => typeof s === "string")) {
    throw new ScriptError(`${where}.${key} must be an array of strings`);
  }
  return v;
}

function optCount(o: JsonObject, key: string, where: string): number | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new ScriptError(`${where}.${key} must be a non-negative integer`);
  }
  return v;
}

function checkJoin(chunks: string[] | undefined, whole: string | undefined, where: string): void {
  if (chunks !== undefined && whole !== undefined && chunks.join("") !== whole) {
    throw new ScriptError(`${where}: the chunks do not join to the full string`);
  }
}

const SCRIPT_KEYS = ["text", "chunks", "toolCalls", "thinking", "finishReason", "usage", "error", "failAfter", "hangAfter", "delayMs", "chunkDelayMs", "pauseAfter", "pauseMs"] as const;

/**
 * Validates one script from wire JSON.
 * @param where names the script in error messages, e.g. `scripts[2]`
 * @throws ScriptError naming the first bad field
 */
export function parseScript(value: unknown, where = "script"): MockScript {
  const o = expectObject(value, where, SCRIPT_KEYS);
  const script: MockScript = {};

  const text = optString(o, "text", where);
  const chunks = optStrings(o, "chunks", where);
  checkJoin(chunks, text, `${where}.chunks`);
  if (text !== undefined) script.text = text;
  if (chunks !== undefined) script.chunks = chunks;

  if (o["toolCalls"] !== undefined) {
    const calls = o["toolCalls"];
    if (!Array.isArray(calls)) throw new ScriptError(`${where}.toolCalls must be an array`);
    script.toolCalls = calls.map((c: unknown, i) => {
      const at = `${where}.toolCalls[${i}]`;
      const t = expectObject(c, at, ["id", "name", "arguments", "argumentChunks"]);
      const name = optString(t, "name", at);
      const args = optString(t, "arguments", at);
      if (name === undefined) throw new ScriptError(`${at}.name is required`);
      if (args === undefined) throw new ScriptError(`${at}.arguments is required (a JSON string)`);
      const call: MockToolCall = { name, arguments: args };
      const id = optString(t, "id", at);
      if (id !== undefined) call.id = id;
      const argumentChunks = optStrings(t, "argumentChunks", at);
      checkJoin(argumentChunks, args, `${at}.argumentChunks`);
      if (argumentChunks !== undefined) call.argumentChunks = argumentChunks;
      return call;
    });
  }

  if (o["thinking"] !== undefined) {
    const at = `${where}.thinking`;
    const t = expectObject(o["thinking"], at, ["text", "signature", "chunks"]);
    const thinkingText = optString(t, "text", at);
    if (thinkingText === undefined) throw new ScriptError(`${at}.text is required`);
    const thinking: MockThinking = { text: thinkingText };
    const signature = optString(t, "signature", at);
    if (signature !== undefined) thinking.signature = signature;
    const thinkingChunks = optStrings(t, "chunks", at);
    checkJoin(thinkingChunks, thinkingText, `${at}.chunks`);
    if (thinkingChunks !== undefined) thinking.chunks = thinkingChunks;
    script.thinking = thinking;
  }

  const finishReason = optString(o, "finishReason", where);
  if (finishReason !== undefined) script.finishReason = finishReason;

  if (o["usage"] !== undefined) {
    const at = `${where}.usage`;
    const u = expectObject(o["usage"], at, ["inputTokens", "outputTokens"]);
    const usage: NonNullable<MockScript["usage"]> = {};
    const inputTokens = optCount(u, "inputTokens", at);
    const outputTokens = optCount(u, "outputTokens", at);
    if (inputTokens !== undefined) usage.inputTokens = inputTokens;
    if (outputTokens !== undefined) usage.outputTokens = outputTokens;
    script.usage = usage;
  }

  if (o["error"] !== undefined) {
    const at = `${where}.error`;
    const e = expectObject(o["error"], at, ["status", "type", "message"]);
    const status = e["status"];
    if (typeof status !== "number" || !Number.isInteger(status) || status < 400 || status > 599) {
      throw new ScriptError(`${at}.status must be an HTTP error status (400-599)`);
    }
    const error: NonNullable<MockScript["error"]> = { status };
    const type = optString(e, "type", at);
    const message = optString(e, "message", at);
    if (type !== undefined) error.type = type;
    if (message !== undefined) error.message = message;
    script.error = error;
  }

  for (const key of ["failAfter", "hangAfter", "delayMs", "chunkDelayMs", "pauseAfter", "pauseMs"] as const) {
    const n = optCount(o, key, where);
    if (n !== undefined) script[key] = n;
  }
  return script;
}

/**
 * Validates the body of `POST /_mock/scripts`: `{ "scripts": MockScript[] }`.
 * @throws ScriptError naming the first bad script and field
 */
export function parseScriptList(value: unknown): MockScript[] {
  const o = expectObject(value, "body", ["scripts"]);
  const scripts = o["scripts"];
  if (!Array.isArray(scripts)) throw new ScriptError(`body.scripts must be an array`);
  return scripts.map((s: unknown, i) => parseScript(s, `scripts[${i}]`));
}

/**
 * Splits text into one piece per word, keeping the spaces with the following word:
 * "Hello from the" → ["Hello", " from", " the"]. Trailing whitespace stays on the last piece, so the pieces
 * always join back to the input. "" gives [].
 */
export function splitWords(text: string): string[] {
  const pieces = text.match(/\s*\S+\s*$|\s*\S+/g) ?? [];
  return pieces.length === 0 && text !== "" ? [text] : pieces;
}

/** A tool call with its id and fragments filled in. */
export interface ResolvedToolCall {
  id: string;
  name: string;
  arguments: string;
  argumentChunks: string[];
}

/** A script with every default applied; what the endpoint modules render. */
export interface ResolvedScript {
  text: string;
  textChunks: string[];
  toolCalls: ResolvedToolCall[];
  thinking: { text: string; signature: string; chunks: string[] } | undefined;
  finishReason: string | undefined;
  inputTokens: number;
  outputTokens: number;
  error: { status: number; type: string | undefined; message: string | undefined } | undefined;
  failAfter: number | undefined;
  hangAfter: number | undefined;
  delayMs: number;
  chunkDelayMs: number;
  pauseAfter: number | undefined;
  pauseMs: number;
}

/**
 * Whether an answer carries a text part (an Anthropic text block, a Responses message item): when it has text, or
 * when that part would otherwise be all that is missing from it. A tools-only answer has none.
 */
export function hasTextPart(script: ResolvedScript): boolean {
  return script.text !== "" || script.toolCalls.length === 0;
}

/** What {@link resolveScript} needs to know about the call. */
export interface ResolveOptions {
  /** The call's number, used in default tool-call ids. */
  callId: number;
  /** `call_mock_` (OpenAI) or `toolu_mock_` (Anthropic). */
  toolIdPrefix: string;
  /** Size of the request body, for the default input-token estimate. */
  requestBytes: number;
}

/** Applies the defaults documented on {@link MockScript}. */
export function resolveScript(script: MockScript, options: ResolveOptions): ResolvedScript {
  const toolCalls = (script.toolCalls ?? []).map((c, i) => ({
    id: c.id ?? `${options.toolIdPrefix}${options.callId}_${i}`,
    name: c.name,
    arguments: c.arguments,
    argumentChunks: c.argumentChunks ?? (c.arguments === "" ? [] : [c.arguments]),
  }));
  const text = script.chunks?.join("") ?? script.text ?? (toolCalls.length === 0 ? DEFAULT_TEXT : "");
  const textChunks = script.chunks ?? splitWords(text);
  const thinking =
    script.thinking === undefined
      ? undefined
      : {
          text: script.thinking.text,
          signature: script.thinking.signature ?? DEFAULT_SIGNATURE,
          chunks: script.thinking.chunks ?? splitWords(script.thinking.text),
        };
  const answerChars = text.length + (thinking?.text.length ?? 0) + toolCalls.reduce((n, c) => n + c.name.length + c.arguments.length, 0);
  return {
    text,
    textChunks,
    toolCalls,
    thinking,
    finishReason: script.finishReason,
    inputTokens: script.usage?.inputTokens ?? Math.max(1, Math.ceil(options.requestBytes / 4)),
    outputTokens: script.usage?.outputTokens ?? Math.max(1, Math.ceil(answerChars / 4)),
    error: script.error === undefined ? undefined : { status: script.error.status, type: script.error.type, message: script.error.message },
    failAfter: script.failAfter,
    hangAfter: script.hangAfter,
    delayMs: script.delayMs ?? 0,
    chunkDelayMs: script.chunkDelayMs ?? 0,
    pauseAfter: script.pauseAfter,
    pauseMs: script.pauseMs ?? 0,
  };
}
