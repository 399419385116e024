/** Thrown when a stream about to reach a client breaks its format's rules. */
export class StreamProtocolError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StreamProtocolError";
  }
}

/**
 * Thrown when a body cannot be translated into the other format without changing what it means (an OpenAI request
 * with `n: 2`, an audio part, tool-call arguments that are not JSON, ...). The message says what and where; the
 * gateway answers it with a 400 in the client's format.
 */
export class ConversionError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConversionError";
  }
}
