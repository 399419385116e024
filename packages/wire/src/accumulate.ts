import { accumulateResponse } from "openai/lib/responses/ResponseAccumulator";
import type { AnthropicStreamEvent, ContentBlock, Message } from "./anthropic";
import { StreamProtocolError } from "./errors";
import type { ChatCompletion, ChatCompletionChunk } from "./openai";
import { RESPONSES_EVENT_TYPES, type ResponsesResponse, type ResponsesStreamEvent } from "./openai-responses";

/** Builds the whole response a stream amounts to, for records and diffs. */
export interface StreamAccumulator<E, R> {
  /** @throws StreamProtocolError on an event that cannot follow the ones before it */
  push(event: E): void;
  /** The response so far (complete once the stream ended cleanly); undefined before the first event. */
  result(): R | undefined;
}

/**
 * OpenAI chunks → a `chat.completion`: per choice its role, content, refusal, tool calls (by index, arguments
 * concatenated) and finish reason; usage from the usage chunk.
 */
export function createOpenAIAccumulator(): StreamAccumulator<ChatCompletionChunk, ChatCompletion> {
  let head: Pick<ChatCompletion, "id" | "created" | "model"> | undefined;
  let usage: ChatCompletion["usage"];
  const choices = new Map<
    number,
    { content: string | null; refusal: string | null; finish: ChatCompletion.Choice["finish_reason"] | null; tools: Map<number, { id: string; name: string; arguments: string }> }
  >();
  return {
    push(chunk) {
      head ??= { id: chunk.id, created: chunk.created, model: chunk.model };
      if (chunk.usage !== undefined && chunk.usage !== null) usage = chunk.usage;
      for (const c of chunk.choices) {
        let choice = choices.get(c.index);
        if (choice === undefined) {
          choice = { content: null, refusal: null, finish: null, tools: new Map() };
          choices.set(c.index, choice);
        }
        if (choice.finish !== null) throw new StreamProtocolError(`choice ${c.index} continued after its finish_reason`);
        if (typeof c.delta.content === "string") choice.content = (choice.content ?? "") + c.delta.content;
        if (typeof c.delta.refusal === "string") choice.refusal = (choice.refusal ?? "") + c.delta.refusal;
        for (const t of c.delta.tool_calls ?? []) {
          const call = choice.tools.get(t.index) ?? { id: "", name: "", arguments: "" };
          if (t.id !== undefined) call.id = t.id;
          // As openai-node does (the tool-call gate refuses a name sent twice): the last non-empty name counts.
          if (t.function?.name !== undefined && t.function.name !== "") call.name = t.function.name;
          if (t.function?.arguments !== undefined) call.arguments += t.function.arguments;
          choice.tools.set(t.index, call);
        }
        if (c.finish_reason !== null && c.finish_reason !== undefined) choice.finish = c.finish_reason;
      }
    },
    result() {
      if (head === undefined) return undefined;
      return {
        ...head,
        object: "chat.completion",
        choices: [...choices.entries()].map(([index, c]) => ({
          index,
          finish_reason: c.finish ?? "stop",
          logprobs: null,
          message: {
            role: "assistant",
            content: c.content,
            refusal: c.refusal,
            ...(c.tools.size > 0 ? { tool_calls: [...c.tools.values()].map((t) => ({ id: t.id, type: "function" as const, function: { name: t.name, arguments: t.arguments } })) } : {}),
          },
        })),
        ...(usage !== undefined ? { usage } : {}),
      };
    },
  };
}

/**
 * Anthropic events → a `Message`, the way the SDK's MessageStream builds it: blocks by index, text and thinking
 * deltas appended, signatures set, tool input JSON parsed at the block's stop (kept as the raw string if it is not
 * JSON; the start's `input` when no JSON came), stop reason and usage from `message_delta`.
 */
export function createAnthropicAccumulator(): StreamAccumulator<AnthropicStreamEvent, Message> {
  let message: Message | undefined;
  const partialJson = new Map<number, string>();
  const block = (index: number, type: string): ContentBlock => {
    const b = message?.content[index];
    if (b === undefined) throw new StreamProtocolError(`${type} for block ${index}, which never started`);
    return b;
  };
  return {
    push(event) {
      if (event.type !== "message_start" && event.type !== "ping" && message === undefined) {
        throw new StreamProtocolError(`${event.type} before message_start`);
      }
      switch (event.type) {
        case "message_start":
          if (message !== undefined) throw new StreamProtocolError("a second message_start");
          message = { ...event.message, content: [...event.message.content] };
          return;
        case "content_block_start":
          (message as Message).content[event.index] = { ...event.content_block } as ContentBlock;
          if (event.content_block.type === "tool_use" || event.content_block.type === "server_tool_use") partialJson.set(event.index, "");
          return;
        case "content_block_delta": {
          const b = block(event.index, event.type) as ContentBlock & Record<string, unknown>;
          const d = event.delta;
          switch (d.type) {
            case "text_delta":
              b["text"] = `${(b["text"] as string | undefined) ?? ""}${d.text}`;
              return;
            case "thinking_delta":
              b["thinking"] = `${(b["thinking"] as string | undefined) ?? ""}${d.thinking}`;
              return;
            case "signature_delta":
              b["signature"] = d.signature;
              return;
            case "input_json_delta":
              partialJson.set(event.index, (partialJson.get(event.index) ?? "") + d.partial_json);
              return;
            case "citations_delta":
              b["citations"] = [...((b["citations"] as unknown[] | null | undefined) ?? []), d.citation];
              return;
            default: {
              const unknown: never = d;
              throw new StreamProtocolError(`unknown delta ${JSON.stringify(unknown)}`);
            }
          }
        }
        case "content_block_stop": {
          const b = block(event.index, event.type) as ContentBlock & Record<string, unknown>;
          const raw = partialJson.get(event.index);
          if (raw !== undefined) {
            partialJson.delete(event.index);
            try {
              // A block synthesized whole (by a policy, or from a whole message) may carry its input in the start.
              b["input"] = raw === "" ? (b["input"] ?? {}) : JSON.parse(raw);
            } catch {
              b["input"] = raw;
            }
          }
          return;
        }
        case "message_delta": {
          const m = message as Message;
          m.stop_reason = event.delta.stop_reason;
          m.stop_sequence = event.delta.stop_sequence;
          m.usage = { ...m.usage, ...Object.fromEntries(Object.entries(event.usage).filter(([, v]) => v !== null && v !== undefined)) };
          return;
        }
        case "message_stop":
        case "ping":
          return;
        default: {
          const unknown: never = event;
          throw new StreamProtocolError(`unknown event ${JSON.stringify(unknown)}`);
        }
      }
    },
    result: () => message,
  };
}

/**
 * Responses events → the response they amount to: the terminal event's `response` once it came, else the
 * `response.created` snapshot with the items, parts and texts streamed so far — the official SDK's own accumulator
 * (`openai/lib/responses/ResponseAccumulator`), so records match what SDK clients see. Event types the SDK does not
 * know (a `keepalive`) are skipped.
 */
export function createResponsesAccumulator(): StreamAccumulator<ResponsesStreamEvent, ResponsesResponse> {
  let snapshot: ResponsesResponse | undefined;
  return {
    push(event) {
      if (!RESPONSES_EVENT_TYPES.has(event.type)) return;
      try {
        snapshot = accumulateResponse(event, snapshot);
      } catch (err) {
        throw new StreamProtocolError(`${event.type}: ${(err as Error).message}`, { cause: err });
      }
    },
    result: () => snapshot,
  };
}
