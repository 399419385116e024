import type { AnthropicStreamEvent, ChatCompletionChunk, ResponsesResponse, ResponsesStreamEvent } from "@luthien/wire";
import { mapAnthropicMessage, mapAnthropicRequest, mapCitation, mapContentBlock } from "./internal/anthropic-text";
import { startWalk, type VisitCarrier } from "./internal/carriers";
import { DELTA_TEXT_FIELDS, deltaText, mapLooseParts, mapOpenAICompletion, mapOpenAIRequest, withDeltaText } from "./internal/openai-text";
import { responsesEventKind } from "./internal/responses-events";
import { mapResponsesRequest } from "./internal/responses-request";
import { mapItemText, partText, retext, withOutput, type OutputItem, type PartSlot, type WrittenPart } from "./internal/responses-output";
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
   * Called once per text stream: per choice and field (content, refusal, reasoning, transcript), text block,
   * Responses text part (`output_text`, refusal, reasoning summary or text) and audio transcript, per text of a
   * request or of a whole response.
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
  /**
   * What the policy does with signed text in responses — Anthropic thinking, whose signature covers its text (a
   * modified block makes the API refuse the next turn, which breaks a Claude Code session). It is never rewritten:
   * - `leave`: not transformed at all (cosmetic policies: case, wording);
   * - `fail`: the transformer reads it, streamed with the usual hold-back so that nothing it would change is sent;
   *   if it would change anything, the call fails (the engine turns the throw into a failed call). For policies
   *   whose change means "this must not reach the client" (secrets, blocked patterns). Dropping the block instead
   *   is no way out: a turn with tool_use must keep its thinking, and a `redacted_thinking` block cannot be forged
   *   (its data is the provider's encryption).
   * Thinking in a request's history is only read (it came from the provider, and must go back unchanged).
   * @default "leave"
   */
  signed?: "leave" | "fail";
}

/**
 * A Responses text being streamed: a message's `output_text` or `refusal` part, a reasoning item's summary part or
 * `reasoning_text` part, or the response's audio transcript.
 */
interface ResponsesPart {
  kind: WrittenPart["type"] | "transcript";
  t: TextStreamTransformer;
  slot: Slot;
  outputIndex: number;
  /**
   * Whether the stream announced the part (a part added event or a delta), so a delta may carry what it held; a part
   * only the added item had releases it in the item's done event (a delta for a part never added breaks clients).
   */
  streamed: boolean;
  /** The text in and out so far. */
  textIn: string;
  textOut: string;
}

/** One open text stream: an OpenAI choice's field, an Anthropic text or thinking block. */
interface TextStream {
  t: TextStreamTransformer;
  /** Signed text (Anthropic thinking): what goes out must be exactly what came in, or the call fails. */
  signed: boolean;
  textIn: string;
  textOut: string;
}

interface TextState {
  /** Open text streams: OpenAI `<choice>:<field>`, Anthropic `<block index>`. */
  streams: Map<string, TextStream>;
  /** OpenAI logprobs token lists, by `<choice>:<list>`: read through a transformer to tell whether they spell text it changes. */
  logprobs: Map<string, { t: TextStreamTransformer; textIn: string; textOut: string }>;
  /** Responses: open text parts by `partKey` (item id, content or summary index). */
  parts: Map<string, ResponsesPart>;
  /** Responses: the text of every part that ended, by `partKey`, for the done events and the final response. */
  finals: Map<string, string>;
  /** The last OpenAI chunk seen, the template for a chunk carrying text released at the end of the stream. */
  last: ChatCompletionChunk | undefined;
  /** All text in and out, to tell at the end whether anything changed. */
  textIn: string;
  textOut: string;
}

/**
 * What the stream handlers need of the policy: open, feed and close text streams, and read whole texts.
 * `where` names the text in errors.
 */
