import type { AnthropicStreamEvent, ChatCompletionChunk, ChatCompletionMessageParam, MessageParam, ResponsesResponse, ResponsesStreamEvent } from "@luthien/wire";
import { responsesEventKind } from "./internal/responses-events";
import { mapResponsesRequest } from "./internal/responses-request";
import { mapMessageText, retext, withOutput, type OutputItem } from "./internal/responses-output";
import type { Policy, PolicyContext, PolicyEvent, PolicyRequest, PolicyResponse } from "./policy";

/**
 * Transforms one text stream (one choice's content, or one text block). `push` takes the next piece and returns
 * what may be sent now; it may hold back a tail that could still change (a possible prefix of a match). `end`
 * returns whatever is held. For a whole text, `push(text) + end()` is the answer.
 */
export interface TextStreamTransformer {
  push(text: string): string;
  end(): string;
}

/** A transformer without hold-back: `map` applies to each piece on its own. */
export function mapText(map: (text: string) => string): TextStreamTransformer {
  return { push: map, end: () => "" };
}

export type TextTarget = "request" | "response" | "both";

/** Where a transformer works, so it can report what it did. */
export interface TextScope {
  side: "request" | "response";
  /** The call's context (without the text policy's own state): info, `emit`, `keepalive`. */
  ctx: Omit<PolicyContext<unknown>, "state">;
}

export interface TextPolicyOptions {
  name: string;
  /**
   * Called once per text stream: per choice, text block or Responses `output_text` part of a response, per text of a
   * request.
   */
  createTransformer(scope: TextScope): TextStreamTransformer;
  /** Which side's text to transform. @default "response" */
  applyTo?: TextTarget;
  /**
   * Activity action emitted (once per side and call) when the text changed: `request_<action>`,
   * `response_<action>`; `null` emits nothing (for policies that emit their own events from the transformer).
   * @default "modified"
   */
  action?: string | null;
}

/** A Responses `output_text` part being streamed. */
interface ResponsesPart {
  t: TextStreamTransformer;
  itemId: string;
  outputIndex: number;
  contentIndex: number;
  /** The text in and out so far. */
  textIn: string;
  textOut: string;
}

interface TextState {
  /** Open text streams: OpenAI choice index, or Anthropic block index. */
  transformers: Map<number, TextStreamTransformer>;
  /** Responses: open output_text parts by `item_id:content_index`. */
  parts: Map<string, ResponsesPart>;
  /** Responses: the text of every part that ended, by `item_id:content_index`, for the done events and the final response. */
  finals: Map<string, string>;
  /** The last OpenAI chunk seen, the template for a chunk carrying text released at the end of the stream. */
  last: ChatCompletionChunk | undefined;
  /** All text in and out, to tell at the end whether anything changed. */
  textIn: string;
  textOut: string;
}

/**
 * A policy that rewrites assistant text (and/or request text) through a text transformer, in every client format,
 * streaming or not. Tool calls, thinking (reasoning), refusals, roles and stop reasons pass untouched; held-back text
 * is released before the text's end (OpenAI: before the choice's finish_reason or a tool call; Anthropic: before the
 * block's stop; Responses: before the part's `response.output_text.done`), so a replacement split across deltas
 * still matches.
 *
 * Responses streams: one transformer per `output_text` part (item id, content index) over its deltas; the part's
 * transformed text then replaces the original wherever the stream repeats it — `response.output_text.done`,
 * `response.content_part.done`, `response.output_item.done` and the final response of `response.completed`,
 * `response.incomplete` or `response.failed` — so clients that read deltas, done events or only the final response
 * all see the same text. A part whose text changed loses its logprobs (they would spell the original tokens).
 * Request side (Responses): instructions, prompt variables, the input string, message text parts and tool outputs.
 */
