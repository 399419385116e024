import type { ChatCompletion, ChatCompletionChunk, ChatCompletionCreateParams, ChatCompletionMessageParam } from "@luthien/wire";
import { asText, startWalk, textRole, type TextRole, type VisitCarrier, type Walk } from "./carriers";

/**
 * The one text walker of OpenAI Chat Completions: every carrier of a request, a completion and a stream chunk.
 * Written from the SDK's types: the switches over part and tool kinds are exhaustive, and the field tables below
 * classify every field of the SDK's request, message and delta types, so a field the SDK adds is a type error here
 * until someone says whether it carries text.
 */

type Kind = "text" | "none";
type MessageOf<R extends ChatCompletionMessageParam["role"]> = Extract<ChatCompletionMessageParam, { role: R }>;
type Completion = ChatCompletion["choices"][number]["message"];
type Delta = ChatCompletionChunk.Choice.Delta;

// Tripwires (type-checked, never read): the fields of each SDK type, classified.
const REQUEST_FIELDS = {
  messages: "text",
  functions: "text",
  tools: "text",
  prediction: "text",
  response_format: "text",
  metadata: "text",
  model: "none",
  audio: "none",
  frequency_penalty: "none",
  function_call: "none",
  logit_bias: "none",
  logprobs: "none",
  max_completion_tokens: "none",
  max_tokens: "none",
  modalities: "none",
  moderation: "none",
  n: "none",
  parallel_tool_calls: "none",
  presence_penalty: "none",
  prompt_cache_key: "none",
  prompt_cache_options: "none",
  prompt_cache_retention: "none",
  reasoning_effort: "none",
  safety_identifier: "none",
  seed: "none",
  service_tier: "none",
  stop: "none",
  store: "none",
  stream: "none",
  stream_options: "none",
  temperature: "none",
  tool_choice: "none",
  top_logprobs: "none",
  top_p: "none",
  user: "none",
  verbosity: "none",
  web_search_options: "none",
} as const satisfies Record<keyof ChatCompletionCreateParams, Kind>;
const MESSAGE_FIELDS = {
  system: { content: "text", name: "text", role: "none" } satisfies Record<keyof MessageOf<"system">, Kind>,
  developer: { content: "text", name: "text", role: "none" } satisfies Record<keyof MessageOf<"developer">, Kind>,
  user: { content: "text", name: "text", role: "none" } satisfies Record<keyof MessageOf<"user">, Kind>,
  assistant: {
    content: "text",
    refusal: "text",
    name: "text",
    tool_calls: "text",
    function_call: "text",
    audio: "none",
    role: "none",
  } satisfies Record<keyof MessageOf<"assistant">, Kind>,
  tool: { content: "text", tool_call_id: "none", role: "none" } satisfies Record<keyof MessageOf<"tool">, Kind>,
  function: { content: "text", name: "text", role: "none" } satisfies Record<keyof MessageOf<"function">, Kind>,
} as const satisfies Record<ChatCompletionMessageParam["role"], unknown>;
const COMPLETION_FIELDS = {
  content: "text",
  refusal: "text",
  annotations: "text",
  audio: "text",
  function_call: "text",
  tool_calls: "text",
  role: "none",
} as const satisfies Record<keyof Completion, Kind>;
void [REQUEST_FIELDS, MESSAGE_FIELDS, COMPLETION_FIELDS];

/**
 * What providers add beyond the SDK's types, read as text all the same: `reasoning_content` (DeepSeek, vLLM,
 * llama.cpp), `reasoning` (OpenRouter, newer vLLM), and a delta's `audio` (openai-node joins `audio.transcript`).
 */
interface ProviderExtras {
  reasoning_content?: string | null;
  reasoning?: string | null;
}
type LooseDelta = Delta & ProviderExtras & { audio?: { transcript?: string | null } | null };
type LooseCompletion = Completion & ProviderExtras;

/**
 * The text streams of a delta, each its own stream per choice: content, refusal, provider reasoning, the audio
 * transcript. The SDK's own delta fields are classified here (`role`, tool calls and function calls carry no
 * stream text), so a delta field the SDK adds is a type error.
 */
const DELTA_FIELDS = {
  content: "text",
  refusal: "text",
  role: "none",
  tool_calls: "call",
  function_call: "call",
} as const satisfies Record<keyof Delta, Kind | "call">;
void DELTA_FIELDS;
export const DELTA_TEXT_FIELDS = ["content", "refusal", "reasoning_content", "reasoning", "audio.transcript"] as const;
export type DeltaTextField = (typeof DELTA_TEXT_FIELDS)[number];