interface Streams {
  push(ctx: PolicyContext<TextState>, key: string, text: string, where: string): string;
  /** Releases what the stream holds; the stream stays open (a transformer that stopped stays stopped). */
  flush(ctx: PolicyContext<TextState>, key: string, where: string): string;
  /** Releases what the stream holds and closes it. */
  close(ctx: PolicyContext<TextState>, key: string, where: string): string;
  /** Opens a signed stream (thinking) when the policy reads signed text; false when it leaves it alone. */
  openSigned(ctx: PolicyContext<TextState>, key: string): boolean;
  /** Whether a logprobs list's tokens would change (then the list is dropped). */
  logprobsChange(ctx: PolicyContext<TextState>, key: string, tokens: string, ending: boolean): boolean;
  /** A visitor for whole texts (requests, whole responses, blocks that arrive whole). */
  whole(ctx: PolicyContext<TextState>, side: "request" | "response"): VisitCarrier;
}

/**
 * A policy that rewrites text in every client format, streaming or not, through a text transformer — every text
 * carrier the format has, from the SDK walkers (`responseText` lists them): OpenAI content, refusals, provider
 * reasoning (`reasoning_content`, `reasoning`), audio transcripts, annotation titles; Anthropic text blocks,
 * citations, server tool results the user reads (search titles, fetched documents, code execution output); Responses
 * `output_text` and `refusal` parts, reasoning summaries and text, the audio transcript. What a call does (tool-call arguments, inputs), names and URLs pass untouched, and so does
 * Anthropic thinking unless `signed` is `fail` (see there). Logprobs that spell text the transformer would change
 * are dropped (OpenAI `logprobs: null`). Held-back text is released before its text ends (OpenAI: before the
 * choice's finish_reason or a tool call; Anthropic: before the block's stop; Responses: before the part's
 * `response.output_text.done`), so a replacement split across deltas still matches.
 *
 * Responses streams: one transformer per `output_text` part (item id, content index) over its deltas; the part's
 * transformed text then replaces the original wherever the stream repeats it — `response.output_text.done`,
 * `response.content_part.done`, `response.output_item.done` and the final response of `response.completed`,
 * `response.incomplete` or `response.failed` — so clients that read deltas, done events or only the final response
 * all see the same text. A part whose text changed loses its logprobs (they would spell the original tokens).
 * `refusal` parts are written the same way (`response.refusal.delta` / `.done`, their content part and item
 * events, the final response), and so are reasoning items: one transformer per summary part (item id, summary
 * index: `response.reasoning_summary_text.delta` / `.done`, `response.reasoning_summary_part.added` / `.done`) and
 * per `reasoning_text` part (item id, content index: `response.reasoning_text.delta` / `.done`, its content part
 * events), their item events and the final response. A reasoning item keeps its `encrypted_content` (see
 * `mapItemText`). The audio transcript (`response.audio.transcript.delta`) is one text, released before
 * `response.audio.transcript.done`.
 *
 * Requests: every written carrier `requestText` yields (message text, tool results, documents, prediction...);
 * what is only read there (earlier calls, thinking, definitions) stays as it is — a request-side check that must
 * see those uses `requestText`.
 */
