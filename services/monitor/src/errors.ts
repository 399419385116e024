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

/**
 * The database is unreachable, or the connection to it was lost mid-statement (a restart ends every session with
 * 57P01 admin_shutdown). Nothing was stored: the batch is retried, and the API answers 503 meanwhile.
 */
export class DatabaseUnavailableError extends MonitorError {
  constructor(message: string, options?: ErrorOptions) {
    super("database_unavailable", message, options);
    this.name = "DatabaseUnavailableError";
  }
}