/** The text a delta has in `field` (undefined when it has none). */
export function deltaText(delta: Delta, field: DeltaTextField): string | undefined {
  const d = delta as LooseDelta;
  const value = field === "audio.transcript" ? d.audio?.transcript : d[field];
  return typeof value === "string" ? value : undefined;
}

/** `delta` with `text` in `field`. */
export function withDeltaText(delta: Delta, field: DeltaTextField, text: string): Delta {
  const d = delta as LooseDelta;
  if (field === "audio.transcript") return { ...d, audio: { ...(d.audio ?? {}), transcript: text } } as Delta;
  return { ...d, [field]: text } as Delta;
}

/**
 * Every carrier of a Chat Completions request, in order: per message its content (a string or parts: `text`,
 * `refusal`; image URLs that are not data URLs and file names are read), the assistant's `refusal`, and what it
 * called earlier (`tool_calls` names and arguments, custom tool inputs, the legacy `function_call`, read), the
 * message `name` (read); then `prediction.content`, `metadata` values, tool and legacy function definitions (name,
 * description, parameters schema, custom grammar: read, role system) and a JSON schema response format (read).
 * Returns the same body when nothing changed.
 */
export function mapOpenAIRequest(body: ChatCompletionCreateParams, visit: VisitCarrier): ChatCompletionCreateParams {
  const { walk, changed } = startWalk(visit);
  const out: ChatCompletionCreateParams = { ...body, messages: body.messages.map((m, i) => mapMessage(m, `messages[${i}]`, walk)) };
  if (body.prediction !== undefined && body.prediction !== null) {
    const { content } = body.prediction;
    out.prediction = { ...body.prediction, content: typeof content === "string" ? walk(content, "prediction.content", "user") : mapTextParts(content, "prediction.content", "user", walk) };
  }
  if (body.metadata !== undefined && body.metadata !== null) {
    out.metadata = Object.fromEntries(Object.entries(body.metadata).map(([k, v]) => [k, walk(v, `metadata.${k}`, "user")]));
  }
  for (const [i, t] of (body.tools ?? []).entries()) {
    const at = `tools[${i}]`;
    switch (t.type) {
      case "function":
        readFunction(t.function, `${at}.function`, walk);
        break;
      case "custom": {
        walk(t.custom.name, `${at}.custom.name`, "system", "read");
        if (t.custom.description !== undefined) walk(t.custom.description, `${at}.custom.description`, "system", "read");
        const format = t.custom.format;
        if (format?.type === "grammar") walk(format.grammar.definition, `${at}.custom.format.grammar.definition`, "system", "read");
        break;
      }
      default: {
        const unknown: never = t;
        throw new Error(`unknown Chat Completions tool ${JSON.stringify(unknown)}`);
      }
    }
  }
  for (const [i, f] of (body.functions ?? []).entries()) readFunction(f, `functions[${i}]`, walk);
  const format = body.response_format;
  if (format?.type === "json_schema") {
    const at = "response_format.json_schema";
    walk(format.json_schema.name, `${at}.name`, "system", "read");
    if (format.json_schema.description !== undefined) walk(format.json_schema.description, `${at}.description`, "system", "read");
    if (format.json_schema.schema !== undefined) walk(asText(format.json_schema.schema), `${at}.schema`, "system", "read");
  }
  return changed() ? out : body;
}

function readFunction(f: { name: string; description?: string; parameters?: unknown }, at: string, walk: Walk): void {
  walk(f.name, `${at}.name`, "system", "read");
  if (f.description !== undefined) walk(f.description, `${at}.description`, "system", "read");
  if (f.parameters !== undefined) walk(asText(f.parameters), `${at}.parameters`, "system", "read");
}

type TextPart = { type: "text"; text: string };

function mapTextParts<P extends TextPart>(parts: P[], at: string, role: TextRole, walk: Walk): P[] {
  return parts.map((p, j) => (p.type === "text" && typeof p.text === "string" ? { ...p, text: walk(p.text, `${at}[${j}]`, role) } : (mapLooseParts([p], at, role, walk)[0] as P)));
}

/**
 * Parts of kinds the SDK does not type (providers and clients send them: `input_text`, Mistral's `thinking` parts
 * with nested text, ...): their `text` and `refusal` strings are written, nested part lists walked, so no text
 * passes unseen whatever the kind is called.
 */
export function mapLooseParts(parts: readonly unknown[], at: string, role: TextRole, walk: Walk): unknown[] {
  return parts.map((raw, j) => {
    if (typeof raw !== "object" || raw === null) return raw;
    const p = { ...(raw as Record<string, unknown>) };
    for (const [k, v] of Object.entries(p)) {
      if ((k === "text" || k === "refusal") && typeof v === "string") p[k] = walk(v, `${at}[${j}]${k === "text" ? "" : ".refusal"}`, role);
      else if (Array.isArray(v)) p[k] = mapLooseParts(v, `${at}[${j}].${k}`, role, walk);
    }
    return p;
  });
}

