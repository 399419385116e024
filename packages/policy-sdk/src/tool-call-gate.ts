import type {
  AnthropicStreamEvent,
  ChatCompletion,
  ChatCompletionChunk,
  ContentBlock,
  Message,
  RawContentBlockDeltaEvent,
  RawContentBlockStartEvent,
  ToolUseBlock,
} from "@luthien/wire";
import { withKeepalive } from "./keepalive";
import type { Policy, PolicyContext, PolicyEvent, PolicyResponse } from "./policy";

/** One complete tool call, in either format. */
export interface ToolCall {
  /** OpenAI `tool_calls[].id`, Anthropic `tool_use.id`. */
  id: string;
  name: string;
  /** The arguments parsed from their JSON; the raw text when it is not valid JSON (so string checks still see it). */
  input: unknown;
}

/** What to do with a tool call. */
export type ToolCallDecision =
  | { action: "allow" }
  /** Replace the call with a text block; `text` overrides the gate's `blockedText`. */
  | { action: "block"; reason: string; text?: string }
  /** Keep the call with new arguments (for Anthropic, an object). */
  | { action: "rewrite"; input: unknown };

/** What `decide` sees of the call's context: its info, `emit` and `keepalive` (the gate keeps the state). */
export type ToolCallContext = Omit<PolicyContext<unknown>, "state">;

export interface ToolCallGateOptions {
  /** The policy's name (activity events are `policy.<name>.<action>`). */
  name: string;
  /**
   * Decides one complete call. May be async (a judge); while it runs the gate sends keepalives. The calls of one
   * message are decided concurrently. A throw fails the call (the gateway fails it closed), so a policy that must
   * never fail should turn its own errors into a decision.
   */
  decide(call: ToolCall, ctx: ToolCallContext): ToolCallDecision | Promise<ToolCallDecision>;
  /** The text that replaces a blocked call. @default "⛔ BLOCKED by <name>: the <tool> tool call was not run. Reason: <reason>" */
  blockedText?(call: ToolCall, reason: string): string;
  /** How often to send a keepalive while `decide` runs. @default 1000 */
  keepaliveMs?: number;
  /** Emit `allowed {tool, id}` for every allowed call (by default only blocks and rewrites are events). @default false */
  emitAllowed?: boolean;
}

type ToolCallDelta = NonNullable<ChatCompletionChunk.Choice.Delta["tool_calls"]>[number];

interface HeldOpenAICall {
  index: number;
  id: string;
  name: string;
  arguments: string;
  /** The deltas as they came, released unchanged (but for the index) when the call is allowed. */
  deltas: ToolCallDelta[];
}

interface OpenAIChoiceState {
  calls: Map<number, HeldOpenAICall>;
  /** Whether this choice sent text, so the text of a blocked call starts on a new paragraph. */
  sawText: boolean;
}

interface HeldToolUse {
  start: RawContentBlockStartEvent & { content_block: ToolUseBlock };
  deltas: RawContentBlockDeltaEvent[];
  json: string;
  verdict: Promise<ToolCallDecision> | undefined;
}

interface GateState {
  openai: Map<number, OpenAIChoiceState>;
  /** The template for chunks the gate makes at the end of a stream. */
  lastChunk: ChatCompletionChunk | undefined;
  /** Anthropic: the next output block index (the gate reorders blocks, so it renumbers them). */
  nextIndex: number;
  /** Anthropic: input index → output index of blocks passed through. */
  direct: Map<number, number>;
  /** Anthropic: open tool_use blocks by input index. */
  open: Map<number, HeldToolUse>;
  /** Anthropic: tool_use blocks held until the message ends, in arrival order. */
  held: HeldToolUse[];
  /** Anthropic: tool_use blocks released in this message. */
  kept: number;
}

