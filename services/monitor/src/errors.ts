/** The monitor's error taxonomy: one class per failure mode, each with a stable `code`. */
export class MonitorError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MonitorError";
    this.code = code;
  }
}

/** A query parameter of the API is malformed; the message names it. Answered with 400. */
export class InvalidQueryError extends MonitorError {
  constructor(message: string) {
    super("invalid_query", message);
    this.name = "InvalidQueryError";
  }
}

/** The database could not be opened or migrated at start. */
export class DatabaseStartError extends MonitorError {
  constructor(message: string, options?: ErrorOptions) {
    super("database_start", message, options);
    this.name = "DatabaseStartError";
  }
}