export function createTextPolicy(options: TextPolicyOptions): Policy<TextState> {
  const applyTo = options.applyTo ?? "response";
  const onResponseSide = applyTo !== "request";
  const action = options.action === undefined ? "modified" : options.action;
  const changed = (ctx: PolicyContext<TextState>, side: "request" | "response"): void => {
    if (action !== null) ctx.emit(`${side}_${action}`);
  };
  const runner = (ctx: PolicyContext<TextState>, side: "request" | "response") => (text: string): string => {
    const t = options.createTransformer({ side, ctx });
    return t.push(text) + t.end();
  };
  const transformerFor = (ctx: PolicyContext<TextState>, index: number): TextStreamTransformer => {
    let t = ctx.state.transformers.get(index);
    if (t === undefined) {
      t = options.createTransformer({ side: "response", ctx });
      ctx.state.transformers.set(index, t);
    }
    return t;
  };
  return {
    name: options.name,
    mode: onResponseSide ? "FULL" : "SKIP",
    createState: () => ({ transformers: new Map(), parts: new Map(), finals: new Map(), last: undefined, textIn: "", textOut: "" }),
    onRequest(request, ctx) {
      if (applyTo === "response") return request;
      const next = transformRequest(request, runner(ctx, "request"));
      if (next !== request) changed(ctx, "request");
      return next;
    },
    onResponse(response, ctx) {
      if (!onResponseSide) return response;
      const next = transformResponse(response, runner(ctx, "response"));
      if (next !== response) changed(ctx, "response");
      return next;
    },
    onEvent(event, ctx) {
      if (!onResponseSide) return [event];
      switch (event.format) {
        case "openai":
          return onOpenAIChunk(event.chunk, ctx, transformerFor);
        case "anthropic":
          return onAnthropicEvent(event.event, ctx, transformerFor);
        case "responses":
          return onResponsesEvent(event.event, ctx, (c) => options.createTransformer({ side: "response", ctx: c }), runner(ctx, "response")).map((e) => ({ format: "responses", event: e }));
        default: {
          const unknown: never = event;
          throw new Error(`unknown event format ${JSON.stringify(unknown)}`);
        }
      }
    },
    onStreamEnd(ctx) {
      const { state } = ctx;
      const out: PolicyEvent[] = [];
      // Responses parts still open (the stream ended without their done events): release what they hold.
      for (const key of [...state.parts.keys()]) {
        for (const e of closePart(state, key, 0)) out.push({ format: "responses", event: e });
      }
      for (const [index, t] of state.transformers) {
        const rest = t.end();
        state.textOut += rest;
        if (rest === "") continue;
        if (ctx.format === "anthropic") {
          out.push({ format: "anthropic", event: { type: "content_block_delta", index, delta: { type: "text_delta", text: rest } } });
        } else if (state.last !== undefined) {
          const { id, created, model, object } = state.last;
          out.push({ format: "openai", chunk: { id, created, model, object, choices: [{ index, delta: { content: rest }, finish_reason: null, logprobs: null }] } });
        }
      }
      state.transformers.clear();
      if (state.textOut !== state.textIn) changed(ctx, "response");
      return out;
    },
  };
}

type TransformerFor = (ctx: PolicyContext<TextState>, index: number) => TextStreamTransformer;

function onOpenAIChunk(chunk: ChatCompletionChunk, ctx: PolicyContext<TextState>, transformerFor: TransformerFor): PolicyEvent[] {
  const { state } = ctx;
  state.last = chunk;
  let dropped = false;
  const choices = chunk.choices.map((choice) => {
    const t = transformerFor(ctx, choice.index);
    const original = choice.delta.content;
    let content = typeof original === "string" ? t.push(original) : "";
    const ending = choice.finish_reason !== null && choice.finish_reason !== undefined;
    // Text must not trail a tool call or follow the finish: release what is held first.
    if (ending || choice.delta.tool_calls !== undefined) content += t.end();
    state.textIn += original ?? "";
    state.textOut += content;
    if (content === (original ?? "")) return choice;
    if (content === "" && Object.keys(choice.delta).every((k) => k === "content") && !ending) dropped = true;
    return { ...choice, delta: { ...choice.delta, content } };
  });
  if (dropped && chunk.choices.length === 1 && chunk.usage === undefined) return [];
  return [{ format: "openai", chunk: { ...chunk, choices } }];
}

