import type {
  AnthropicStreamEvent,
  ChatCompletion,
  ChatCompletionChunk,
  ContentBlock,
  Message,
  RawContentBlockDeltaEvent,
  RawContentBlockStartEvent,
  ResponsesResponse,
  ResponsesStreamEvent,
  ToolUseBlock,
} from "@luthien/wire";
import { jsonCall, jsonText, objectCall, refusalOf } from "./internal/json";
import { callIdentity, responsesCallOf, rewriteCallItem } from "./internal/responses-calls";
import { isItemScoped } from "./internal/responses-events";
import { textMessage, withOutput, type OutputItem } from "./internal/responses-output";
import { withKeepalive } from "./keepalive";
import type { Policy, PolicyContext, PolicyEvent, PolicyResponse } from "./policy";

/** One complete tool call, in any format. */
export interface ToolCall {
  /**
   * OpenAI `tool_calls[].id` (`"function_call"` for a legacy `function_call`, which has none), Anthropic
   * `tool_use.id`, Responses `call_id` (an approval request's item id).
   */
  id: string;
  name: string;
  /**
   * The arguments as an object parsed from their JSON (custom tools: their input text). Arguments that are not one
   * complete JSON object every client reads the same way never reach `decide`: the gate blocks the call.
   */
  input: unknown;
}

/** What the gate does with a decided tool call. */
type GateDecision =
  | { action: "allow" }
  /** Replace the call with a text block; `text` overrides the gate's `blockedText`. */
  | { action: "block"; reason: string; text?: string }
  /** Keep the call with new arguments (for Anthropic, an object). */
  | { action: "rewrite"; input: unknown };

/**
 * What to do with a tool call: allow, block, rewrite, or `ask` a person ({@link PolicyContext.requestApproval}):
 * the call and everything after it wait for the decision; approved, it goes out unchanged; denied, timed out or
 * cancelled, it is blocked with the approver's note as the reason.
 */
export type ToolCallDecision = GateDecision | { action: "ask"; reason: string };

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

type FunctionCallDelta = NonNullable<ChatCompletionChunk.Choice.Delta["function_call"]>;

/** A legacy `function_call` being streamed. */
interface HeldFunctionCall {
  name: string;
  arguments: string;
  deltas: FunctionCallDelta[];
}

interface OpenAIChoiceState {
  index: number;
  calls: Map<number, HeldOpenAICall>;
  fn: HeldFunctionCall | undefined;
  /** Tool-call ids seen, by the index that has them. */
  ids: Map<string, number>;
  /** Whether this choice sent text, so the text of a blocked call starts on a new paragraph. */
  sawText: boolean;
  /** Whether its finish_reason came (a tool call after it is refused). */
  finished: boolean;
}

interface HeldToolUse {
  start: RawContentBlockStartEvent & { content_block: ToolUseBlock };
  deltas: RawContentBlockDeltaEvent[];
  json: string;
  verdict: Promise<GateDecision> | undefined;
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
  /** Anthropic: input indices of tool_use blocks that stopped (a later delta for one is refused). */
  closedTools: Set<number>;
  /** Anthropic: tool_use ids seen. */
  toolIds: Set<string>;
  responses: ResponsesGateState;
}

type ResponsesEvent = ResponsesStreamEvent;
type ItemAdded = Extract<ResponsesEvent, { type: "response.output_item.added" }>;
type ItemDone = Extract<ResponsesEvent, { type: "response.output_item.done" }>;
/** The events that stream a call's arguments (function, custom tool, MCP). */
type ArgumentEvent = Extract<
  ResponsesEvent,
  {
    type:
      | "response.function_call_arguments.delta"
      | "response.function_call_arguments.done"
      | "response.custom_tool_call_input.delta"
      | "response.custom_tool_call_input.done"
      | "response.mcp_call_arguments.delta"
      | "response.mcp_call_arguments.done";
  }
>;

/** A Responses call item held from its `output_item.added` to its `output_item.done`. */
interface HeldResponsesCall {
  outputIndex: number;
  added: ItemAdded | undefined;
  /** The item's other events, in order. */
  events: ResponsesEvent[];
  done: ItemDone | undefined;
  /** The item id its events name (from the item, or the first event that names one). */
  itemId: string | undefined;
  /** The argument deltas joined, and the text of an arguments `.done` event. */
  deltas: string | undefined;
  argumentsDone: string | undefined;
  call: ToolCall | undefined;
  verdict: Promise<GateDecision> | undefined;
  /** Whether the verdict has settled (then releasing the call costs no wait). */
  settled: boolean;
}

interface DecidedResponsesCall {
  call: ToolCall;
  decision: GateDecision;
}

interface ResponsesGateState {
  /** What waits for a held call before it, in stream order: events, and the held calls themselves. */
  queue: ({ event: ResponsesEvent } | { held: HeldResponsesCall })[];
  /** Calls between their added and done events, by output index. */
  open: Map<number, HeldResponsesCall>;
  /** Output indices of calls already done: later events for them are refused. */
  closed: Set<number>;
  /** The identity of every item added, by output index: its done item must be the same item. */
  added: Map<number, string>;
  /** Decided calls by identity, for the final response. */
  decided: Map<string, DecidedResponsesCall>;
}

