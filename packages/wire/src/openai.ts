import type { ChatCompletion, ChatCompletionChunk, ChatCompletionCreateParams, ChatCompletionMessageParam } from "openai/resources/chat/completions";
import { StreamProtocolError } from "./errors";

export type { ChatCompletion, ChatCompletionChunk, ChatCompletionCreateParams, ChatCompletionMessageParam };

/** OpenAI's error body: `{"error": {message, type, param, code}}`. */
export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export function openAIErrorBody(type: string, message: string, code: string | null = null): OpenAIErrorBody {
  return { error: { message, type, param: null, code } };
}

export interface OpenAIStreamGuard {
  /** @throws StreamProtocolError when `chunk` may not follow the chunks seen so far */
  check(chunk: ChatCompletionChunk): void;
}

/**
 * Tracks an OpenAI chunk stream per choice and rejects what strict clients choke on: a second `role`, anything
 * after a choice's `finish_reason`, a second `finish_reason`, a tool-call delta without `index`, or a chunk id that
 * changes mid-stream.
 */
export function createOpenAIStreamGuard(): OpenAIStreamGuard {
  const roles = new Set<number>();
  const finished = new Set<number>();
  let id: string | undefined;
  return {
    check(chunk) {
      id ??= chunk.id;
      if (chunk.id !== id) throw new StreamProtocolError(`chunk id changed from ${id} to ${chunk.id}`);
      for (const choice of chunk.choices) {
        const i = choice.index;
        if (finished.has(i)) throw new StreamProtocolError(`choice ${i} continued after its finish_reason`);
        if (choice.delta.role !== undefined && choice.delta.role !== null) {
          if (roles.has(i)) throw new StreamProtocolError(`choice ${i} got a second role chunk`);
          roles.add(i);
        }
        for (const call of choice.delta.tool_calls ?? []) {
          if (typeof call.index !== "number") throw new StreamProtocolError(`choice ${i} has a tool-call delta without index`);
        }
        if (choice.finish_reason !== null && choice.finish_reason !== undefined) finished.add(i);
      }
    },
  };
}

/**
 * The chunks a client would have received had `completion` been streamed: per choice a role chunk, its text,
 * its tool calls (each whole in one delta), then the finish reason; usage last (as with `include_usage`).
 */
export function completionToChunks(completion: ChatCompletion): ChatCompletionChunk[] {
  const base = { id: completion.id, object: "chat.completion.chunk" as const, created: completion.created, model: completion.model };
  const chunks: ChatCompletionChunk[] = [];
  for (const choice of completion.choices) {
    const { message, index } = choice;
    chunks.push({ ...base, choices: [{ index, delta: { role: "assistant", content: "" }, finish_reason: null, logprobs: null }] });
    if (message.content !== null && message.content !== "") {
      chunks.push({ ...base, choices: [{ index, delta: { content: message.content }, finish_reason: null, logprobs: null }] });
    }
    if (message.refusal !== null && message.refusal !== undefined) {
      chunks.push({ ...base, choices: [{ index, delta: { refusal: message.refusal }, finish_reason: null, logprobs: null }] });
    }
    (message.tool_calls ?? []).forEach((call, n) => {
      if (call.type !== "function") return;
      chunks.push({
        ...base,
        choices: [
          {
            index,
            delta: { tool_calls: [{ index: n, id: call.id, type: "function", function: { name: call.function.name, arguments: call.function.arguments } }] },
            finish_reason: null,
            logprobs: null,
          },
        ],
      });
    });
    chunks.push({ ...base, choices: [{ index, delta: {}, finish_reason: choice.finish_reason, logprobs: null }] });
  }
  if (completion.usage !== undefined) chunks.push({ ...base, choices: [], usage: completion.usage });
  return chunks;
}
