import type { ChatCompletion, ChatCompletionChunk, ResponsesResponse, ResponsesStreamEvent } from "@luthien/wire";
import type { PolicyEvent, PolicyResponse } from "./policy";

/**
 * Keeps logprobs from spelling out text a policy changed. Logprobs list the tokens the model produced, so a choice
 * (OpenAI) or an `output_text` part (Responses) whose text a policy rewrote would still carry the original in them:
 * wherever the text that leaves differs from the text that came in, its logprobs are dropped (OpenAI `null`,
 * Responses `[]`), and from then on for the rest of that choice or part. Logprobs on text no upstream event carried
 * (released at the end, or moved by a policy) are dropped too. Anthropic has no logprobs.
 */
export interface LogprobsGuard {
  response(original: PolicyResponse, final: PolicyResponse): PolicyResponse;
  /** `input` is the upstream event the chain answered, or undefined for what it released at the end. */
  events(input: PolicyEvent | undefined, output: PolicyEvent[]): PolicyEvent[];
}

/** `onDropped` is called once per choice or part whose logprobs were dropped. */
export function createLogprobsGuard(onDropped: (where: string) => void): LogprobsGuard {
  /** Choices or parts whose text a policy changed: their logprobs go from then on. */
  const tainted = new Set<string>();
  const reported = new Set<string>();
  /** Which of `output`'s carriers must lose their logprobs, given the carriers of the event it answers. */
  const verdicts = (original: Map<string, string> | undefined, carriers: Carrier[]): boolean[] =>
    carriers.map((c) => {
      const before = original?.get(c.key);
      const changed = before === undefined || before !== c.text;
      // Text held back (nothing of it goes out here) is no change yet; what is released later is compared then.
      if (changed && before !== undefined && c.text !== EMPTY) tainted.add(c.key);
      const drop = c.hasLogprobs && (changed || tainted.has(c.key));
      if (drop && !reported.has(c.key)) {
        reported.add(c.key);
        onDropped(c.key);
      }
      return drop;
    });
  const textsOf = (carriers: Carrier[]): Map<string, string> => new Map(carriers.map((c) => [c.key, c.text]));

  return {
    response(original, final) {
      if (final.format === "openai" && original.format === "openai") {
        const before = textsOf(completionCarriers(original.body));
        const drop = verdicts(before, completionCarriers(final.body));
        if (!drop.includes(true)) return final;
        const body = structuredClone(final.body);
        completionCarriers(body).forEach((c, i) => drop[i] === true && c.drop());
        return { format: "openai", body };
      }
      if (final.format === "responses" && original.format === "responses") {
        const before = textsOf(responseCarriers(original.body));
        const drop = verdicts(before, responseCarriers(final.body));
        if (!drop.includes(true)) return final;
        const body = structuredClone(final.body);
        responseCarriers(body).forEach((c, i) => drop[i] === true && c.drop());
        return { format: "responses", body };
      }
      return final;
    },
    events(input, output) {
      if (tainted.size === 0 && output.length === 1 && output[0] === input) return output;
      const before = input === undefined ? undefined : textsOf(eventCarriers(input));
      return output.map((event) => {
        const drop = verdicts(before, eventCarriers(event));
        if (!drop.includes(true)) return event;
        const copy = structuredClone(event);
        eventCarriers(copy).forEach((c, i) => drop[i] === true && c.drop());
        return copy;
      });
    },
  };
}

/** The text of a carrier that carries none (an OpenAI delta has content and refusal, joined by a NUL). */
const EMPTY = "";

/** A piece of text that logprobs may spell: where it is, what it says, and how to drop its logprobs. */
interface Carrier {
  key: string;
  text: string;
  hasLogprobs: boolean;
  drop(): void;
}

function eventCarriers(event: PolicyEvent): Carrier[] {
  switch (event.format) {
    case "openai":
      return chunkCarriers(event.chunk);
    case "responses":
      return responsesEventCarriers(event.event);
    case "anthropic":
      return [];
  }
}

/** A choice's logprobs spell its content and refusal tokens. */
function choiceCarrier(index: number, text: string, holder: { logprobs?: ChatCompletion.Choice["logprobs"] | ChatCompletionChunk.Choice["logprobs"] }): Carrier {
  const lp = holder.logprobs;
  return {
    key: `choices[${index}]`,
    text,
    hasLogprobs: lp !== undefined && lp !== null && ((lp.content ?? []).length > 0 || (lp.refusal ?? []).length > 0),
    drop: () => {
      holder.logprobs = null;
    },
  };
}

function choiceText(content: string | null | undefined, refusal: string | null | undefined): string {
  const c = content ?? "";
  const r = refusal ?? "";
  return r === "" ? c : `${c}\u0000${r}`;
}

function completionCarriers(body: ChatCompletion): Carrier[] {
  return body.choices.map((c) => choiceCarrier(c.index, choiceText(c.message.content, c.message.refusal), c));
}

function chunkCarriers(chunk: ChatCompletionChunk): Carrier[] {
  return chunk.choices.map((c) => choiceCarrier(c.index, choiceText(c.delta.content, c.delta.refusal), c));
}

type OutputItem = ResponsesResponse["output"][number];

function partCarrier(key: string, part: { type: string; text?: string; logprobs?: unknown[] }): Carrier[] {
  if (part.type !== "output_text") return [];
  return [
    {
      key,
      text: part.text ?? "",
      hasLogprobs: (part.logprobs ?? []).length > 0,
      drop: () => {
        part.logprobs = [];
      },
    },
  ];
}

function itemCarriers(item: OutputItem): Carrier[] {
  if (item.type !== "message") return [];
  return item.content.flatMap((part, j) => partCarrier(`${item.id}:${j}`, part));
}

function responseCarriers(body: ResponsesResponse): Carrier[] {
  return body.output.flatMap(itemCarriers);
}

function responsesEventCarriers(e: ResponsesStreamEvent): Carrier[] {
  switch (e.type) {
    case "response.output_text.delta":
      return [{ key: `${e.item_id}:${e.content_index}`, text: e.delta, hasLogprobs: e.logprobs.length > 0, drop: () => void (e.logprobs = []) }];
    case "response.output_text.done":
      return [{ key: `${e.item_id}:${e.content_index}`, text: e.text, hasLogprobs: e.logprobs.length > 0, drop: () => void (e.logprobs = []) }];
    case "response.content_part.added":
    case "response.content_part.done":
      return partCarrier(`${e.item_id}:${e.content_index}`, e.part as { type: string; text?: string; logprobs?: unknown[] });
    case "response.output_item.added":
    case "response.output_item.done":
      return itemCarriers(e.item);
    case "response.created":
    case "response.in_progress":
    case "response.completed":
    case "response.incomplete":
    case "response.failed":
    case "response.queued":
      return responseCarriers(e.response);
    default:
      return [];
  }
}
