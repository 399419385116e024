/** The logging the events package needs; `@luthien/runtime`'s Logger fits. Fields never carry event data. */
export interface EventsLogger {
  info(msg: string, fields?: Record<string, string | number | boolean | undefined>): void;
  warn(msg: string, fields?: Record<string, string | number | boolean | undefined>): void;
  error(msg: string, fields?: Record<string, string | number | boolean | undefined>): void;
}

/** Logs nothing. */
export const silentLogger: EventsLogger = { info: () => {}, warn: () => {}, error: () => {} };

/** A one-line description of any thrown value, for log fields. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message !== "" ? err.message : err.name;
  return String(err);
}
