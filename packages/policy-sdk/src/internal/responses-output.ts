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

/** Maps the `output_text` parts of a message (`index` is the part's content index); same message when unchanged. */
export function mapMessageText(item: OutputMessage, map: (part: OutputTextPart, index: number) => OutputTextPart): OutputMessage {
  let changed = false;
  const content = item.content.map((part, j) => {
    if (part.type !== "output_text") return part;
    const next = map(part, j);
    if (next !== part) changed = true;
    return next;
  });
  return changed ? { ...item, content } : item;
}

/** A part with new text; its logprobs are dropped, since they would spell the old text. */
export function retext(part: OutputTextPart, text: string): OutputTextPart {
  if (text === part.text) return part;
  const { logprobs, ...rest } = part;
  return logprobs === undefined ? { ...rest, text } : { ...rest, text, logprobs: [] };
}

/** A completed assistant message with one output_text part. */
export function textMessage(id: string, text: string, status: OutputMessage["status"] = "completed"): OutputMessage {
  return { type: "message", id, role: "assistant", status, content: status === "completed" ? [{ type: "output_text", text, annotations: [], logprobs: [] }] : [] };
}
