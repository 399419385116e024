/**
 * The events package's error taxonomy. Every error carries a stable `code`, sets `name`, and passes `cause`
 * through, so callers can branch on the class or the code.
 */
export class EventsError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "EventsError";
    this.code = code;
  }
}

/**
 * Thrown by {@link parseActivityEvent} when bytes are not a valid activity event: not UTF-8 JSON, not an object, or
 * a field missing or malformed. `field` names the offending envelope field (`"$"` for the document itself).
 */
export class InvalidEventError extends EventsError {
  readonly field: string;
  constructor(field: string, message: string, options?: ErrorOptions) {
    super("invalid_event", field === "$" ? message : `${field}: ${message}`, options);
    this.name = "InvalidEventError";
    this.field = field;
  }
}

/**
 * Rejects {@link EventPublisher.flush} when the outbox still holds events at the deadline (NATS away, or more
 * traffic than it absorbs). `remaining` is how many events were still waiting.
 */
export class FlushTimeoutError extends EventsError {
  readonly remaining: number;
  constructor(remaining: number, timeoutMs: number) {
    super("flush_timeout", `${remaining} activity event(s) still unpublished after ${timeoutMs} ms`);
    this.name = "FlushTimeoutError";
    this.remaining = remaining;
  }
}

/** Thrown when an operation needs a connection that was closed by `close()`. */
export class ClosedError extends EventsError {
  constructor(what: string) {
    super("closed", `${what} is closed`);
    this.name = "ClosedError";
  }
}

/**
 * Thrown by {@link createActivityConsumer} when the durable name is not one JetStream accepts (empty, longer than
 * 128 characters, or with whitespace, `.`, `*`, `>`, `/`, a backslash or a control character).
 */
export class InvalidConsumerNameError extends EventsError {
  readonly durable: string;
  constructor(durable: string) {
    super(
      "invalid_consumer_name",
      `not a valid JetStream durable name: ${durable === "" ? "(empty)" : durable} (use 1 to 128 characters, none of them whitespace, a dot, *, >, / or a backslash)`,
    );
    this.name = "InvalidConsumerNameError";
    this.durable = durable;
  }
}
