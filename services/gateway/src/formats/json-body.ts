import { RawJson } from "@luthien/events";

/**
 * A JSON body held as bytes, as a value, or both — each made from the other at most once. A request or response that
 * no policy changed travels as the bytes it came as (to the engine, to the provider, to the client); it is parsed
 * once, for whoever needs the value.
 */
export class JsonBody {
  #bytes: Buffer | undefined;
  #value: object | undefined;
  #event: RawJson | undefined;

  private constructor(bytes: Buffer | undefined, value: object | undefined) {
    this.#bytes = bytes;
    this.#value = value;
  }

  /** Bytes already known to parse as `value` (e.g. a request body the gateway has just read and parsed). */
  static of(bytes: Buffer, value: object): JsonBody {
    return new JsonBody(bytes, value);
  }

  static fromValue(value: object): JsonBody {
    return new JsonBody(undefined, value);
  }

  /**
   * @throws SyntaxError when the bytes are not JSON; TypeError when they are JSON but not an object or array
   */
  static parse(bytes: Buffer): JsonBody {
    const value = JSON.parse(bytes.toString("utf8")) as unknown;
    if (typeof value !== "object" || value === null) throw new TypeError("the body is not a JSON object");
    return new JsonBody(bytes, value);
  }

  get bytes(): Buffer {
    this.#bytes ??= Buffer.from(JSON.stringify(this.#value), "utf8");
    return this.#bytes;
  }

  /** The body for an activity event: its bytes spliced in as they are, never encoded again (once for every event). */
  forEvent(): RawJson {
    this.#event ??= new RawJson(this.bytes.toString("utf8"));
    return this.#event;
  }

  /** The parsed value, shared by every reader: treat it as read-only. */
  get value(): object {
    return this.#value as object;
  }
}
