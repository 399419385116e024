/** One server-sent event: `event` is the event name (absent for OpenAI's unnamed events), `data` its payload. */
export interface SseMessage {
  event?: string | undefined;
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