function onAnthropicEvent(event: AnthropicStreamEvent, ctx: PolicyContext<TextState>, transformerFor: TransformerFor): PolicyEvent[] {
  const { state } = ctx;
  const wrap = (e: AnthropicStreamEvent): PolicyEvent => ({ format: "anthropic", event: e });
  switch (event.type) {
    case "content_block_start": {
      if (event.content_block.type !== "text") return [wrap(event)];
      const t = transformerFor(ctx, event.index);
      const original = event.content_block.text;
      if (original === "") return [wrap(event)];
      const text = t.push(original);
      state.textIn += original;
      state.textOut += text;
      return [wrap({ ...event, content_block: { ...event.content_block, text } })];
    }
    case "content_block_delta": {
      if (event.delta.type !== "text_delta") return [wrap(event)];
      const original = event.delta.text;
      const text = transformerFor(ctx, event.index).push(original);
      state.textIn += original;
      state.textOut += text;
      if (text === "") return [];
      return [wrap({ ...event, delta: { ...event.delta, text } })];
    }
    case "content_block_stop": {
      const t = state.transformers.get(event.index);
      if (t === undefined) return [wrap(event)];
      state.transformers.delete(event.index);
      const rest = t.end();
      state.textOut += rest;
      if (rest === "") return [wrap(event)];
      return [wrap({ type: "content_block_delta", index: event.index, delta: { type: "text_delta", text: rest } }), wrap(event)];
    }
    default:
      return [wrap(event)];
  }
}

type MakeTransformer = (ctx: PolicyContext<TextState>) => TextStreamTransformer;

const partKey = (itemId: string, contentIndex: number): string => `${itemId}:${contentIndex}`;

/** Ends an open Responses part: its final text is recorded, and what it still held goes out as one more delta. */
function closePart(state: TextState, key: string, sequenceNumber: number): ResponsesStreamEvent[] {
  const p = state.parts.get(key);
  if (p === undefined) return [];
  state.parts.delete(key);
  const rest = p.t.end();
  p.textOut += rest;
  state.textOut += rest;
  state.finals.set(key, p.textOut);
  if (rest === "") return [];
  return [
    {
      type: "response.output_text.delta",
      item_id: p.itemId,
      output_index: p.outputIndex,
      content_index: p.contentIndex,
      delta: rest,
      logprobs: [],
      sequence_number: sequenceNumber,
    },
  ];
}

/** Maps the text of every output_text part of a response's messages; the same body when nothing changed. */
function mapResponseText(body: ResponsesResponse, textFor: (itemId: string, contentIndex: number, text: string) => string): ResponsesResponse {
  let changed = false;
  const output = body.output.map((item): OutputItem => {
    if (item.type !== "message") return item;
    const next = mapMessageText(item, (part, j) => retext(part, textFor(item.id, j, part.text)));
    if (next !== item) changed = true;
    return next;
  });
  return changed ? withOutput(body, output) : body;
}