export function createTextPolicy(options: TextPolicyOptions): Policy<TextState> {
  const applyTo = options.applyTo ?? "response";
  const onResponseSide = applyTo !== "request";
  const action = options.action === undefined ? "modified" : options.action;
  const readSigned = options.signed === "fail";
  const changed = (ctx: PolicyContext<TextState>, side: "request" | "response"): void => {
    if (action !== null) ctx.emit(`${side}_${action}`);
  };
  const runner =
    (ctx: PolicyContext<TextState>, side: "request" | "response") =>
    (text: string): string => {
      const t = options.createTransformer({ side, ctx });
      return t.push(text) + t.end();
    };
  // Logprobs are a shadow of text the policy already reports on: their transformers report nothing.
  const quiet = (ctx: PolicyContext<TextState>): TextScope["ctx"] => ({ ...ctx, emit: () => undefined });
  const signedChange = (where: string): never => {
    throw new Error(`${options.name}: the signed thinking at ${where} would change; a signed block cannot be rewritten, so the call fails`);
  };
  const streams: Streams = {
    push(ctx, key, text, where) {
      let s = ctx.state.streams.get(key);
      if (s === undefined) {
        s = { t: options.createTransformer({ side: "response", ctx }), signed: false, textIn: "", textOut: "" };
        ctx.state.streams.set(key, s);
      }
      const out = s.t.push(text);
      s.textIn += text;
      s.textOut += out;
      if (s.signed) {
        // Held back is fine (the text goes out later, unchanged); anything else would alter a signed block.
        if (!s.textIn.startsWith(s.textOut)) signedChange(where);
      } else {
        ctx.state.textIn += text;
        ctx.state.textOut += out;
      }
      return out;
    },
    flush(ctx, key, where) {
      const s = ctx.state.streams.get(key);
      if (s === undefined) return "";
      const rest = s.t.end();
      s.textOut += rest;
      if (s.signed) {
        if (s.textOut !== s.textIn) signedChange(where);
      } else ctx.state.textOut += rest;
      return rest;
    },
    close(ctx, key, where) {
      const rest = streams.flush(ctx, key, where);
      ctx.state.streams.delete(key);
      return rest;
    },
    openSigned(ctx, key) {
      if (!readSigned) return false;
      ctx.state.streams.set(key, { t: options.createTransformer({ side: "response", ctx }), signed: true, textIn: "", textOut: "" });
      return true;
    },
    logprobsChange(ctx, key, tokens, ending) {
      let l = ctx.state.logprobs.get(key);
      if (l === undefined) {
        l = { t: options.createTransformer({ side: "response", ctx: quiet(ctx) }), textIn: "", textOut: "" };
        ctx.state.logprobs.set(key, l);
      }
      l.textIn += tokens;
      l.textOut += l.t.push(tokens) + (ending ? l.t.end() : "");
      // Dropped while anything the tokens spelled so far is held back (a possible start of a match) or changed:
      // once changed, the rest of the list goes too.
      return l.textOut !== l.textIn;
    },
    whole(ctx, side) {
      const run = runner(ctx, side);
      return (c) => {
        switch (c.access) {
          case "write":
            return run(c.text);
          case "read":
            return c.text;
          case "signed":
            if (side === "response" && readSigned && run(c.text) !== c.text) signedChange(c.where);
            return c.text;
          case "logprobs": {
            const t = options.createTransformer({ side, ctx: quiet(ctx) });
            return t.push(c.text) + t.end();
          }
          default: {
            const unknown: never = c.access;
            throw new Error(`unknown carrier access ${String(unknown)}`);
          }
        }
      };
    },
  };
  return {
    name: options.name,
    mode: onResponseSide ? "FULL" : "SKIP",
    createState: () => ({ streams: new Map(), logprobs: new Map(), parts: new Map(), finals: new Map(), last: undefined, textIn: "", textOut: "" }),
    onRequest(request, ctx) {
      if (applyTo === "response") return request;
      const next = transformRequest(request, streams.whole(ctx, "request"));
      if (next !== request) changed(ctx, "request");
      return next;
    },
    onResponse(response, ctx) {
      if (!onResponseSide) return response;
      const next = transformResponse(response, streams.whole(ctx, "response"), runner(ctx, "response"));
      if (next !== response) changed(ctx, "response");
      return next;
    },
    onEvent(event, ctx) {
      if (!onResponseSide) return [event];
      switch (event.format) {
        case "openai":
          return onOpenAIChunk(event.chunk, ctx, streams);
        case "anthropic":
          return onAnthropicEvent(event.event, ctx, streams);
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
      if (ctx.format === "anthropic") out.push(...releaseAnthropic(ctx, streams, [...state.streams.keys()]));
      else if (ctx.format === "openai" && state.last !== undefined) {
        const { id, created, model, object } = state.last;
        const byChoice = new Map<number, ChatCompletionChunk.Choice.Delta>();
        for (const key of [...state.streams.keys()]) {
          const [choice, field] = splitKey(key);
          const rest = streams.close(ctx, key, `choices[${choice}].delta.${field}`);
          if (rest === "") continue;
          byChoice.set(choice, withDeltaText(byChoice.get(choice) ?? {}, field, rest));
        }
        for (const [index, delta] of byChoice) out.push({ format: "openai", chunk: { id, created, model, object, choices: [{ index, delta, finish_reason: null, logprobs: null }] } });
      }
      state.streams.clear();
      state.logprobs.clear();
      if (state.textOut !== state.textIn) changed(ctx, "response");
      return out;
    },
  };
}

type DeltaField = (typeof DELTA_TEXT_FIELDS)[number];
const splitKey = (key: string): [number, DeltaField] => {
  const at = key.indexOf(":");
  return [Number(key.slice(0, at)), key.slice(at + 1) as DeltaField];
};

/** Delta fields that are only text (a delta of nothing else, all emptied by hold-back, need not be sent). */
const PLAIN_TEXT_FIELDS: ReadonlySet<string> = new Set(["content", "refusal", "reasoning_content", "reasoning"]);

function onOpenAIChunk(chunk: ChatCompletionChunk, ctx: PolicyContext<TextState>, streams: Streams): PolicyEvent[] {
  const { state } = ctx;
  state.last = chunk;
  let dropped = false;
  const choices = chunk.choices.map((choice) => {
    const ending = (choice.finish_reason !== null && choice.finish_reason !== undefined) || choice.delta.tool_calls !== undefined || choice.delta.function_call !== undefined;
    let delta = choice.delta;
    let hadText = false;
    // Content as a list of parts (some providers stream it so): each part's text is the next piece of the content
    // stream, and what the stream still holds at the end goes out as one more text part.
    const parts: unknown = choice.delta.content;
    if (Array.isArray(parts)) {
      const key = `${choice.index}:content`;
      const where = `choices[${choice.index}].delta.content`;
      const walked = mapLooseParts(parts, where, "assistant", (text, at) => streams.push(ctx, key, text, at));
      const rest = ending ? streams.flush(ctx, key, where) : "";
      delta = { ...delta, content: [...walked, ...(rest !== "" ? [{ type: "text", text: rest }] : [])] as unknown as string };
    }
    for (const field of DELTA_TEXT_FIELDS) {
      if (field === "content" && Array.isArray(parts)) continue;
      const key = `${choice.index}:${field}`;
      const where = `choices[${choice.index}].delta.${field}`;
      const original = deltaText(choice.delta, field);
      let text = original === undefined ? undefined : streams.push(ctx, key, original, where);
      if (original !== undefined && original !== "") hadText = true;
      // Text must not trail a tool call or follow the finish: release what is held first.
      if (ending) {
        const rest = streams.flush(ctx, key, where);
        if (rest !== "") text = (text ?? "") + rest;
      }
      if (text !== undefined && text !== original) delta = withDeltaText(delta, field, text);
    }
    // Logprobs spell content and refusal tokens: where those changed here, the chain's guard drops them (and says
    // so); where they did not, the tokens are read for what they spell, and dropped when the transformer would
    // change or hold it.
    let logprobs = choice.logprobs;
    const lp = choice.logprobs;
    if (lp !== undefined && lp !== null) {
      const textChanged = deltaText(delta, "content") !== deltaText(choice.delta, "content") || deltaText(delta, "refusal") !== deltaText(choice.delta, "refusal");
      for (const list of ["content", "refusal"] as const) {
        const tokens = lp[list];
        if (tokens === undefined || tokens === null || tokens.length === 0) continue;
        if (streams.logprobsChange(ctx, `${choice.index}:${list}`, tokens.map((t) => t.token).join(""), ending) && !textChanged) logprobs = null;
      }
    }
    if (delta === choice.delta && logprobs === choice.logprobs) return choice;
    const keys = Object.keys(delta);
    if (hadText && !ending && keys.every((k) => PLAIN_TEXT_FIELDS.has(k) && (delta as Record<string, unknown>)[k] === "")) dropped = true;
    return { ...choice, delta, ...(logprobs !== choice.logprobs ? { logprobs } : {}) };
  });
  if (dropped && chunk.choices.length === 1 && chunk.usage === undefined) return [];
  return [{ format: "openai", chunk: { ...chunk, choices } }];
}

/** Closes the given Anthropic streams: what they hold goes out as one more delta of their kind. */
function releaseAnthropic(ctx: PolicyContext<TextState>, streams: Streams, keys: string[]): PolicyEvent[] {
  const out: PolicyEvent[] = [];
  for (const key of keys) {
    const s = ctx.state.streams.get(key);
    if (s === undefined) continue;
    const index = Number(key);
    const rest = streams.close(ctx, key, `content[${index}]`);
    if (rest === "") continue;
    const delta = s.signed ? ({ type: "thinking_delta", thinking: rest } as const) : ({ type: "text_delta", text: rest } as const);
    out.push({ format: "anthropic", event: { type: "content_block_delta", index, delta } });
  }
  return out;
}

function onAnthropicEvent(event: AnthropicStreamEvent, ctx: PolicyContext<TextState>, streams: Streams): PolicyEvent[] {
  const wrap = (e: AnthropicStreamEvent): PolicyEvent => ({ format: "anthropic", event: e });
  const key = "index" in event ? String(event.index) : "";
  const where = "index" in event ? `content[${event.index}]` : "";
  switch (event.type) {
    case "message_start": {
      // A message that starts with content (providers send none) gets no raw text past us.
      if ((event.message.content ?? []).length === 0) return [wrap(event)];
      const message = mapAnthropicMessage(event.message, streams.whole(ctx, "response"));
      return [wrap(message === event.message ? event : { ...event, message })];
    }
    case "content_block_start": {
      const b = event.content_block;
      switch (b.type) {
        case "text": {
          const text = streams.push(ctx, key, b.text, `${where}.text`);
          if (!Array.isArray(b.citations) || b.citations.length === 0) return [wrap(text === b.text ? event : { ...event, content_block: { ...b, text } })];
          const { walk } = startWalk(streams.whole(ctx, "response"));
          const citations = b.citations.map((c, k) => mapCitation(c, `${where}.citations[${k}]`, walk));
          return [wrap({ ...event, content_block: { ...b, text, citations } })];
        }
        case "thinking": {
          if (!streams.openSigned(ctx, key)) return [wrap(event)];
          return [wrap({ ...event, content_block: { ...b, thinking: streams.push(ctx, key, b.thinking, `${where}.thinking`) } })];
        }
        default: {
          // Blocks that arrive whole (server tool results): their text is transformed whole.
          const { walk, changed } = startWalk(streams.whole(ctx, "response"));
          const next = mapContentBlock(b, "content_block", walk);
          return [wrap(changed() ? { ...event, content_block: next } : event)];
        }
      }
    }
    case "content_block_delta": {
      const d = event.delta;
      switch (d.type) {
        case "text_delta": {
          const text = streams.push(ctx, key, d.text, `${where}.text`);
          if (text === "") return [];
          return [wrap(text === d.text ? event : { ...event, delta: { ...d, text } })];
        }
        case "thinking_delta": {
          if (!ctx.state.streams.has(key)) return [wrap(event)];
          const thinking = streams.push(ctx, key, d.thinking, `${where}.thinking`);
          if (thinking === "") return [];
          return [wrap({ ...event, delta: { ...d, thinking } })];
        }
        case "signature_delta":
          // The thinking is complete: what it still holds goes out before its signature.
          return [...releaseAnthropic(ctx, streams, [key]), wrap(event)];
        case "citations_delta": {
          const { walk, changed } = startWalk(streams.whole(ctx, "response"));
          const citation = mapCitation(d.citation, `${where}.citation`, walk);
          return [wrap(changed() ? { ...event, delta: { ...d, citation } } : event)];
        }
        case "input_json_delta":
          return [wrap(event)];
        default: {
          // A delta kind the SDK's types do not know carries nothing this policy writes: it passes.
          const unknown: never = d;
          return [wrap({ ...event, delta: unknown })];
        }
      }
    }
    case "content_block_stop":
      return [...releaseAnthropic(ctx, streams, [key]), wrap(event)];
    case "message_delta":
      // Blocks still open (a stream that never stopped them) release their text before the message ends.
      return [...releaseAnthropic(ctx, streams, [...ctx.state.streams.keys()]), wrap(event)];
    case "message_stop":
    case "ping":
      return [wrap(event)];
    default: {
      const unknown: never = event;
      return [wrap(unknown)];
    }
  }
}

type MakeTransformer = (ctx: PolicyContext<TextState>) => TextStreamTransformer;

/** Where a streamed Responses text sits: an item's content or summary part, or the response's audio transcript (no item). */
type Slot = PartSlot | { itemId: ""; list: "transcript"; index: 0 };
const TRANSCRIPT: Slot = { itemId: "", list: "transcript", index: 0 };
const partKey = (slot: Slot): string => `${slot.itemId}:${slot.list}:${slot.index}`;
const inContent = (itemId: string, index: number): Slot => ({ itemId, list: "content", index });
const inSummary = (itemId: string, index: number): Slot => ({ itemId, list: "summary", index });

/** A delta event carrying `delta` for the part `p`: how held text goes out once the part ends. */
function deltaEvent(p: ResponsesPart, delta: string, sequenceNumber: number): ResponsesStreamEvent {
  const at = { item_id: p.slot.itemId, output_index: p.outputIndex, delta, sequence_number: sequenceNumber };
  switch (p.kind) {
    case "output_text":
      return { type: "response.output_text.delta", ...at, content_index: p.slot.index, logprobs: [] };
    case "refusal":
      return { type: "response.refusal.delta", ...at, content_index: p.slot.index };
    case "reasoning_text":
      return { type: "response.reasoning_text.delta", ...at, content_index: p.slot.index };
    case "summary_text":
      return { type: "response.reasoning_summary_text.delta", ...at, summary_index: p.slot.index };
    case "transcript":
      return { type: "response.audio.transcript.delta", delta, sequence_number: sequenceNumber };
    default: {
      const unknown: never = p.kind;
      throw new Error(`unknown Responses part kind ${String(unknown)}`);
    }
  }
}

/** Ends an open Responses part: its final text is recorded, and what it still held goes out as one more delta. */
function closePart(state: TextState, key: string, sequenceNumber: number): ResponsesStreamEvent[] {
  const p = state.parts.get(key);
  if (p === undefined) return [];
  state.parts.delete(key);
  const rest = p.t.end();
  p.textOut += rest;
  state.textOut += rest;
  state.finals.set(key, p.textOut);
  return rest === "" || !p.streamed ? [] : [deltaEvent(p, rest, sequenceNumber)];
}

/** Maps the text of every written part of a response's items; the same body when nothing changed. */
function mapResponseText(body: ResponsesResponse, textFor: (slot: PartSlot, text: string) => string): ResponsesResponse {
  let changed = false;
  const output = body.output.map((item): OutputItem => {
    const next = mapItemText(item, (part, slot) => retext(part, textFor(slot, partText(part))));
    if (next !== item) changed = true;
    return next;
  });
  return changed ? withOutput(body, output) : body;
}

function onResponsesEvent(event: ResponsesStreamEvent, ctx: PolicyContext<TextState>, make: MakeTransformer, runWhole: (t: string) => string): ResponsesStreamEvent[] {
  const { state } = ctx;
  const seq = event.sequence_number;
  const open = (slot: Slot, outputIndex: number, kind: ResponsesPart["kind"], streamed = true): ResponsesPart => {
    const key = partKey(slot);
    let p = state.parts.get(key);
    if (p === undefined) {
      // More text for a part the stream already finished: which text would the client keep? Fail closed.
      if (state.finals.has(key)) throw new Error(`text for ${kind} part ${key} after its done event`);
      p = { kind, t: make(ctx), slot, outputIndex, streamed, textIn: "", textOut: "" };
      state.parts.set(key, p);
    }
    if (streamed) p.streamed = true;
    // One content index is one part: text of the other kind there would be read two ways.
    if (p.kind !== kind) throw new Error(`${kind} text for the ${p.kind} part ${key}`);
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
  /** A delta event with what its part lets out now: none when all is held, `changed` when the text differs. */
  const delta = <E extends ResponsesStreamEvent & { delta: string }>(e: E, p: ResponsesPart, changed: (delta: string) => E = (d) => ({ ...e, delta: d })): ResponsesStreamEvent[] => {
    const out = push(p, e.delta);
    if (out === "") return [];
    return [out === e.delta ? e : changed(out)];
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
  /** A part's done event: what the part held goes out first, then `withText` of its final text. */
  const done = (slot: Slot, original: string, withText: (text: string) => ResponsesStreamEvent): ResponsesStreamEvent[] => {
    const key = partKey(slot);
    const release = closePart(state, key, seq);
    const text = finalFor(key, original);
    return [...release, text === original ? event : withText(text)];
  };
  /** Closes the item's open parts (those its done event lists and any other) and gives its parts their final text. */
  const finishItem = (item: OutputItem): { release: ResponsesStreamEvent[]; item: OutputItem } => {
    const release: ResponsesStreamEvent[] = [];
    const id = "id" in item && typeof item.id === "string" ? item.id : undefined;
    if (id === undefined) return { release, item };
    for (const [key, p] of [...state.parts]) if (p.slot.itemId === id) release.push(...closePart(state, key, seq));
    const next = mapItemText(item, (part, slot) => retext(part, finalFor(partKey(slot), partText(part))));
    return { release, item: next };
  };

  switch (event.type) {
    case "response.output_text.delta":
      return delta(event, open(inContent(event.item_id, event.content_index), event.output_index, "output_text"), (d) => ({ ...event, delta: d, logprobs: [] }));
    case "response.output_text.done":
      return done(inContent(event.item_id, event.content_index), event.text, (text) => ({ ...event, text, logprobs: [] }));
    case "response.refusal.delta":
      return delta(event, open(inContent(event.item_id, event.content_index), event.output_index, "refusal"));
    case "response.refusal.done":
      return done(inContent(event.item_id, event.content_index), event.refusal, (refusal) => ({ ...event, refusal }));
    case "response.reasoning_text.delta":
      return delta(event, open(inContent(event.item_id, event.content_index), event.output_index, "reasoning_text"));
    case "response.reasoning_text.done":
      return done(inContent(event.item_id, event.content_index), event.text, (text) => ({ ...event, text }));
    case "response.reasoning_summary_text.delta":
      return delta(event, open(inSummary(event.item_id, event.summary_index), event.output_index, "summary_text"));
    case "response.reasoning_summary_text.done":
      return done(inSummary(event.item_id, event.summary_index), event.text, (text) => ({ ...event, text }));
    case "response.reasoning_summary_part.added": {
      const { part } = event;
      if (part.text === "") return [event];
      const text = push(open(inSummary(event.item_id, event.summary_index), event.output_index, "summary_text"), part.text);
      return [{ ...event, part: { ...part, text } }];
    }
    case "response.reasoning_summary_part.done": {
      const { part } = event;
      return done(inSummary(event.item_id, event.summary_index), part.text, (text) => ({ ...event, part: { ...part, text } }));
    }
    case "response.audio.transcript.delta":
      return delta(event, open(TRANSCRIPT, -1, "transcript"));
    case "response.audio.transcript.done": {
      // The done event repeats no text. Nothing later does either, so a later transcript starts a new text.
      const release = closePart(state, partKey(TRANSCRIPT), seq);
      state.finals.delete(partKey(TRANSCRIPT));
      return [...release, event];
    }
    case "response.content_part.added": {
      const { part } = event;
      if ((part.type !== "output_text" && part.type !== "refusal" && part.type !== "reasoning_text") || partText(part) === "") return [event];
      const text = push(open(inContent(event.item_id, event.content_index), event.output_index, part.type), partText(part));
      return [{ ...event, part: retext(part, text) }];
    }
    case "response.content_part.done": {
      const { part } = event;
      if (part.type !== "output_text" && part.type !== "refusal" && part.type !== "reasoning_text") return [event];
      return done(inContent(event.item_id, event.content_index), partText(part), (text) => ({ ...event, part: retext(part, text) }));
    }
    case "response.output_item.added": {
      const { item } = event;
      // Text already in the added item is the start of its parts.
      const next = mapItemText(item, (part, slot) => (partText(part) === "" ? part : retext(part, push(open(slot, event.output_index, part.type, false), partText(part)))));
      return [next === item ? event : { ...event, item: next }];
    }
    case "response.output_item.done": {
      const { release, item } = finishItem(event.item);
      return [...release, item === event.item ? event : { ...event, item }];
    }
    case "response.completed":
    case "response.incomplete":
    case "response.failed": {
      const release: ResponsesStreamEvent[] = [];
      for (const key of [...state.parts.keys()]) release.push(...closePart(state, key, seq));
      const response = mapResponseText(event.response, (slot, text) => finalFor(partKey(slot), text));
      return [...release, response === event.response ? event : { ...event, response }];
    }
    case "response.created":
    case "response.in_progress":
    case "response.queued": {
      // Snapshots of a response in progress normally have no output; if one has text, it gets no raw text past us.
      const response = mapResponseText(event.response, (_slot, text) => runWhole(text));
      return [response === event.response ? event : { ...event, response }];
    }
    default:
      // No text a policy writes here (call arguments, code and annotations are read, see `responseText`). A text
      // carrier the SDK adds is classified `text` and must not pass unread.
      if (responsesEventKind(event) === "text") throw new Error(`unhandled Responses text event ${event.type}`);
      return [event];
  }
}

function transformRequest(request: PolicyRequest, visit: VisitCarrier): PolicyRequest {
  // Signed text in a request (thinking in the history) came from the provider and goes back unchanged.
  const written: VisitCarrier = (c) => (c.access === "write" ? visit(c) : c.text);
  switch (request.format) {
    case "openai": {
      const body = mapOpenAIRequest(request.body, written);
      return body === request.body ? request : { format: "openai", body };
    }
    case "anthropic": {
      const body = mapAnthropicRequest(request.body, written);
      return body === request.body ? request : { format: "anthropic", body };
    }
    case "responses": {
      const body = mapResponsesRequest(request.body, written);
      return body === request.body ? request : { format: "responses", body };
    }
    default: {
      const unknown: never = request;
      throw new Error(`unknown request format ${JSON.stringify(unknown)}`);
    }
  }
}

function transformResponse(response: PolicyResponse, visit: VisitCarrier, run: (t: string) => string): PolicyResponse {
  switch (response.format) {
    case "responses": {
      const body = mapResponseText(response.body, (_slot, text) => run(text));
      return body === response.body ? response : { format: "responses", body };
    }
    case "openai": {
      const body = mapOpenAICompletion(response.body, visit);
      return body === response.body ? response : { format: "openai", body };
    }
    case "anthropic": {
      const body = mapAnthropicMessage(response.body, visit);
      return body === response.body ? response : { format: "anthropic", body };
    }
    default: {
      const unknown: never = response;
      throw new Error(`unknown response format ${JSON.stringify(unknown)}`);
    }
  }
}