function mapMessage(m: ChatCompletionMessageParam, at: string, walk: Walk): ChatCompletionMessageParam {
  const role = textRole(m.role);
  const name = (n: string | undefined): void => void (n !== undefined && walk(n, `${at}.name`, role, "read"));
  switch (m.role) {
    case "system":
    case "developer":
    case "tool": {
      if (m.role !== "tool") name(m.name);
      const content = typeof m.content === "string" ? walk(m.content, `${at}.content`, role) : mapTextParts(m.content, `${at}.content`, role, walk);
      return { ...m, content } as ChatCompletionMessageParam;
    }
    case "function":
      name(m.name);
      return m.content === null ? m : { ...m, content: walk(m.content, `${at}.content`, role) };
    case "user": {
      name(m.name);
      if (typeof m.content === "string") return { ...m, content: walk(m.content, `${at}.content`, role) };
      const content = m.content.map((p, j): typeof p => {
        const where = `${at}.content[${j}]`;
        switch (p.type) {
          case "text":
            return { ...p, text: walk(p.text, where, role) };
          case "image_url":
            // A URL can carry a token in its query; a data URL is the image itself.
            if (!p.image_url.url.startsWith("data:")) walk(p.image_url.url, `${where}.image_url.url`, role, "read");
            return p;
          case "file":
            if (p.file.filename !== undefined) walk(p.file.filename, `${where}.file.filename`, role, "read");
            return p;
          case "input_audio":
            return p;
          default: {
            const unknown: never = p;
            return mapLooseParts([unknown], `${at}.content`, role, walk)[0] as typeof p;
          }
        }
      });
      return { ...m, content };
    }
    case "assistant": {
      name(m.name);
      const next = { ...m };
      if (typeof m.content === "string") next.content = walk(m.content, `${at}.content`, role);
      else if (m.content !== undefined && m.content !== null) {
        next.content = m.content.map((p, j): typeof p => {
          const where = `${at}.content[${j}]`;
          switch (p.type) {
            case "text":
              return { ...p, text: walk(p.text, where, role) };
            case "refusal":
              return { ...p, refusal: walk(p.refusal, where, role) };
            default: {
              const unknown: never = p;
              return mapLooseParts([unknown], `${at}.content`, role, walk)[0] as typeof p;
            }
          }
        });
      }
      if (typeof m.refusal === "string") next.refusal = walk(m.refusal, `${at}.refusal`, role);
      readCalls(m, at, walk);
      return next;
    }
    default: {
      const unknown: never = m;
      throw new Error(`unknown Chat Completions message ${JSON.stringify(unknown)}`);
    }
  }
}

/** What an assistant message called (read: rewriting it would change what the call did). */
function readCalls(m: { tool_calls?: Completion["tool_calls"]; function_call?: { name: string; arguments: string } | null }, at: string, walk: Walk): void {
  for (const [k, tc] of (m.tool_calls ?? []).entries()) {
    const where = `${at}.tool_calls[${k}]`;
    switch (tc.type) {
      case "function":
        walk(tc.function.name, `${where}.function.name`, "assistant", "read");
        walk(tc.function.arguments, `${where}.function.arguments`, "assistant", "read");
        break;
      case "custom":
        walk(tc.custom.name, `${where}.custom.name`, "assistant", "read");
        walk(tc.custom.input, `${where}.custom.input`, "assistant", "read");
        break;
      default: {
        const unknown: never = tc;
        throw new Error(`unknown Chat Completions tool call ${JSON.stringify(unknown)}`);
      }
    }
  }
  if (m.function_call !== undefined && m.function_call !== null) {
    walk(m.function_call.name, `${at}.function_call.name`, "assistant", "read");
    walk(m.function_call.arguments, `${at}.function_call.arguments`, "assistant", "read");
  }
}

type Logprobs = NonNullable<ChatCompletion["choices"][number]["logprobs"]>;

/** Whether the visitor would change the text a choice's logprobs spell (content tokens, refusal tokens). */
function logprobsDropped(lp: Logprobs | null | undefined, at: string, dropped: (text: string, where: string, role: TextRole) => boolean): boolean {
  if (lp === undefined || lp === null) return false;
  let drop = false;
  for (const key of ["content", "refusal"] as const) {
    const tokens = lp[key];
    if (tokens === null || tokens === undefined || tokens.length === 0) continue;
    if (dropped(tokens.map((t) => t.token).join(""), `${at}.logprobs.${key}`, "assistant")) drop = true;
  }
  return drop;
}

