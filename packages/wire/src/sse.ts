/** One server-sent event: `event` is the event name (absent for OpenAI's unnamed events), `data` its payload. */
export interface SseMessage {
  event?: string;
  data: string;
}

/** The terminator OpenAI writes after a clean end of stream. */
export const SSE_DONE = "[DONE]";

/**
 * Frames one event. A payload with line breaks becomes several `data:` lines, which a decoder joins again with
 * "\n", so any string round-trips.
 */
export function encodeSseEvent(message: SseMessage): string {
  const head = message.event !== undefined && message.event !== "" ? `event: ${message.event}\n` : "";
  return `${head}data: ${message.data.replace(/\r\n|\r|\n/g, "\ndata: ")}\n\n`;
}

/**
 * Decodes a byte stream into events, following the SSE spec: `\n`, `\r\n` or `\r` line ends, `:` comment lines
 * ignored, `data:` lines joined with "\n", one optional space after the colon stripped, an event dispatched on a
 * blank line. A trailing event without a blank line is dropped, as a browser would.
 */
export async function* decodeSseEvents(
  body: AsyncIterable<Uint8Array | string>,
): AsyncGenerator<SseMessage, void, undefined> {
  const decoder = new TextDecoder();
  let buffer = "";
  let event: string | undefined;
  let data: string[] = [];
  for await (const piece of body) {
    buffer += typeof piece === "string" ? piece : decoder.decode(piece, { stream: true });
    let start = 0;
    for (;;) {
      const nl = indexOfLineEnd(buffer, start);
      if (nl === -1) break;
      // A lone "\r" at the very end may be the first half of "\r\n": wait for the next piece.
      if (buffer[nl] === "\r" && nl === buffer.length - 1) break;
      const line = buffer.slice(start, nl);
      start = nl + (buffer[nl] === "\r" && buffer[nl + 1] === "\n" ? 2 : 1);
      if (line === "") {
        if (data.length > 0 || event !== undefined) {
          yield event === undefined ? { data: data.join("\n") } : { event, data: data.join("\n") };
        }
        event = undefined;
        data = [];
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
    buffer = buffer.slice(start);
  }
}

function indexOfLineEnd(s: string, from: number): number {
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 10 || c === 13) return i;
  }
  return -1;
}
