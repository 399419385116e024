import type { AnthropicStreamEvent, ChatCompletionChunk, ChatCompletionMessageParam, MessageParam } from "@luthien/wire";
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
  /** Called once per text stream: per choice or text block of a response, per text of a request. */
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

interface TextState {
  /** Open text streams: OpenAI choice index, or Anthropic block index. */
  transformers: Map<number, TextStreamTransformer>;
  /** The last OpenAI chunk seen, the template for a chunk carrying text released at the end of the stream. */
  last: ChatCompletionChunk | undefined;
  /** All text in and out, to tell at the end whether anything changed. */
  textIn: string;
  textOut: string;
}

/**
 * A policy that rewrites assistant text (and/or request text) through a text transformer, in both client formats,
 * streaming or not. Tool calls, thinking, roles and stop reasons pass untouched; held-back text is released before
 * the text's end (OpenAI: before the choice's finish_reason or a tool call; Anthropic: before the block's stop), so
 * a replacement split across deltas still matches.
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
    createState: () => ({ transformers: new Map(), last: undefined, textIn: "", textOut: "" }),
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
      return event.format === "openai" ? onOpenAIChunk(event.chunk, ctx, transformerFor) : onAnthropicEvent(event.event, ctx, transformerFor);
    },
    onStreamEnd(ctx) {
      const { state } = ctx;
      const out: PolicyEvent[] = [];
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

function transformRequest(request: PolicyRequest, run: (t: string) => string): PolicyRequest {
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
