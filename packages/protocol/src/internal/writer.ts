import type { Writable } from "node:stream";

/**
 * A writer of `stream` that waits for `drain` when the stream is full (gRPC streams are object streams: `write`
 * returns false past their buffer). One waiter per stream, however many writes are blocked: a listener pair per
 * blocked write piles up past Node's limit of 10 with hundreds of calls on one stream, and removing each again
 * costs a scan of them all. A stream that closes never drains: its blocked writers give up rather than wait for ever.
 */
export function drainingWriter<T>(stream: Pick<Writable, "write" | "on" | "off">): (message: T) => Promise<void> {
  let drained: Promise<void> | undefined;
  const waitForDrain = (): Promise<void> =>
    (drained ??= new Promise<void>((resolve) => {
      const done = (): void => {
        stream.off("drain", done);
        stream.off("close", done);
        drained = undefined;
        resolve();
      };
      stream.on("drain", done);
      stream.on("close", done);
    }));
  return async (message) => {
    if (!stream.write(message)) await waitForDrain();
  };
}