/**
 * A FULL-mode policy that holds every tool call until its JSON is complete, then lets `decide` allow it (released
 * unchanged), rewrite its input (released whole, with the new input), or block it (replaced by a text that says so).
 * Both formats, streaming or not.
 *
 * Streams. Anthropic: a `tool_use` block is held from its start to its stop and decided then; held calls are
 * released when the message ends (`message_delta`), after the text of every blocked call, so tool_use blocks stay
 * trailing; blocks are renumbered in output order. OpenAI: a choice's tool-call deltas are held until its
 * `finish_reason` (or the end of the stream); then the text of blocked calls goes out as one content delta, the
 * remaining calls follow with indices renumbered 0..n-1 in order, then the finish. Whole responses get the same
 * decisions. When no call remains, `tool_use` becomes `end_turn` and `tool_calls` becomes `stop`; every other stop
 * or finish reason is kept.
 *
 * Events: `blocked {tool, id, reason}`, `rewritten {tool, id}`, and `allowed {tool, id}` with `emitAllowed`.
 */
export function createToolCallGate(options: ToolCallGateOptions): Policy<GateState> {
  const { name } = options;
  const keepaliveMs = options.keepaliveMs ?? 1000;
  const blockedText = options.blockedText ?? ((call, reason) => `⛔ BLOCKED by ${name}: the ${call.name} tool call was not run. Reason: ${reason}`);

  const decide = (call: ToolCall, ctx: ToolCallContext): Promise<ToolCallDecision> => {
    const verdict = Promise.resolve().then(() => options.decide(call, ctx));
    // Decisions may settle before anyone awaits them; their failure is reported where they are awaited.
    verdict.catch(() => undefined);
    return verdict;
  };

  /** Awaits the verdicts (with keepalives) and records them as activity events. */
  const settle = async (ctx: ToolCallContext, calls: readonly ToolCall[], verdicts: Promise<ToolCallDecision>[]): Promise<ToolCallDecision[]> => {
    const decisions = await withKeepalive(ctx, Promise.all(verdicts), keepaliveMs);
    decisions.forEach((d, i) => {
      const call = calls[i] as ToolCall;
      switch (d.action) {
        case "allow":
          if (options.emitAllowed === true) ctx.emit("allowed", { tool: call.name, id: call.id });
          return;
        case "block":
          ctx.emit("blocked", { tool: call.name, id: call.id, reason: d.reason });
          return;
        case "rewrite":
          ctx.emit("rewritten", { tool: call.name, id: call.id });
          return;
        default: {
          const unknown: never = d;
          throw new Error(`${name}: unknown tool-call decision ${JSON.stringify(unknown)}`);
        }
      }
    });
    return decisions;
  };
  const textOf = (call: ToolCall, d: Extract<ToolCallDecision, { action: "block" }>): string => d.text ?? blockedText(call, d.reason);

  // --- OpenAI ---

  const releaseOpenAIChoice = async (ctx: PolicyContext<GateState>, choiceIndex: number, template: ChatCompletionChunk): Promise<{ events: PolicyEvent[]; kept: number }> => {
    const choice = ctx.state.openai.get(choiceIndex);
    if (choice === undefined || choice.calls.size === 0) return { events: [], kept: 0 };
    const held = [...choice.calls.values()].sort((a, b) => a.index - b.index);
    choice.calls.clear();
    const calls = held.map((h) => ({ id: h.id, name: h.name, input: parseJson(h.arguments) }));
    const decisions = await settle(ctx, calls, calls.map((c) => decide(c, ctx)));
    const make = (delta: ChatCompletionChunk.Choice.Delta): PolicyEvent => ({
      format: "openai",
      chunk: chunkFrom(template, [{ index: choiceIndex, delta, finish_reason: null, logprobs: null }]),
    });
    const texts: string[] = [];
    const tools: PolicyEvent[] = [];
    let kept = 0;
    decisions.forEach((d, i) => {
      const h = held[i] as HeldOpenAICall;
      switch (d.action) {
        case "block":
          texts.push(textOf(calls[i] as ToolCall, d));
          return;
        case "allow":
          for (const delta of h.deltas) tools.push(make({ tool_calls: [{ ...delta, index: kept }] }));
          kept++;
          return;
        case "rewrite":
          tools.push(make({ tool_calls: [{ index: kept, id: h.id, type: "function", function: { name: h.name, arguments: jsonText(d.input) } }] }));
          kept++;
          return;
        default: {
          const unknown: never = d;
          throw new Error(`unknown decision ${JSON.stringify(unknown)}`);
        }
      }
    });
    const events: PolicyEvent[] = [];
    if (texts.length > 0) {
      events.push(make({ content: (choice.sawText ? "\n\n" : "") + texts.join("\n\n") }));
      choice.sawText = true;
    }
    events.push(...tools);
    return { events, kept };
  };

  const onOpenAIChunk = async (chunk: ChatCompletionChunk, ctx: PolicyContext<GateState>): Promise<PolicyEvent[]> => {
    const { state } = ctx;
    state.lastChunk = chunk;
    let heldSome = false;
    const ending: number[] = [];
    const choices = chunk.choices.map((choice) => {
      let cs = state.openai.get(choice.index);
      if (cs === undefined) {
        cs = { calls: new Map(), sawText: false };
        state.openai.set(choice.index, cs);
      }
      const { tool_calls: toolCalls, ...rest } = choice.delta;
      if (typeof rest.content === "string" && rest.content !== "") cs.sawText = true;
      if (choice.finish_reason !== null && choice.finish_reason !== undefined && (cs.calls.size > 0 || (toolCalls ?? []).length > 0)) {
        ending.push(choice.index);
      }
      if (toolCalls === undefined || toolCalls === null) return choice;
      heldSome = true;
      for (const tc of toolCalls) absorb(cs, tc);
      return { ...choice, delta: rest };
    });
    if (!heldSome && ending.length === 0) return [{ format: "openai", chunk }];
    const { usage, ...withoutUsage } = chunk;
    const out: PolicyEvent[] = [];
    // What the chunk carried besides tool calls goes first; a finishing choice's finish waits for its calls.
    const before: ChatCompletionChunk = {
      ...(ending.length > 0 ? withoutUsage : chunk),
      choices: choices.map((c) => (ending.includes(c.index) ? { ...c, finish_reason: null } : c)),
    };
    if (!isEmptyChunk(before)) out.push({ format: "openai", chunk: before });
    if (ending.length === 0) return out;
    const finishes: ChatCompletionChunk.Choice[] = [];
    for (const index of ending) {
      const { events, kept } = await releaseOpenAIChoice(ctx, index, chunk);
      out.push(...events);
      const original = chunk.choices.find((c) => c.index === index) as ChatCompletionChunk.Choice;
      const finish = original.finish_reason === "tool_calls" && kept === 0 ? "stop" : original.finish_reason;
      finishes.push({ index, delta: {}, finish_reason: finish, logprobs: original.logprobs ?? null });
    }
    out.push({ format: "openai", chunk: { ...chunkFrom(chunk, finishes), ...(usage !== undefined && usage !== null ? { usage } : {}) } });
    return out;
  };

  const onOpenAIResponse = async (body: ChatCompletion, ctx: PolicyContext<GateState>): Promise<PolicyResponse> => {
    const found: { choice: number; call: ToolCall }[] = [];
    for (const [c, choice] of body.choices.entries()) {
      for (const tc of choice.message.tool_calls ?? []) {
        found.push({
          choice: c,
          call: tc.type === "function" ? { id: tc.id, name: tc.function.name, input: parseJson(tc.function.arguments) } : { id: tc.id, name: tc.custom.name, input: tc.custom.input },
        });
      }
    }
    if (found.length === 0) return { format: "openai", body };
    const calls = found.map((f) => f.call);
    const decisions = await settle(ctx, calls, calls.map((c) => decide(c, ctx)));
    let n = 0;
    const choices = body.choices.map((choice) => {
      const { tool_calls: toolCalls, ...message } = choice.message;
      if (toolCalls === undefined || toolCalls.length === 0) return choice;
      const kept: typeof toolCalls = [];
      const texts: string[] = [];
      for (const tc of toolCalls) {
        const d = decisions[n] as ToolCallDecision;
        const call = calls[n] as ToolCall;
        n++;
        switch (d.action) {
          case "allow":
            kept.push(tc);
            break;
          case "block":
            texts.push(textOf(call, d));
            break;
          case "rewrite":
            kept.push(tc.type === "function" ? { ...tc, function: { ...tc.function, arguments: jsonText(d.input) } } : { ...tc, custom: { ...tc.custom, input: typeof d.input === "string" ? d.input : jsonText(d.input) } });
            break;
          default: {
            const unknown: never = d;
            throw new Error(`unknown decision ${JSON.stringify(unknown)}`);
          }
        }
      }
      const content = texts.length === 0 ? message.content : [message.content ?? "", ...texts].filter((t) => t !== "").join("\n\n");
      return {
        ...choice,
        finish_reason: choice.finish_reason === "tool_calls" && kept.length === 0 ? ("stop" as const) : choice.finish_reason,
        message: { ...message, content, ...(kept.length > 0 ? { tool_calls: kept } : {}) },
      };
    });
    return { format: "openai", body: { ...body, choices } };
  };

  // --- Anthropic ---

  const releaseAnthropic = async (ctx: PolicyContext<GateState>): Promise<PolicyEvent[]> => {
    const { state } = ctx;
    const held = state.held;
    state.held = [];
    state.open.clear();
    if (held.length === 0) return [];
    const calls = held.map(toolUseCall);
    const decisions = await settle(ctx, calls, held.map((h, i) => h.verdict ?? decide(calls[i] as ToolCall, ctx)));
    const out: AnthropicStreamEvent[] = [];
    decisions.forEach((d, i) => {
      if (d.action !== "block") return;
      const index = state.nextIndex++;
      out.push(
        { type: "content_block_start", index, content_block: { type: "text", text: "", citations: null } },
        { type: "content_block_delta", index, delta: { type: "text_delta", text: textOf(calls[i] as ToolCall, d) } },
        { type: "content_block_stop", index },
      );
    });
    decisions.forEach((d, i) => {
      const h = held[i] as HeldToolUse;
      if (d.action === "block") return;
      const index = state.nextIndex++;
      state.kept++;
      if (d.action === "allow") {
        out.push({ ...h.start, index });
        for (const delta of h.deltas) out.push({ ...delta, index });
      } else {
        out.push({ ...h.start, index, content_block: { ...h.start.content_block, input: {} } });
        out.push({ type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: jsonText(d.input) } });
      }
      out.push({ type: "content_block_stop", index });
    });
    return out.map((event) => ({ format: "anthropic", event }));
  };

  const onAnthropicEvent = async (event: AnthropicStreamEvent, ctx: PolicyContext<GateState>): Promise<PolicyEvent[]> => {
    const { state } = ctx;
    const pass = (e: AnthropicStreamEvent): PolicyEvent[] => [{ format: "anthropic", event: e }];
    switch (event.type) {
      case "message_start":
      case "ping":
        return pass(event);
      case "content_block_start": {
        // A start may reuse an index: it begins a new block.
        state.open.delete(event.index);
        state.direct.delete(event.index);
        if (event.content_block.type === "tool_use") {
          const h: HeldToolUse = { start: event as HeldToolUse["start"], deltas: [], json: "", verdict: undefined };
          state.open.set(event.index, h);
          state.held.push(h);
          return [];
        }
        const index = state.nextIndex++;
        state.direct.set(event.index, index);
        return pass({ ...event, index });
      }
      case "content_block_delta": {
        const h = state.open.get(event.index);
        if (h !== undefined) {
          h.deltas.push(event);
          if (event.delta.type === "input_json_delta") h.json += event.delta.partial_json;
          return [];
        }
        const index = state.direct.get(event.index);
        return pass(index === undefined ? event : { ...event, index });
      }
      case "content_block_stop": {
        const h = state.open.get(event.index);
        if (h !== undefined) {
          // Complete: start deciding now, so judges of several calls overlap with the rest of the stream.
          state.open.delete(event.index);
          h.verdict = decide(toolUseCall(h), ctx);
          return [];
        }
        const index = state.direct.get(event.index);
        return pass(index === undefined ? event : { ...event, index });
      }
      case "message_delta": {
        const released = await releaseAnthropic(ctx);
        const reason = event.delta.stop_reason === "tool_use" && state.kept === 0 ? "end_turn" : event.delta.stop_reason;
        return [...released, ...pass(reason === event.delta.stop_reason ? event : { ...event, delta: { ...event.delta, stop_reason: reason } })];
      }
      case "message_stop":
        return [...(await releaseAnthropic(ctx)), ...pass(event)];
      default: {
        const unknown: never = event;
        throw new Error(`unknown Anthropic event ${JSON.stringify(unknown)}`);
      }
    }
  };

  const onAnthropicResponse = async (body: Message, ctx: PolicyContext<GateState>): Promise<PolicyResponse> => {
    const uses = body.content.filter((b): b is ToolUseBlock => b.type === "tool_use");
    if (uses.length === 0) return { format: "anthropic", body };
    const calls = uses.map((b) => ({ id: b.id, name: b.name, input: b.input }));
    const decisions = await settle(ctx, calls, calls.map((c) => decide(c, ctx)));
    const texts: ContentBlock[] = [];
    const kept: ContentBlock[] = [];
    decisions.forEach((d, i) => {
      const block = uses[i] as ToolUseBlock;
      switch (d.action) {
        case "allow":
          kept.push(block);
          return;
        case "rewrite":
          kept.push({ ...block, input: d.input });
          return;
        case "block":
          texts.push({ type: "text", text: textOf(calls[i] as ToolCall, d), citations: null });
          return;
        default: {
          const unknown: never = d;
          throw new Error(`unknown decision ${JSON.stringify(unknown)}`);
        }
      }
    });
    // Tool calls trail, as in a stream: the text of blocked calls goes before the calls that remain.
    const content = [...body.content.filter((b) => b.type !== "tool_use"), ...texts, ...kept];
    const stopReason = body.stop_reason === "tool_use" && kept.length === 0 ? "end_turn" : body.stop_reason;
    return { format: "anthropic", body: { ...body, content, stop_reason: stopReason } };
  };

  return {
    name,
    mode: "FULL",
    createState: () => ({ openai: new Map(), lastChunk: undefined, nextIndex: 0, direct: new Map(), open: new Map(), held: [], kept: 0 }),
    onResponse: (response, ctx) => (response.format === "openai" ? onOpenAIResponse(response.body, ctx) : onAnthropicResponse(response.body, ctx)),
    onEvent: (event, ctx) => (event.format === "openai" ? onOpenAIChunk(event.chunk, ctx) : onAnthropicEvent(event.event, ctx)),
    async onStreamEnd(ctx) {
      // The stream ended without a finish (or message_delta): release what is still held, decided as usual.
      if (ctx.format === "anthropic") return releaseAnthropic(ctx);
      const template = ctx.state.lastChunk;
      if (template === undefined) return [];
      const out: PolicyEvent[] = [];
      for (const index of ctx.state.openai.keys()) out.push(...(await releaseOpenAIChoice(ctx, index, template)).events);
      return out;
    },
  };
}

