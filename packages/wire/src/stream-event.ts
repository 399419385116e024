import { encodeSseEvent, type SseMessage } from "./sse";

const UNPARSED: unique symbol = Symbol("unparsed");

/**
 * One stream event, parsed at most once: every stage of a stream (policy stage, validator, accumulators, tracing)
 * reads the same `json()`, and `frame()` is the bytes a client gets. An event decoded from a provider keeps the
 * provider's own frame, so a stream no policy touches reaches the client byte for byte (pings and spacing included).
 *
 * The parsed value is shared: readers must not change it (the accumulators copy what they keep).
 */
export class StreamEvent implements SseMessage {
  readonly event: string | undefined;
  #data: string | undefined;
  #json: unknown = UNPARSED;
  #frame: string | undefined;

  private constructor(event: string | undefined, data: string | undefined, json: unknown, frame: string | undefined) {
    this.event = event === "" ? undefined : event;
    this.#data = data;
    this.#json = json;
    this.#frame = frame;
  }

  /** An event as text, e.g. from the policy engine; `frame` is its exact encoding when it came off the wire. */
  static of(message: SseMessage, frame?: string): StreamEvent {
    return message instanceof StreamEvent && frame === undefined ? message : new StreamEvent(message.event, message.data, UNPARSED, frame);
  }

  /** An event built from a value (a converter's or a stream builder's output); serialised once, when first needed. */
  static fromJson(event: string | undefined, value: unknown): StreamEvent {
    return new StreamEvent(event, undefined, value, undefined);
  }

  /** The event's data line(s), as JSON text (or OpenAI's `[DONE]`). */
  get data(): string {
    this.#data ??= JSON.stringify(this.#json);
    return this.#data;
  }

  /**
   * The data parsed, once.
   * @throws SyntaxError when the data is not JSON (e.g. `[DONE]`)
   */
  json<T = unknown>(): T {
    if (this.#json === UNPARSED) this.#json = JSON.parse(this.data) as unknown;
    return this.#json as T;
  }

  /** The whole SSE frame, ending in a blank line. */
  frame(): string {
    this.#frame ??= encodeSseEvent(this);
    return this.#frame;
  }
}

/**
 * Decodes a byte stream into events, keeping each event's own frame: its lines as received, through the blank line
 * that ends it, with whatever came before it since the last event (comments such as `: ping`, stray blank lines), so
 * the frames put together are the stream's bytes. Follows the SSE spec:
 * `\n`, `\r\n` or `\r` line ends, `:` comments, `data:` lines joined with "\n", one optional space after the colon
 * stripped; a trailing event without a blank line is dropped, as a browser would.
 */
export async function* decodeStreamEvents(body: AsyncIterable<Uint8Array | string>): AsyncGenerator<StreamEvent, void, undefined> {
  const decoder = new TextDecoder();
  let buffer = "";
  // Offsets into `buffer`: where the event being read began, and the next line to read.
  let frameStart = 0;
  let start = 0;
  let event: string | undefined;
  let data: string[] = [];
  /** Reads the whole lines in `buffer`; at the end of the input a final "\r" ends its line. */
  function* read(final: boolean): Generator<StreamEvent> {
    for (;;) {
      const nl = indexOfLineEnd(buffer, start);
      if (nl === -1) break;
      // A lone "\r" at the very end may be the first half of "\r\n": wait for the next piece.
      if (!final && buffer.charCodeAt(nl) === 13 && nl === buffer.length - 1) break;
      const lineStart = start;
      start = nl + (buffer.charCodeAt(nl) === 13 && buffer.charCodeAt(nl + 1) === 10 ? 2 : 1);
      if (nl === lineStart) {
        if (data.length > 0 || event !== undefined) {
          const frame = buffer.slice(frameStart, start);
          yield StreamEvent.of(event === undefined ? { data: data.join("\n") } : { event, data: data.join("\n") }, frame);
          frameStart = start;
        }
        event = undefined;
        data = [];
        continue;
      }
      if (buffer.charCodeAt(lineStart) === 58) continue;
      const colon = buffer.indexOf(":", lineStart);
      const fieldEnd = colon === -1 || colon > nl ? nl : colon;
      const field = buffer.slice(lineStart, fieldEnd);
      let valueStart = fieldEnd === nl ? nl : fieldEnd + 1;
      if (valueStart < nl && buffer.charCodeAt(valueStart) === 32) valueStart++;
      if (field === "event") event = buffer.slice(valueStart, nl);
      else if (field === "data") data.push(buffer.slice(valueStart, nl));
    }
    // Keep the event being read whole: its frame is sliced from here once its blank line comes.
    buffer = buffer.slice(frameStart);
    start -= frameStart;
    frameStart = 0;
  }
  for await (const piece of body) {
    buffer += typeof piece === "string" ? piece : decoder.decode(piece, { stream: true });
    yield* read(false);
  }
  buffer += decoder.decode();
  yield* read(true);
}

/** The same events as plain messages (no frame, no cached parse). */
export async function* decodeSseEvents(body: AsyncIterable<Uint8Array | string>): AsyncGenerator<SseMessage, void, undefined> {
  for await (const e of decodeStreamEvents(body)) yield e.event === undefined ? { data: e.data } : { event: e.event, data: e.data };
}

function indexOfLineEnd(s: string, from: number): number {
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 10 || c === 13) return i;
  }
  return -1;
}