/**
 * A FULL-mode policy that holds every tool call until its JSON is complete, then lets `decide` allow it (released
 * unchanged), rewrite its input (released whole, with the new input), or block it (replaced by a text that says so).
 * Every format, streaming or not.
 *
 * Streams. Anthropic: a `tool_use` block is held from its start to its stop and decided then; held calls are
 * released when the message ends (`message_delta`), after the text of every blocked call, so tool_use blocks stay
 * trailing; blocks are renumbered in output order. OpenAI: a choice's tool-call deltas are held until its
 * `finish_reason` (or the end of the stream); then the text of blocked calls goes out as one content delta, the
 * remaining calls follow with indices renumbered 0..n-1 in order, then the finish. Whole responses get the same
 * decisions. The legacy OpenAI `function_call` (message field, `delta.function_call`, finish `function_call`) is a
 * call like the others. When no call remains, `tool_use` becomes `end_turn` and `tool_calls` / `function_call`
 * become `stop`; every other stop or finish reason is kept.
 *
 * The gate decides the call a client runs, or none. Arguments are decided only when every client reads them the
 * same way (one complete JSON object: see `parseToolArguments`); anything else — truncated, trailing text, not an
 * object, duplicate or `__proto__` keys — is blocked without asking `decide` (event reason "... refused: ...").
 * A call whose identity clients could read differently fails the whole call (a throw, which the engine turns into a
 * failed call): OpenAI — a name in more than one delta of an index, a first delta without a name (arguments before
 * the name), an id that changes, an id on two indices, a non-function `type`, a call after its choice's finish,
 * `function_call` and `tool_calls` in one choice, two calls with one id; Anthropic — a `tool_use` in
 * `message_start`, input both in a `tool_use` start and in `input_json_delta` events, another delta kind in a
 * tool_use block, a start, delta or stop for a tool_use index that is still open or already stopped, two blocks with
 * one id.
 *
 * Responses. Every item kind a client executes is a call (function, custom tool, local shell, shell, apply_patch,
 * computer, MCP approval requests, client-side tool search: see `responsesCallOf` for the names and inputs
 * `decide` sees). From a call item's `response.output_item.added`, its events and everything after them are held
 * until its `response.output_item.done`, then it is decided on the done item (its id, call id and name must match
 * across added, argument and done events, and the streamed arguments — the added item's, then the deltas, as
 * openai-node joins them — must be the done item's, or the call fails).
 * Allowed: its events go out unchanged. Blocked: a message item with the blocked text takes its place at the same
 * output index (added, content part, text delta and done events). Rewritten: the item goes out with the new input in
 * one arguments delta. The final response (`response.completed`, `.incomplete`, `.failed`) gets the same decisions,
 * so clients that read only it run what the stream said; a call it has that the stream did not is decided then.
 * `status` is kept. Whole responses: blocked items are replaced in place, rewrites applied.
 *
 * Events: `blocked {tool, id, reason}`, `rewritten {tool, id}`, and `allowed {tool, id}` with `emitAllowed`.
 */
