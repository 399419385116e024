import { outputTextOf, type ResponsesOutputItem, type ResponsesResponse } from "@luthien/wire";

/** Private helpers over Responses output items, shared by the text policy, the tool-call gate and the test kit. */

export type OutputItem = ResponsesOutputItem;
export type OutputMessage = Extract<OutputItem, { type: "message" }>;
export type OutputPart = OutputMessage["content"][number];
export type OutputTextPart = Extract<OutputPart, { type: "output_text" }>;

/** `body` with `output`, and its `output_text` (when it has one) recomputed to match. */
export function withOutput(body: ResponsesResponse, output: OutputItem[]): ResponsesResponse {
  const next: ResponsesResponse = { ...body, output };
  // Providers usually leave output_text to the SDK; when it is on the wire it must say what the items say.
  if (typeof (body as { output_text?: unknown }).output_text === "string") next.output_text = outputTextOf(output);
  return next;
}

export type OutputRefusalPart = Extract<OutputPart, { type: "refusal" }>;
export type OutputReasoning = Extract<OutputItem, { type: "reasoning" }>;
export type ReasoningSummaryPart = OutputReasoning["summary"][number];
export type ReasoningTextPart = NonNullable<OutputReasoning["content"]>[number];
/**
 * A part whose text a text policy writes: a message's `output_text` (its `text`) or `refusal` (its `refusal`), a
 * reasoning item's `summary_text` or `reasoning_text` (their `text`).
 */
export type WrittenPart = OutputTextPart | OutputRefusalPart | ReasoningSummaryPart | ReasoningTextPart;

/** Where a written part sits: its item, and `content[index]` (message parts, reasoning text) or `summary[index]`. */
export interface PartSlot {
  itemId: string;
  list: "content" | "summary";
  index: number;
}

/** The text of a written part. */
export function partText(part: WrittenPart): string {
  return part.type === "refusal" ? part.refusal : part.text;
}

/** Maps a written part to one of the same type (`retext` does). */
export type MapPart = <P extends WrittenPart>(part: P, slot: PartSlot) => P;

/** Maps the written parts of a message (`index` is the part's content index); same message when unchanged. */
export function mapMessageText(item: OutputMessage, map: <P extends OutputTextPart | OutputRefusalPart>(part: P, index: number) => P): OutputMessage {
  let changed = false;
  const content = item.content.map((part, j) => {
    if (part.type !== "output_text" && part.type !== "refusal") return part;
    const next = map(part, j);
    if (next !== part) changed = true;
    return next;
  });
  return changed ? { ...item, content } : item;
}

/** Maps the written parts of a reasoning item, summary then content; same item when unchanged. */
function mapReasoningText(item: OutputReasoning, map: MapPart): OutputReasoning {
  let changed = false;
  const each =
    <P extends ReasoningSummaryPart | ReasoningTextPart>(list: PartSlot["list"]) =>
    (part: P, index: number): P => {
      const next = map(part, { itemId: item.id, list, index });
      if (next !== part) changed = true;
      return next;
    };
  const summary = item.summary.map(each<ReasoningSummaryPart>("summary"));
  const content = item.content?.map(each<ReasoningTextPart>("content"));
  if (!changed) return item;
  // `encrypted_content` stays as it came, though it encrypts the original reasoning: the client cannot read it, and
  // it only goes back to the provider that wrote it, on the next turn, for reasoning continuity (with `store: false`
  // it is the provider's only copy of the reasoning). Dropping it would break that continuity and hide nothing from
  // the client. Nothing on the wire binds the visible summary or text to it (no signature, unlike Anthropic
  // thinking), so the rewritten text can go back alongside it.
  return content === undefined ? { ...item, summary } : { ...item, summary, content };
}

/**
 * Maps the written parts of an output item (messages and reasoning items; other items have none): `slot` says where
 * the part sits. The same item when nothing changed.
 */
export function mapItemText(item: OutputItem, map: MapPart): OutputItem {
  if (item.type === "message") return mapMessageText(item, (part, index) => map(part, { itemId: item.id, list: "content", index }));
  if (item.type === "reasoning") return mapReasoningText(item, map);
  return item;
}

/** A part with new text; an output_text part's logprobs are dropped, since they would spell the old text. */
export function retext<P extends WrittenPart>(part: P, text: string): P {
  if (text === partText(part)) return part;
  if (part.type === "refusal") return { ...part, refusal: text };
  if (part.type !== "output_text") return { ...part, text };
  const { logprobs, ...rest } = part as OutputTextPart;
  return (logprobs === undefined ? { ...rest, text } : { ...rest, text, logprobs: [] }) as P;
}

/** A completed assistant message with one output_text part. */
export function textMessage(id: string, text: string, status: OutputMessage["status"] = "completed"): OutputMessage {
  return { type: "message", id, role: "assistant", status, content: status === "completed" ? [{ type: "output_text", text, annotations: [], logprobs: [] }] : [] };
}