/**
 * Every carrier of a completion, per choice: `content`, `refusal`, provider reasoning (`reasoning_content`,
 * `reasoning`), `audio.transcript` and annotation titles (written); annotation URLs, tool calls and the legacy
 * `function_call` (read); and the logprobs token lists (dropped — `logprobs: null` — when the visitor would change
 * the text they spell while the choice's content and refusal stay: where those change, the chain's logprobs guard
 * drops them). Returns the same body when nothing changed.
 */
export function mapOpenAICompletion(body: ChatCompletion, visit: VisitCarrier): ChatCompletion {
  const { walk, dropped, changed } = startWalk(visit);
  const choices = body.choices.map((choice, i) => {
    const at = `choices[${i}]`;
    const m = choice.message as LooseCompletion;
    const where = `${at}.message`;
    const message: LooseCompletion = { ...m };
    const content: unknown = m.content;
    if (typeof content === "string") message.content = walk(content, `${where}.content`, "assistant");
    // Some providers answer with content as a list of parts.
    else if (Array.isArray(content)) message.content = mapLooseParts(content, `${where}.content`, "assistant", walk) as unknown as string;
    if (typeof m.refusal === "string") message.refusal = walk(m.refusal, `${where}.refusal`, "assistant");
    if (typeof m.reasoning_content === "string") message.reasoning_content = walk(m.reasoning_content, `${where}.reasoning_content`, "assistant");
    if (typeof m.reasoning === "string") message.reasoning = walk(m.reasoning, `${where}.reasoning`, "assistant");
    if (m.audio !== undefined && m.audio !== null && typeof m.audio.transcript === "string") {
      message.audio = { ...m.audio, transcript: walk(m.audio.transcript, `${where}.audio.transcript`, "assistant") };
    }
    if (m.annotations !== undefined) {
      message.annotations = m.annotations.map((a, k) => {
        walk(a.url_citation.url, `${where}.annotations[${k}].url_citation.url`, "assistant", "read");
        return { ...a, url_citation: { ...a.url_citation, title: walk(a.url_citation.title, `${where}.annotations[${k}].url_citation.title`, "assistant") } };
      });
    }
    readCalls(m, where, walk);
    // Logprobs of a choice whose content or refusal changed are the chain's to drop (it reports it); here they are
    // read for what they spell when that text stayed the same.
    const drop = message.content === m.content && message.refusal === m.refusal && logprobsDropped(choice.logprobs, at, dropped);
    return { ...choice, message, ...(drop ? { logprobs: null } : {}) };
  });
  return changed() ? { ...body, choices } : body;
}

/**
 * Every carrier of a stream chunk, per choice: the delta's text streams ({@link DELTA_TEXT_FIELDS}, written),
 * tool-call names and argument fragments and the legacy `function_call` (read), and the logprobs token lists
 * (dropped when the visitor would change them). Each piece is seen on its own: a text policy that must see text
 * across chunks keeps its own streams (see `createTextPolicy`).
 */
export function mapOpenAIChunk(chunk: ChatCompletionChunk, visit: VisitCarrier): ChatCompletionChunk {
  const { walk, dropped, changed } = startWalk(visit);
  const choices = chunk.choices.map((choice, i) => {
    const at = `choices[${i}]`;
    let delta = choice.delta;
    for (const field of DELTA_TEXT_FIELDS) {
      const text = deltaText(delta, field);
      if (text === undefined) continue;
      const next = walk(text, `${at}.delta.${field}`, "assistant");
      if (next !== text) delta = withDeltaText(delta, field, next);
    }
    const parts: unknown = choice.delta.content;
    if (Array.isArray(parts)) delta = { ...delta, content: mapLooseParts(parts, `${at}.delta.content`, "assistant", walk) as unknown as string };
    for (const [k, tc] of (choice.delta.tool_calls ?? []).entries()) {
      const where = `${at}.delta.tool_calls[${k}].function`;
      if (typeof tc.function?.name === "string") walk(tc.function.name, `${where}.name`, "assistant", "read");
      if (typeof tc.function?.arguments === "string") walk(tc.function.arguments, `${where}.arguments`, "assistant", "read");
    }
    const fc = choice.delta.function_call;
    if (typeof fc?.name === "string") walk(fc.name, `${at}.delta.function_call.name`, "assistant", "read");
    if (typeof fc?.arguments === "string") walk(fc.arguments, `${at}.delta.function_call.arguments`, "assistant", "read");
    const drop =
      deltaText(delta, "content") === deltaText(choice.delta, "content") &&
      deltaText(delta, "refusal") === deltaText(choice.delta, "refusal") &&
      logprobsDropped(choice.logprobs, at, dropped);
    return { ...choice, delta, ...(drop ? { logprobs: null } : {}) };
  });
  return changed() ? { ...chunk, choices } : chunk;
}