export function createToolCallGate(options: ToolCallGateOptions): Policy<GateState> {
  const { name } = options;
  const keepaliveMs = options.keepaliveMs ?? 1000;
  const blockedText = options.blockedText ?? ((call, reason) => `⛔ BLOCKED by ${name}: the ${call.name} tool call was not run. Reason: ${reason}`);

  /** Holds the call for a person: approved, it runs as it is; anything else blocks it, saying why. */
  const ask = async (call: ToolCall, reason: string, ctx: ToolCallContext): Promise<GateDecision> => {
    const outcome = await ctx.requestApproval({ tool: call.name, toolCallId: call.id, input: call.input, reason });
    if (outcome.approved) {
      // A shadow policy is "approved" at once; the chain already recorded that it would have held the call.
      if (!ctx.shadow) ctx.emit("approved", { tool: call.name, id: call.id, by: outcome.by, via: outcome.via });
      return { action: "allow" };
    }
    const note = outcome.note === "" ? "" : `: ${outcome.note}`;
    switch (outcome.reason) {
      case "denied":
        return { action: "block", reason: `denied by ${outcome.by === "" ? "the approver" : outcome.by}${note} (held because ${reason})` };
      case "expired":
        return { action: "block", reason: `no one approved it in time (held because ${reason})` };
      case "cancelled":
      case "unavailable":
        return { action: "block", reason: `it needed approval and none could be given${note} (held because ${reason})` };
      default: {
        const unknown: never = outcome.reason;
        throw new Error(`${name}: unknown approval outcome ${JSON.stringify(unknown)}`);
      }
    }
  };

  const decide = (call: ToolCall, ctx: ToolCallContext): Promise<GateDecision> => {
    // Arguments clients could read another way (truncated, not an object, ...) are never decided: blocked.
    const refusal = refusalOf(call);
    const verdict =
      refusal !== undefined
        ? Promise.resolve<GateDecision>({ action: "block", reason: `the ${call.name} call was refused: ${refusal}` })
        : Promise.resolve()
            .then(() => options.decide(call, ctx))
            .then((d) => (d.action === "ask" ? ask(call, d.reason, ctx) : d));
    // Decisions may settle before anyone awaits them; their failure is reported where they are awaited.
    verdict.catch(() => undefined);
    return verdict;
  };

  /** Awaits the verdicts (with keepalives) and records them as activity events. */
  const settle = async (ctx: ToolCallContext, calls: readonly ToolCall[], verdicts: Promise<GateDecision>[]): Promise<GateDecision[]> => {
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
  const textOf = (call: ToolCall, d: Extract<GateDecision, { action: "block" }>): string => d.text ?? blockedText(call, d.reason);

  // --- OpenAI ---

  /**
   * Fails the call: the stream names a tool call in a way two clients could read as different calls, so deciding
   * one reading would let a client run another.
   */
  // Typed explicitly, so that a call narrows like a throw.
  const ambiguous: (why: string) => never = (why) => {
    throw new Error(`${name}: ${why}; clients could read the tool call differently, so the call fails`);
  };

  /**
   * Takes one tool-call delta into its call. Clients disagree about everything but a plain call: openai-node's
   * ChatCompletionStream keeps the last non-empty name and id of an index and joins the arguments; the AI SDK's
   * StreamingToolCallTracker keeps the first name and id, starts a new call when a delta names a tool again after
   * complete arguments, and drops a first delta without a name. So the gate takes only what both read as one call:
   * the first delta of an index names the tool (and carries the id, when there is one); later deltas carry only
   * arguments (an empty name or id, or the same id again, is tolerated); an id belongs to one index; the index is
   * a non-negative integer; `type`, when present, is `function`; arguments are strings. Anything else throws.
   */
  const absorb = (choice: OpenAIChoiceState, delta: ToolCallDelta): void => {
    const { index } = delta;
    if (!Number.isSafeInteger(index) || index < 0) ambiguous(`a tool-call delta has index ${JSON.stringify(index)}`);
    if (choice.fn !== undefined) ambiguous(`choice ${choice.index} has both a function_call and tool_calls`);
    if (delta.type !== undefined && delta.type !== null && delta.type !== "function") ambiguous(`tool call ${index} has type ${JSON.stringify(delta.type)}`);
    const args = argumentText(delta.function?.arguments, `tool call ${index}`);
    const id = nonEmpty(delta.id);
    let call = choice.calls.get(index);
    if (call === undefined) {
      const first = delta.function?.name;
      if (typeof first !== "string" || first.trim() === "") return ambiguous(`tool call ${index} starts without a name`);
      if (id !== undefined) {
        const other = choice.ids.get(id);
        if (other !== undefined) ambiguous(`tool calls ${other} and ${index} have the same id ${JSON.stringify(id)}`);
        choice.ids.set(id, index);
      }
      call = { index, id: id ?? "", name: first, arguments: "", deltas: [] };
      choice.calls.set(index, call);
    } else {
      if (nonEmpty(delta.function?.name) !== undefined) ambiguous(`tool call ${index} is named again in a later delta`);
      if (id !== undefined && id !== call.id) ambiguous(`tool call ${index} changes its id from ${JSON.stringify(call.id)} to ${JSON.stringify(id)}`);
    }
    call.arguments += args;
    call.deltas.push(delta);
  };

  /** The legacy `delta.function_call`, held like a tool call and under the same rules (openai-node joins it the same way). */
  const absorbFunctionCall = (choice: OpenAIChoiceState, delta: FunctionCallDelta): void => {
    if (choice.calls.size > 0) ambiguous(`choice ${choice.index} has both tool_calls and a function_call`);
    const args = argumentText(delta.arguments, "the function_call");
    if (choice.fn === undefined) {
      const first = delta.name;
      if (typeof first !== "string" || first.trim() === "") return ambiguous("the function_call starts without a name");
      choice.fn = { name: first, arguments: "", deltas: [] };
    } else if (nonEmpty(delta.name) !== undefined) ambiguous("the function_call is named again in a later delta");
    choice.fn.arguments += args;
    choice.fn.deltas.push(delta);
  };

  const argumentText = (args: unknown, what: string): string => {
    if (args === undefined || args === null) return "";
    if (typeof args !== "string") return ambiguous(`${what} has arguments that are not a string`);
    return args;
  };

  const releaseOpenAIChoice = async (ctx: PolicyContext<GateState>, choiceIndex: number, template: ChatCompletionChunk): Promise<{ events: PolicyEvent[]; kept: number }> => {
    const choice = ctx.state.openai.get(choiceIndex);
    if (choice === undefined || (choice.calls.size === 0 && choice.fn === undefined)) return { events: [], kept: 0 };
    const held = [...choice.calls.values()].sort((a, b) => a.index - b.index);
    const fn = choice.fn;
    choice.calls.clear();
    choice.fn = undefined;
    const fnCall = fn === undefined ? [] : [jsonCall(FUNCTION_CALL_ID, fn.name, fn.arguments)];
    const calls = [...fnCall, ...held.map((h) => jsonCall(h.id, h.name, h.arguments))];
    const decisions = await settle(
      ctx,
      calls,
      calls.map((c) => decide(c, ctx)),
    );
    const make = (delta: ChatCompletionChunk.Choice.Delta): PolicyEvent => ({
      format: "openai",
      chunk: chunkFrom(template, [{ index: choiceIndex, delta, finish_reason: null, logprobs: null }]),
    });
    const texts: string[] = [];
    const tools: PolicyEvent[] = [];
    let kept = 0;
    decisions.forEach((d, i) => {
      const call = calls[i] as ToolCall;
      if (d.action === "block") {
        texts.push(textOf(call, d));
        return;
      }
      if (fn !== undefined && i === 0) {
        if (d.action === "allow") for (const delta of fn.deltas) tools.push(make({ function_call: delta }));
        else tools.push(make({ function_call: { name: fn.name, arguments: jsonText(d.input) } }));
        kept++;
        return;
      }
      const h = held[i - fnCall.length] as HeldOpenAICall;
      switch (d.action) {
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
        cs = { index: choice.index, calls: new Map(), fn: undefined, ids: new Map(), sawText: false, finished: false };
        state.openai.set(choice.index, cs);
      }
      const { tool_calls: toolCalls, function_call: functionCall, ...rest } = choice.delta;
      const calls = (toolCalls !== undefined && toolCalls !== null) || (functionCall !== undefined && functionCall !== null);
      // openai-node would add a late call to the finished message; the gate decided without it.
      if (cs.finished && calls) ambiguous(`choice ${choice.index} sends a tool call after its finish_reason`);
      if (typeof rest.content === "string" && rest.content !== "") cs.sawText = true;
      const finishing = choice.finish_reason !== null && choice.finish_reason !== undefined;
      if (finishing && (cs.calls.size > 0 || cs.fn !== undefined || calls)) ending.push(choice.index);
      if (!calls) {
        if (finishing) cs.finished = true;
        return choice;
      }
      heldSome = true;
      for (const tc of toolCalls ?? []) absorb(cs, tc);
      if (functionCall !== undefined && functionCall !== null) absorbFunctionCall(cs, functionCall);
      if (finishing) cs.finished = true;
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
      finishes.push({ index, delta: {}, finish_reason: finishAfter(original.finish_reason, kept), logprobs: original.logprobs ?? null });
    }
    out.push({ format: "openai", chunk: { ...chunkFrom(chunk, finishes), ...(usage !== undefined && usage !== null ? { usage } : {}) } });
    return out;
  };

  const onOpenAIResponse = async (body: ChatCompletion, ctx: PolicyContext<GateState>): Promise<PolicyResponse> => {
    /** Per choice: its legacy function_call (decided first), then its tool calls. */
    const perChoice = body.choices.map((choice) => {
      const m = choice.message;
      const fc = m.function_call;
      const toolCalls = m.tool_calls ?? [];
      if (fc !== undefined && fc !== null && toolCalls.length > 0) ambiguous(`choice ${choice.index} has both tool_calls and a function_call`);
      const ids = new Set<string>();
      for (const tc of toolCalls) {
        if (ids.has(tc.id)) ambiguous(`choice ${choice.index} has two tool calls with the id ${JSON.stringify(tc.id)}`);
        ids.add(tc.id);
      }
      return {
        fn: fc !== undefined && fc !== null ? jsonCall(FUNCTION_CALL_ID, fc.name, fc.arguments) : undefined,
        tools: toolCalls.map((tc) => (tc.type === "function" ? jsonCall(tc.id, tc.function.name, tc.function.arguments) : { id: tc.id, name: tc.custom.name, input: tc.custom.input })),
      };
    });
    const calls = perChoice.flatMap((p) => [...(p.fn !== undefined ? [p.fn] : []), ...p.tools]);
    if (calls.length === 0) return { format: "openai", body };
    const decisions = await settle(
      ctx,
      calls,
      calls.map((c) => decide(c, ctx)),
    );
    let n = 0;
    const choices = body.choices.map((choice, c) => {
      const { tool_calls: toolCalls, function_call: functionCall, ...message } = choice.message;
      const p = perChoice[c] as (typeof perChoice)[number];
      if (p.fn === undefined && p.tools.length === 0) return choice;
      const texts: string[] = [];
      let fnKept: ChatCompletion.Choice["message"]["function_call"];
      if (p.fn !== undefined && functionCall !== undefined && functionCall !== null) {
        const d = decisions[n++] as GateDecision;
        if (d.action === "block") texts.push(textOf(p.fn, d));
        else fnKept = d.action === "allow" ? functionCall : { name: functionCall.name, arguments: jsonText(d.input) };
      }
      const kept: NonNullable<typeof toolCalls> = [];
      for (const tc of toolCalls ?? []) {
        const d = decisions[n] as GateDecision;
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
            kept.push(
              tc.type === "function"
                ? { ...tc, function: { ...tc.function, arguments: jsonText(d.input) } }
                : { ...tc, custom: { ...tc.custom, input: typeof d.input === "string" ? d.input : jsonText(d.input) } },
            );
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
        finish_reason: finishAfter(choice.finish_reason, kept.length + (fnKept !== undefined ? 1 : 0)),
        message: { ...message, content, ...(kept.length > 0 ? { tool_calls: kept } : {}), ...(fnKept !== undefined ? { function_call: fnKept } : {}) },
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
    const decisions = await settle(
      ctx,
      calls,
      held.map((h, i) => h.verdict ?? decide(calls[i] as ToolCall, ctx)),
    );
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
        // The SDK's MessageStream starts from this message: a tool_use in it would never pass the hold.
        if ((event.message.content ?? []).some((b) => b.type === "tool_use")) ambiguous("message_start already carries a tool_use block");
        return pass(event);
      case "ping":
        return pass(event);
      case "content_block_start": {
        // A start may reuse an index: it begins a new block (as the gateway's stream builder reads it) — but not
        // while a tool_use block holds that index, whose later events would then belong to two blocks.
        if (state.open.has(event.index)) ambiguous(`block ${event.index} starts again while its tool_use block is open`);
        state.direct.delete(event.index);
        state.closedTools.delete(event.index);
        if (event.content_block.type === "tool_use") {
          const { id } = event.content_block;
          if (state.toolIds.has(id)) ambiguous(`two tool_use blocks have the id ${JSON.stringify(id)}`);
          state.toolIds.add(id);
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
          // The SDK drops other deltas of a tool_use block, and reads `input` from the deltas alone once one
          // comes (its start's input is then lost): a call must not say its input two ways.
          if (event.delta.type !== "input_json_delta") ambiguous(`a ${event.delta.type} in tool_use block ${event.index}`);
          if (!isEmptyInput(h.start.content_block.input)) ambiguous(`tool_use block ${event.index} has input both in its start and in input_json_delta events`);
          h.deltas.push(event);
          h.json += event.delta.partial_json;
          return [];
        }
        if (state.closedTools.has(event.index)) ambiguous(`a delta for tool_use block ${event.index} after its stop`);
        const index = state.direct.get(event.index);
        return pass(index === undefined ? event : { ...event, index });
      }
      case "content_block_stop": {
        const h = state.open.get(event.index);
        if (h !== undefined) {
          // Complete: start deciding now, so judges of several calls overlap with the rest of the stream.
          state.open.delete(event.index);
          state.closedTools.add(event.index);
          h.verdict = decide(toolUseCall(h), ctx);
          return [];
        }
        if (state.closedTools.has(event.index)) ambiguous(`a second stop for tool_use block ${event.index}`);
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
    const ids = new Set<string>();
    for (const b of uses) {
      if (ids.has(b.id)) ambiguous(`two tool_use blocks have the id ${JSON.stringify(b.id)}`);
      ids.add(b.id);
    }
    const calls = uses.map((b) => objectCall(b.id, b.name, b.input));
    const decisions = await settle(
      ctx,
      calls,
      calls.map((c) => decide(c, ctx)),
    );
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

  // --- Responses ---

  /** The output with every call decided (`known` decisions reused, the rest decided now) and applied in place. */
  const gateOutput = async (ctx: PolicyContext<GateState>, output: OutputItem[], known: Map<string, DecidedResponsesCall> | undefined): Promise<OutputItem[]> => {
    const found: { index: number; call: ToolCall; known: DecidedResponsesCall | undefined }[] = [];
    for (const [index, item] of output.entries()) {
      const call = responsesCallOf(item);
      if (call === undefined) continue;
      const k = known?.get(callIdentity(item));
      // The final response must say what the stream said: a call it changed would run undecided.
      if (k !== undefined && jsonText(k.call.input) !== jsonText(call.input)) {
        throw new Error(`${name}: the final response's ${item.type} ${call.id} differs from the streamed one`);
      }
      found.push({ index, call, known: k });
    }
    if (found.length === 0) return output;
    const fresh = found.filter((f) => f.known === undefined);
    const decisions = await settle(
      ctx,
      fresh.map((f) => f.call),
      fresh.map((f) => decide(f.call, ctx)),
    );
    const byIndex = new Map<number, GateDecision>();
    fresh.forEach((f, i) => byIndex.set(f.index, decisions[i] as GateDecision));
    for (const f of found) if (f.known !== undefined) byIndex.set(f.index, f.known.decision);
    return output.map((item, index) => {
      const d = byIndex.get(index);
      if (d === undefined) return item;
      const call = responsesCallOf(item) as ToolCall;
      switch (d.action) {
        case "allow":
          return item;
        case "block":
          return textMessage(blockedMessageId(item, call), textOf(call, d));
        case "rewrite":
          return rewriteCallItem(item, d.input);
        default: {
          const unknown: never = d;
          throw new Error(`unknown decision ${JSON.stringify(unknown)}`);
        }
      }
    });
  };

  const onResponsesResponse = async (body: ResponsesResponse, ctx: PolicyContext<GateState>): Promise<PolicyResponse> => {
    const output = await gateOutput(ctx, body.output, undefined);
    return { format: "responses", body: output === body.output ? body : withOutput(body, output) };
  };

  /** The events that go out for a decided call: its own, a message in its place, or the rewritten call. */
  const releaseResponsesCall = (held: HeldResponsesCall, d: GateDecision): ResponsesEvent[] => {
    const call = held.call as ToolCall;
    const item = (held.done?.item ?? held.added?.item) as OutputItem;
    const seq = held.done?.sequence_number ?? held.added?.sequence_number ?? 0;
    const own = (): ResponsesEvent[] => [...(held.added !== undefined ? [held.added] : []), ...held.events, ...(held.done !== undefined ? [held.done] : [])];
    switch (d.action) {
      case "allow":
        return own();
      case "block":
        return blockedMessageEvents(blockedMessageId(item, call), held.outputIndex, textOf(call, d), seq);
      case "rewrite": {
        const rewritten = rewriteCallItem(item, d.input);
        const itemId = held.itemId ?? ("id" in rewritten && typeof rewritten.id === "string" ? rewritten.id : "");
        const base = { item_id: itemId, output_index: held.outputIndex, sequence_number: seq };
        const out: ResponsesEvent[] = [];
        const start = held.added !== undefined ? rewriteCallItem(held.added.item, d.input) : rewritten;
        let args: ResponsesEvent[] = [];
        if (rewritten.type === "function_call") {
          args = [
            { type: "response.function_call_arguments.delta", ...base, delta: rewritten.arguments },
            { type: "response.function_call_arguments.done", ...base, name: rewritten.name, arguments: rewritten.arguments },
          ];
          out.push({ type: "response.output_item.added", output_index: held.outputIndex, sequence_number: seq, item: { ...rewritten, arguments: "", ...statusOf(start) } });
        } else if (rewritten.type === "custom_tool_call") {
          args = [
            { type: "response.custom_tool_call_input.delta", ...base, delta: rewritten.input },
            { type: "response.custom_tool_call_input.done", ...base, input: rewritten.input },
          ];
          out.push({ type: "response.output_item.added", output_index: held.outputIndex, sequence_number: seq, item: { ...rewritten, input: "" } });
        } else {
          out.push({ type: "response.output_item.added", output_index: held.outputIndex, sequence_number: seq, item: start });
        }
        out.push(...held.events.filter((e) => !isArgumentEvent(e)), ...args);
        out.push({ type: "response.output_item.done", output_index: held.outputIndex, sequence_number: seq, item: rewritten });
        return out;
      }
      default: {
        const unknown: never = d;
        throw new Error(`unknown decision ${JSON.stringify(unknown)}`);
      }
    }
  };

  /**
   * Sends what no held call blocks any more, in order; the final response gets the calls' decisions. With `wait`,
   * waits for the verdicts of complete calls (the response is ending); without, stops at the first one still
   * being decided, so a slow judge holds the stream only from that call on while the next calls stream and are
   * judged too.
   */
  const flushResponses = async (ctx: PolicyContext<GateState>, wait: boolean): Promise<PolicyEvent[]> => {
    const rs = ctx.state.responses;
    const out: ResponsesEvent[] = [];
    for (let head = rs.queue[0]; head !== undefined; head = rs.queue[0]) {
      if ("held" in head) {
        const { held } = head;
        if (held.verdict === undefined || (!wait && !held.settled)) break;
        const [d] = await settle(ctx, [held.call as ToolCall], [held.verdict]);
        const decision = d as GateDecision;
        const item = held.done?.item ?? held.added?.item;
        if (item !== undefined) rs.decided.set(callIdentity(item), { call: held.call as ToolCall, decision });
        out.push(...releaseResponsesCall(held, decision));
      } else {
        out.push(await finalResponsesEvent(ctx, head.event));
      }
      rs.queue.shift();
    }
    return out.map((event) => ({ format: "responses", event }));
  };

  const finalResponsesEvent = async (ctx: PolicyContext<GateState>, event: ResponsesEvent): Promise<ResponsesEvent> => {
    switch (event.type) {
      case "response.completed":
      case "response.incomplete":
      case "response.failed": {
        const output = await gateOutput(ctx, event.response.output, ctx.state.responses.decided);
        return output === event.response.output ? event : { ...event, response: withOutput(event.response, output) };
      }
      default:
        return event;
    }
  };

  /** Checks that an event of a held call names the call's item; the first event that names one sets it. */
  const sameItem = (held: HeldResponsesCall, itemId: string, what: string): void => {
    if (held.itemId === undefined) held.itemId = itemId;
    else if (held.itemId !== itemId) {
      throw new Error(`${name}: ${what} for item ${itemId} at output index ${held.outputIndex}, which holds item ${held.itemId}`);
    }
  };

  const holdCall = (rs: ResponsesGateState, outputIndex: number, added: ItemAdded | undefined): HeldResponsesCall => {
    if (rs.open.has(outputIndex) || rs.closed.has(outputIndex)) throw new Error(`${name}: a second call item at output index ${outputIndex}`);
    const id = added !== undefined && "id" in added.item && typeof added.item.id === "string" ? added.item.id : undefined;
    const held: HeldResponsesCall = {
      outputIndex,
      added,
      events: [],
      done: undefined,
      itemId: id,
      deltas: undefined,
      argumentsDone: undefined,
      call: undefined,
      verdict: undefined,
      settled: false,
    };
    rs.open.set(outputIndex, held);
    rs.queue.push({ held });
    return held;
  };

  /** The item's streamed arguments, checked against what its done item says (a call must not read two ways). */
  const argumentsOf = (item: OutputItem): string | undefined => {
    switch (item.type) {
      case "function_call":
      case "mcp_approval_request":
        return item.arguments;
      case "custom_tool_call":
        return item.input;
      default:
        return undefined;
    }
  };

  /**
   * The arguments a client that joins events has for a held call: what its added item already had, then the
   * deltas (openai-node appends the deltas to the added item's arguments; clients that read the done item take
   * that). Undefined when neither said anything.
   */
  const streamedArguments = (held: HeldResponsesCall): string | undefined => {
    const start = held.added !== undefined ? argumentsOf(held.added.item) : undefined;
    if (held.deltas === undefined) return start === undefined || start === "" ? undefined : start;
    return (start ?? "") + held.deltas;
  };

  const completeCall = (ctx: PolicyContext<GateState>, held: HeldResponsesCall, item: OutputItem): Promise<unknown> => {
    const label = `${item.type} at output index ${held.outputIndex}`;
    if (held.added !== undefined && callIdentity(held.added.item) !== callIdentity(item)) {
      throw new Error(`${name}: the ${label} changed identity between its added and done events`);
    }
    if ("id" in item && typeof item.id === "string") sameItem(held, item.id, "the done item");
    const args = argumentsOf(item);
    for (const streamed of [streamedArguments(held), held.argumentsDone]) {
      if (streamed !== undefined && streamed !== args) throw new Error(`${name}: the ${label} streamed other arguments than its done item has`);
    }
    const call = responsesCallOf(item);
    if (call === undefined) throw new Error(`${name}: the ${label} is no longer a call`);
    return startVerdict(ctx, held, call);
  };

  const startVerdict = (ctx: PolicyContext<GateState>, held: HeldResponsesCall, call: ToolCall): Promise<unknown> => {
    held.call = call;
    const verdict = decide(call, ctx);
    held.verdict = verdict;
    return verdict.then(
      () => void (held.settled = true),
      () => void (held.settled = true),
    );
  };

  const onResponsesEvent = async (event: ResponsesEvent, ctx: PolicyContext<GateState>): Promise<PolicyEvent[]> => {
    const rs = ctx.state.responses;
    const pass = async (): Promise<PolicyEvent[]> => {
      rs.queue.push({ event });
      // The response's end (or an error) goes out only after every call before it is decided.
      return flushResponses(ctx, isTerminal(event));
    };
    switch (event.type) {
      case "response.output_item.added": {
        rs.added.set(event.output_index, callIdentity(event.item));
        if (responsesCallOf(event.item) === undefined) return pass();
        holdCall(rs, event.output_index, event);
        return [];
      }
      case "response.output_item.done": {
        const added = rs.added.get(event.output_index);
        // An item added as one thing (a message) and done as another (a call) would reach the client half ungated.
        if (added !== undefined && added !== callIdentity(event.item)) {
          throw new Error(`${name}: the ${event.item.type} at output index ${event.output_index} changed identity between its added and done events`);
        }
        let held = rs.open.get(event.output_index);
        if (held === undefined) {
          if (responsesCallOf(event.item) === undefined && !rs.closed.has(event.output_index)) return pass();
          // A call that was never announced is decided all the same.
          held = holdCall(rs, event.output_index, undefined);
        }
        rs.open.delete(event.output_index);
        rs.closed.add(event.output_index);
        held.done = event;
        const settled = completeCall(ctx, held, event.item);
        // A quick decision (a rule, not a judge) settles within a turn: release the call at once.
        await Promise.race([settled, new Promise((resolve) => setImmediate(resolve))]);
        return flushResponses(ctx, false);
      }
      case "response.function_call_arguments.delta":
      case "response.custom_tool_call_input.delta":
      case "response.mcp_call_arguments.delta":
      case "response.function_call_arguments.done":
      case "response.custom_tool_call_input.done":
      case "response.mcp_call_arguments.done": {
        const held = rs.open.get(event.output_index);
        if (held === undefined) {
          // MCP calls run on the provider's side and are not held; any other arguments need their call item.
          if (event.type.startsWith("response.mcp_call_arguments.") && !rs.closed.has(event.output_index)) return pass();
          throw new Error(`${name}: ${event.type} at output index ${event.output_index} outside an open call item`);
        }
        sameItem(held, event.item_id, event.type);
        switch (event.type) {
          case "response.function_call_arguments.delta":
          case "response.custom_tool_call_input.delta":
          case "response.mcp_call_arguments.delta":
            held.deltas = (held.deltas ?? "") + event.delta;
            break;
          case "response.function_call_arguments.done": {
            const item = held.added?.item;
            if (item !== undefined && item.type === "function_call" && item.name !== event.name) {
              throw new Error(`${name}: the function_call at output index ${held.outputIndex} is named ${item.name}, its arguments ${event.name}`);
            }
            held.argumentsDone = event.arguments;
            break;
          }
          case "response.custom_tool_call_input.done":
            held.argumentsDone = event.input;
            break;
          case "response.mcp_call_arguments.done":
            held.argumentsDone = event.arguments;
            break;
          default: {
            const unknown: never = event;
            throw new Error(`unknown argument event ${JSON.stringify(unknown)}`);
          }
        }
        held.events.push(event);
        return [];
      }
      case "response.created":
      case "response.in_progress":
      case "response.queued":
        // Snapshots of a response in progress have no output yet; a call in one would reach the client undecided.
        if (event.response.output.some((item) => responsesCallOf(item) !== undefined)) {
          throw new Error(`${name}: ${event.type} already carries a call item`);
        }
        return pass();
      case "response.completed":
      case "response.incomplete":
      case "response.failed":
      case "error":
        return pass();
      default: {
        if (!isItemScoped(event)) return pass();
        // Events of one item: a held call's stay with it; a finished call's must not come any more.
        const held = rs.open.get(event.output_index);
        if (held !== undefined) {
          sameItem(held, event.item_id, event.type);
          held.events.push(event);
          return [];
        }
        if (rs.closed.has(event.output_index)) throw new Error(`${name}: ${event.type} for the call at output index ${event.output_index} after its done event`);
        return pass();
      }
    }
  };

  /** The stream ended: calls still open are decided on what arrived, then everything held goes out. */
  const endResponses = async (ctx: PolicyContext<GateState>): Promise<PolicyEvent[]> => {
    const rs = ctx.state.responses;
    for (const held of rs.open.values()) {
      const item = held.added?.item as OutputItem;
      const streamed = streamedArguments(held);
      const soFar = streamed === undefined && held.argumentsDone === undefined ? item : withArguments(item, held.argumentsDone ?? streamed ?? "");
      void startVerdict(ctx, held, responsesCallOf(soFar) as ToolCall);
    }
    rs.open.clear();
    return flushResponses(ctx, true);
  };

  return {
    name,
    mode: "FULL",
    createState: () => ({
      openai: new Map(),
      lastChunk: undefined,
      nextIndex: 0,
      direct: new Map(),
      open: new Map(),
      held: [],
      kept: 0,
      closedTools: new Set(),
      toolIds: new Set(),
      responses: { queue: [], open: new Map(), closed: new Set(), added: new Map(), decided: new Map() },
    }),
    onResponse(response, ctx) {
      switch (response.format) {
        case "openai":
          return onOpenAIResponse(response.body, ctx);
        case "anthropic":
          return onAnthropicResponse(response.body, ctx);
        case "responses":
          return onResponsesResponse(response.body, ctx);
        default: {
          const unknown: never = response;
          throw new Error(`unknown response format ${JSON.stringify(unknown)}`);
        }
      }
    },
    onEvent(event, ctx) {
      switch (event.format) {
        case "openai":
          return onOpenAIChunk(event.chunk, ctx);
        case "anthropic":
          return onAnthropicEvent(event.event, ctx);
        case "responses":
          return onResponsesEvent(event.event, ctx);
        default: {
          const unknown: never = event;
          throw new Error(`unknown event format ${JSON.stringify(unknown)}`);
        }
      }
    },
    async onStreamEnd(ctx) {
      // The stream ended without a finish (or message_delta, or a call's done): release what is still held, decided as usual.
      switch (ctx.format) {
        case "anthropic":
          return releaseAnthropic(ctx);
        case "responses":
          return endResponses(ctx);
        case "openai": {
          const template = ctx.state.lastChunk;
          if (template === undefined) return [];
          const out: PolicyEvent[] = [];
          for (const index of ctx.state.openai.keys()) out.push(...(await releaseOpenAIChoice(ctx, index, template)).events);
          return out;
        }
        default: {
          const unknown: never = ctx.format;
          throw new Error(`unknown format ${String(unknown)}`);
        }
      }
    },
  };
}

/** The id of the message that replaces a blocked call item (derived, so the stream and the final response agree). */
function blockedMessageId(item: OutputItem, call: ToolCall): string {
  const id = "id" in item && typeof item.id === "string" ? item.id : call.id;
  return `msg_blocked_${id}`;
}

/** The events of a message with one output_text part, streamed at `outputIndex` in place of a blocked call. */
function blockedMessageEvents(id: string, outputIndex: number, text: string, seq: number): ResponsesStreamEvent[] {
  const part = { item_id: id, output_index: outputIndex, content_index: 0, sequence_number: seq };
  return [
    { type: "response.output_item.added", output_index: outputIndex, sequence_number: seq, item: textMessage(id, text, "in_progress") },
    { type: "response.content_part.added", ...part, part: { type: "output_text", text: "", annotations: [], logprobs: [] } },
    { type: "response.output_text.delta", ...part, delta: text, logprobs: [] },
    { type: "response.output_text.done", ...part, text, logprobs: [] },
    { type: "response.content_part.done", ...part, part: { type: "output_text", text, annotations: [], logprobs: [] } },
    { type: "response.output_item.done", output_index: outputIndex, sequence_number: seq, item: textMessage(id, text) },
  ];
}

function isTerminal(e: ResponsesStreamEvent): boolean {
  return e.type === "response.completed" || e.type === "response.incomplete" || e.type === "response.failed" || e.type === "error";
}

function isArgumentEvent(e: ResponsesStreamEvent): e is ArgumentEvent {
  switch (e.type) {
    case "response.function_call_arguments.delta":
    case "response.function_call_arguments.done":
    case "response.custom_tool_call_input.delta":
    case "response.custom_tool_call_input.done":
    case "response.mcp_call_arguments.delta":
    case "response.mcp_call_arguments.done":
      return true;
    default:
      return false;
  }
}

/** A function call keeps its in-progress status in its added event. */
function statusOf(item: OutputItem): { status?: "in_progress" | "completed" | "incomplete" } {
  return item.type === "function_call" && item.status !== undefined ? { status: item.status } : {};
}

/** The call item with the arguments streamed so far (for a call whose done event never came). */
function withArguments(item: OutputItem, args: string): OutputItem {
  switch (item.type) {
    case "function_call":
    case "mcp_approval_request":
      return { ...item, arguments: args };
    case "custom_tool_call":
      return { ...item, input: args };
    default:
      return item;
  }
}

/** The id `decide` sees for a legacy `function_call`, which has none of its own. */
export const FUNCTION_CALL_ID = "function_call";

/** `tool_calls` and `function_call` finish as `stop` when the gate removed every call; other reasons stay. */
function finishAfter<R extends string | null>(reason: R, kept: number): R | "stop" {
  return (reason === "tool_calls" || reason === "function_call") && kept === 0 ? "stop" : reason;
}

/** A string with something in it, else undefined (the SDKs ignore empty names and ids). */
function nonEmpty(x: unknown): string | undefined {
  return typeof x === "string" && x !== "" ? x : undefined;
}

function isEmptyInput(input: unknown): boolean {
  return input === undefined || input === null || (typeof input === "object" && Object.keys(input).length === 0);
}

/**
 * The call of a held tool_use block as the Anthropic SDK reads it: without deltas, its start's input; with deltas,
 * their JSON alone (refused unless it is one complete object, see `parseToolArguments`).
 */
function toolUseCall(h: HeldToolUse): ToolCall {
  const block = h.start.content_block;
  return h.deltas.length === 0 ? objectCall(block.id, block.name, block.input ?? {}) : jsonCall(block.id, block.name, h.json);
}

/** A chunk with `template`'s id, model and timestamps (no usage) and these choices. */
function chunkFrom(template: ChatCompletionChunk, choices: ChatCompletionChunk.Choice[]): ChatCompletionChunk {
  const { choices: _choices, usage: _usage, ...base } = template;
  return { ...base, choices };
}

/** A chunk that says nothing: no choice has a delta field or a finish, and there is no usage. */
function isEmptyChunk(chunk: ChatCompletionChunk): boolean {
  if (chunk.usage !== undefined && chunk.usage !== null) return false;
  return chunk.choices.every((c) => (c.finish_reason === null || c.finish_reason === undefined) && Object.values(c.delta).every((v) => v === undefined || v === null));
}
