import type { ChatCompletionChunk, ChatCompletionMessageParam } from "@luthien/wire";
import type { Policy, PolicyEvent } from "./policy";

/**
 * Transforms one text stream (one choice's content). `push` takes the next piece and returns what may be sent now;
 * it may hold back a tail that could still change (a possible prefix of a match). `end` returns whatever is held.
 * For a whole text, `push(text) + end()` is the answer.
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

export interface TextPolicyOptions {
  name: string;
  /** Called once per text stream: per choice of a response, per message of a request. */
  createTransformer(): TextStreamTransformer;
  /** Which side's text to transform. @default "response" */
  applyTo?: TextTarget;
  /** Activity action emitted (once per side and call) when the text changed. @default "modified" */
  action?: string;
}

interface TextState {
  transformers: Map<number, TextStreamTransformer>;
  /** The last chunk seen, the template for a chunk that carries text released at the end of the stream. */
  last: ChatCompletionChunk | undefined;
  /** All text in and out, to tell at the end whether anything changed. */
  textIn: string;
  textOut: string;
}

/**
 * A FULL-mode policy that rewrites assistant text (and/or request text) through a text transformer, streaming or
 * not. Tool calls, roles and finish reasons pass untouched; held-back text is released before the choice's
 * finish_reason, so a replacement split across deltas still matches.
 */
export function createTextPolicy(options: TextPolicyOptions): Policy<TextState> {
  const applyTo = options.applyTo ?? "response";
  const onResponseSide = applyTo !== "request";
  const action = options.action ?? "modified";
  const run = (text: string): string => {
    const t = options.createTransformer();
    return t.push(text) + t.end();
  };
  return {
    name: options.name,
    mode: onResponseSide ? "FULL" : "SKIP",
    createState: () => ({ transformers: new Map(), last: undefined, textIn: "", textOut: "" }),
    onRequest(request, ctx) {
      if (applyTo === "response") return request;
      let changed = false;
      const messages = request.body.messages.map((m) => {
        const next = transformMessage(m, run);
        if (next !== m) changed = true;
        return next;
      });
      if (!changed) return request;
      ctx.emit(`request_${action}`);
      return { ...request, body: { ...request.body, messages } };
    },
    onResponse(response, ctx) {
      if (!onResponseSide) return response;
      const choices = response.body.choices.map((c) => {
        if (typeof c.message.content !== "string") return c;
        const content = run(c.message.content);
        return content === c.message.content ? c : { ...c, message: { ...c.message, content } };
      });
      if (choices.every((c, i) => c === response.body.choices[i])) return response;
      ctx.emit(`response_${action}`);
      return { ...response, body: { ...response.body, choices } };
    },
    onEvent(event, ctx) {
      if (!onResponseSide) return [event];
      const state = ctx.state;
      state.last = event.chunk;
      let dropped = false;
      const choices = event.chunk.choices.map((choice) => {
        let t = state.transformers.get(choice.index);
        if (t === undefined) {
          t = options.createTransformer();
          state.transformers.set(choice.index, t);
        }
        const original = choice.delta.content;
        let content = typeof original === "string" ? t.push(original) : "";
        const ending = choice.finish_reason !== null && choice.finish_reason !== undefined;
        // Text must not trail a tool call or follow the finish: release what is held first.
        if (ending || choice.delta.tool_calls !== undefined) content += t.end();
        state.textIn += original ?? "";
        state.textOut += content;
        if (content === (original ?? "")) return choice;
        if (content === "" && isTextOnly(choice.delta) && !ending) dropped = true;
        return { ...choice, delta: { ...choice.delta, content } };
      });
      if (dropped && event.chunk.choices.length === 1 && event.chunk.usage === undefined) return [];
      return [{ format: event.format, chunk: { ...event.chunk, choices } }];
    },
    onStreamEnd(ctx) {
      const { state } = ctx;
      const out: PolicyEvent[] = [];
      for (const [index, t] of state.transformers) {
        const rest = t.end();
        state.textOut += rest;
        if (rest === "" || state.last === undefined) continue;
        const { id, created, model, object } = state.last;
        out.push({ format: "openai", chunk: { id, created, model, object, choices: [{ index, delta: { content: rest }, finish_reason: null, logprobs: null }] } });
      }
      if (state.textOut !== state.textIn) ctx.emit(`response_${action}`);
      return out;
    },
  };
}

function isTextOnly(delta: ChatCompletionChunk.Choice.Delta): boolean {
  return Object.keys(delta).every((k) => k === "content");
}

function transformMessage(m: ChatCompletionMessageParam, run: (t: string) => string): ChatCompletionMessageParam {
  if (typeof m.content === "string") {
    const content = run(m.content);
    return content === m.content ? m : ({ ...m, content } as ChatCompletionMessageParam);
  }
  if (!Array.isArray(m.content)) return m;
  let changed = false;
  const parts = (m.content as Array<{ type: string; text?: string }>).map((p) => {
    if (p.type !== "text" || typeof p.text !== "string") return p;
    const text = run(p.text);
    if (text === p.text) return p;
    changed = true;
    return { ...p, text };
  });
  return changed ? ({ ...m, content: parts } as ChatCompletionMessageParam) : m;
}