function onResponsesEvent(event: ResponsesStreamEvent, ctx: PolicyContext<TextState>, make: MakeTransformer, runWhole: (t: string) => string): ResponsesStreamEvent[] {
  const { state } = ctx;
  const seq = event.sequence_number;
  const open = (itemId: string, outputIndex: number, contentIndex: number): ResponsesPart => {
    const key = partKey(itemId, contentIndex);
    let p = state.parts.get(key);
    if (p === undefined) {
      // More text for a part the stream already finished: which text would the client keep? Fail closed.
      if (state.finals.has(key)) throw new Error(`text for output_text part ${key} after its done event`);
      p = { t: make(ctx), itemId, outputIndex, contentIndex, textIn: "", textOut: "" };
      state.parts.set(key, p);
    }
    return p;
  };
  const push = (p: ResponsesPart, text: string): string => {
    const out = p.t.push(text);
    p.textIn += text;
    p.textOut += out;
    state.textIn += text;
    state.textOut += out;
    return out;
  };
  /** The part's final text: what its deltas became, or (no deltas) `original` transformed whole, once. */
  const finalFor = (key: string, original: string): string => {
    const done = state.finals.get(key);
    if (done !== undefined) return done;
    const text = runWhole(original);
    state.textIn += original;
    state.textOut += text;
    state.finals.set(key, text);
    return text;
  };
  /** Closes the message's open parts and gives its parts their final text. */
  const finishMessage = (item: OutputItem): { release: ResponsesStreamEvent[]; item: OutputItem } => {
    if (item.type !== "message") return { release: [], item };
    const release: ResponsesStreamEvent[] = [];
    const next = mapMessageText(item, (part, j) => {
      const key = partKey(item.id, j);
      release.push(...closePart(state, key, seq));
      return retext(part, finalFor(key, part.text));
    });
    return { release, item: next };
  };

  switch (event.type) {
    case "response.output_text.delta": {
      const delta = push(open(event.item_id, event.output_index, event.content_index), event.delta);
      if (delta === "") return [];
      return [delta === event.delta ? event : { ...event, delta, logprobs: [] }];
    }
    case "response.output_text.done": {
      const key = partKey(event.item_id, event.content_index);
      const release = closePart(state, key, seq);
      const text = finalFor(key, event.text);
      return [...release, text === event.text ? event : { ...event, text, logprobs: [] }];
    }
    case "response.content_part.added": {
      if (event.part.type !== "output_text" || event.part.text === "") return [event];
      const text = push(open(event.item_id, event.output_index, event.content_index), event.part.text);
      return [{ ...event, part: retext(event.part, text) }];
    }
    case "response.content_part.done": {
      if (event.part.type !== "output_text") return [event];
      const key = partKey(event.item_id, event.content_index);
      const release = closePart(state, key, seq);
      return [...release, { ...event, part: retext(event.part, finalFor(key, event.part.text)) }];
    }
    case "response.output_item.added": {
      const { item } = event;
      if (item.type !== "message") return [event];
      // Text already in the added item is the start of its parts.
      const next = mapMessageText(item, (part, j) => (part.text === "" ? part : retext(part, push(open(item.id, event.output_index, j), part.text))));
      return [next === item ? event : { ...event, item: next }];
    }
    case "response.output_item.done": {
      const { release, item } = finishMessage(event.item);
      return [...release, item === event.item ? event : { ...event, item }];
    }
    case "response.completed":
    case "response.incomplete":
    case "response.failed": {
      const release: ResponsesStreamEvent[] = [];
      for (const key of [...state.parts.keys()]) release.push(...closePart(state, key, seq));
      const response = mapResponseText(event.response, (itemId, j, text) => finalFor(partKey(itemId, j), text));
      return [...release, response === event.response ? event : { ...event, response }];
    }
    case "response.created":
    case "response.in_progress":
    case "response.queued": {
      // Snapshots of a response in progress normally have no output; if one has text, it gets no raw text past us.
      const response = mapResponseText(event.response, (_id, _j, text) => runWhole(text));
      return [response === event.response ? event : { ...event, response }];
    }
    default:
      // No assistant text here (refusals, reasoning and transcripts are left as they are, like OpenAI refusals and
      // Anthropic thinking). A text carrier the SDK adds is classified `text` and must not pass unread.
      if (responsesEventKind(event) === "text") throw new Error(`unhandled Responses text event ${event.type}`);
      return [event];
  }
}

