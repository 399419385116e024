/** A key record, a scope or a limit that does not parse. */
export class KeyRecordError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KeyRecordError";
  }
}

/** The key store could not be reached or refused the operation. */
export class KeyStoreError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "KeyStoreError";
  }
}