function absorb(choice: OpenAIChoiceState, delta: ToolCallDelta): void {
  let call = choice.calls.get(delta.index);
  if (call === undefined) {
    call = { index: delta.index, id: "", name: "", arguments: "", deltas: [] };
    choice.calls.set(delta.index, call);
  }
  if (delta.id !== undefined) call.id = delta.id;
  // Names are concatenated like arguments, as the SDK accumulators do.
  if (delta.function?.name !== undefined) call.name += delta.function.name;
  if (delta.function?.arguments !== undefined) call.arguments += delta.function.arguments;
  call.deltas.push(delta);
}

function toolUseCall(h: HeldToolUse): ToolCall {
  const block = h.start.content_block;
  return { id: block.id, name: block.name, input: h.json === "" ? (block.input ?? {}) : parseJson(h.json) };
}

/** JSON text → value; "" → {}; text that is not JSON stays text. */
function parseJson(text: string): unknown {
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function jsonText(value: unknown): string {
  return JSON.stringify(value) ?? "{}";
}

/** A chunk with `template`'s id, model and timestamps (no usage) and these choices. */
function chunkFrom(template: ChatCompletionChunk, choices: ChatCompletionChunk.Choice[]): ChatCompletionChunk {
  const { choices: _choices, usage: _usage, ...base } = template;
  return { ...base, choices };
}

/** A chunk that says nothing: no choice has a delta field or a finish, and there is no usage. */
function isEmptyChunk(chunk: ChatCompletionChunk): boolean {
  if (chunk.usage !== undefined && chunk.usage !== null) return false;
  return chunk.choices.every(
    (c) => (c.finish_reason === null || c.finish_reason === undefined) && Object.values(c.delta).every((v) => v === undefined || v === null),
  );
}