function transformRequest(request: PolicyRequest, run: (t: string) => string): PolicyRequest {
  if (request.format === "responses") {
    const body = mapResponsesRequest(request.body, (c) => (c.editable ? run(c.text) : c.text));
    return body === request.body ? request : { format: "responses", body };
  }
  if (request.format === "openai") {
    let changed = false;
    const messages = request.body.messages.map((m) => {
      const next = transformOpenAIMessage(m, run);
      if (next !== m) changed = true;
      return next;
    });
    return changed ? { format: "openai", body: { ...request.body, messages } } : request;
  }
  const body = request.body;
  let changed = false;
  let system = body.system;
  if (typeof system === "string") {
    const next = run(system);
    if (next !== system) {
      changed = true;
      system = next;
    }
  } else if (system !== undefined) {
    system = system.map((b) => {
      const text = run(b.text);
      if (text === b.text) return b;
      changed = true;
      return { ...b, text };
    });
  }
  const messages = body.messages.map((m) => {
    const next = transformAnthropicMessage(m, run);
    if (next !== m) changed = true;
    return next;
  });
  if (!changed) return request;
  return { format: "anthropic", body: { ...body, messages, ...(system !== undefined ? { system } : {}) } };
}

function transformResponse(response: PolicyResponse, run: (t: string) => string): PolicyResponse {
  if (response.format === "responses") {
    const body = mapResponseText(response.body, (_id, _j, text) => run(text));
    return body === response.body ? response : { format: "responses", body };
  }
  if (response.format === "openai") {
    const choices = response.body.choices.map((c) => {
      if (typeof c.message.content !== "string") return c;
      const content = run(c.message.content);
      return content === c.message.content ? c : { ...c, message: { ...c.message, content } };
    });
    if (choices.every((c, i) => c === response.body.choices[i])) return response;
    return { format: "openai", body: { ...response.body, choices } };
  }
  let changed = false;
  const content = response.body.content.map((b) => {
    if (b.type !== "text") return b;
    const text = run(b.text);
    if (text === b.text) return b;
    changed = true;
    return { ...b, text };
  });
  return changed ? { format: "anthropic", body: { ...response.body, content } } : response;
}

function transformOpenAIMessage(m: ChatCompletionMessageParam, run: (t: string) => string): ChatCompletionMessageParam {
  if (typeof m.content === "string") {
    const content = run(m.content);
    return content === m.content ? m : ({ ...m, content } as ChatCompletionMessageParam);
  }
  if (!Array.isArray(m.content)) return m;
  const parts = mapTextParts(m.content as Array<{ type: string; text?: string }>, run);
  return parts === m.content ? m : ({ ...m, content: parts } as ChatCompletionMessageParam);
}

function transformAnthropicMessage(m: MessageParam, run: (t: string) => string): MessageParam {
  if (typeof m.content === "string") {
    const content = run(m.content);
    return content === m.content ? m : { ...m, content };
  }
  let changed = false;
  const blocks = m.content.map((b) => {
    if (b.type === "text") {
      const text = run(b.text);
      if (text === b.text) return b;
      changed = true;
      return { ...b, text };
    }
    if (b.type === "tool_result" && b.content !== undefined) {
      if (typeof b.content === "string") {
        const content = run(b.content);
        if (content === b.content) return b;
        changed = true;
        return { ...b, content };
      }
      const parts = mapTextParts(b.content as Array<{ type: string; text?: string }>, run);
      if (parts === b.content) return b;
      changed = true;
      return { ...b, content: parts } as typeof b;
    }
    return b;
  });
  return changed ? ({ ...m, content: blocks } as MessageParam) : m;
}

/** Maps the `text` of every `{type: "text"}` part; returns the same array when nothing changed. */
function mapTextParts<T extends { type: string; text?: string }>(parts: T[], run: (t: string) => string): T[] {
  let changed = false;
  const out = parts.map((p) => {
    if (p.type !== "text" || typeof p.text !== "string") return p;
    const text = run(p.text);
    if (text === p.text) return p;
    changed = true;
    return { ...p, text };
  });
  return changed ? out : parts;
}
