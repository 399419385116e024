import type { ResponsesOutputItem, ResponsesResponse } from "@luthien/wire";

/** Private helpers over Responses output items, shared by the text policy, the tool-call gate and the test kit. */

export type OutputItem = ResponsesOutputItem;
export type OutputMessage = Extract<OutputItem, { type: "message" }>;
export type OutputPart = OutputMessage["content"][number];
export type OutputTextPart = Extract<OutputPart, { type: "output_text" }>;

/** The `output_text` convenience value the SDK computes: every output_text part of every message, joined. */
export function outputTextOf(output: readonly OutputItem[]): string {
  const texts: string[] = [];
  for (const item of output) {
    if (item.type !== "message") continue;
    for (const part of item.content) if (part.type === "output_text") texts.push(part.text);
  }
  return texts.join("");
}

/** `body` with `output`, and its `output_text` (when it has one) recomputed to match. */
export function withOutput(body: ResponsesResponse, output: OutputItem[]): ResponsesResponse {
  const next: ResponsesResponse = { ...body, output };
  // Providers usually leave output_text to the SDK; when it is on the wire it must say what the items say.
  if (typeof (body as { output_text?: unknown }).output_text === "string") next.output_text = outputTextOf(output);
  return next;
}

export type OutputRefusalPart = Extract<OutputPart, { type: "refusal" }>;
/** A message part whose text a text policy writes: `output_text` (its `text`) or `refusal` (its `refusal`). */
export type WrittenPart = OutputTextPart | OutputRefusalPart;

/** The text of a written part. */
export function partText(part: WrittenPart): string {
  return part.type === "output_text" ? part.text : part.refusal;
}

/** Maps the written parts of a message (`index` is the part's content index); same message when unchanged. */
export function mapMessageText(item: OutputMessage, map: (part: WrittenPart, index: number) => WrittenPart): OutputMessage {
  let changed = false;
  const content = item.content.map((part, j) => {
    if (part.type !== "output_text" && part.type !== "refusal") return part;
    const next = map(part, j);
    if (next !== part) changed = true;
    return next;
  });
  return changed ? { ...item, content } : item;
}

/** A part with new text; an output_text part's logprobs are dropped, since they would spell the old text. */
export function retext<P extends WrittenPart>(part: P, text: string): P {
  if (text === partText(part)) return part;
  if (part.type === "refusal") return { ...part, refusal: text };
  const { logprobs, ...rest } = part as OutputTextPart;
  return (logprobs === undefined ? { ...rest, text } : { ...rest, text, logprobs: [] }) as P;
}

/** A completed assistant message with one output_text part. */
export function textMessage(id: string, text: string, status: OutputMessage["status"] = "completed"): OutputMessage {
  return { type: "message", id, role: "assistant", status, content: status === "completed" ? [{ type: "output_text", text, annotations: [], logprobs: [] }] : [] };
}
