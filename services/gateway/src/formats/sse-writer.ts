import type { Response } from "express";
import type { StreamEvent } from "@luthien/wire";
import { ClientGoneError } from "../errors";

/** Writes SSE to a client, honouring backpressure: a full socket buffer means waiting for `drain`. */
export interface SseWriter {
  /** Sends the status line and SSE headers (once). */
  open(): void;
  readonly opened: boolean;
  /** The last event `write` sent (the Responses API numbers its error event after it). */
  readonly last: StreamEvent | undefined;
  /** @throws ClientGoneError when the client disconnected */
  write(message: StreamEvent): Promise<void>;
  /** Writes the event that reports a failure (not checked: it ends a broken stream on purpose). */
  writeError(message: StreamEvent): Promise<void>;
  /** Ends the response and stops the heartbeat. */
  end(): void;
}

/** What keeps a silent stream alive, in a client API's own terms. */
export interface SseHeartbeat {
  /** The bytes written, a whole SSE frame (an event, or a `:` comment line) ending in a blank line. */
  readonly frame: string;
  /** Only once an event of this name went out: an Anthropic `ping` before `message_start` breaks the stream. */
  readonly after?: string;
}

export interface SseWriterOptions {
  /** Sees every event `write` sends (not the error event, not heartbeats), before it is written. */
  onEvent?: (message: StreamEvent) => void;
  heartbeat?: SseHeartbeat;
  /** A heartbeat goes out when nothing was written for this long. 0 = never. @default 0 */
  heartbeatMs?: number;
}

const SSE_HEADERS: readonly [string, string][] = [
  ["content-type", "text/event-stream; charset=utf-8"],
  // no-transform: proxies must not compress or otherwise rework the stream (a gzip layer buffers events).
  ["cache-control", "no-cache, no-transform"],
  ["connection", "keep-alive"],
  // Reverse proxies such as nginx would otherwise buffer the stream.
  ["x-accel-buffering", "no"],
];

/**
 * Heartbeats are written between whole events only (every write is one whole frame, and a heartbeat is skipped
 * while the socket is full), bypass `onEvent` (the stream validator never sees them) and stop with `end()` or the
 * client leaving.
 */
export function createSseWriter(res: Response, options: SseWriterOptions = {}): SseWriter {
  const { onEvent, heartbeat } = options;
  const heartbeatMs = options.heartbeatMs ?? 0;
  let opened = false;
  let last: StreamEvent | undefined;
  let lastWriteAt = Date.now();
  let heartbeatAllowed = heartbeat !== undefined && heartbeat.after === undefined;
  let timer: NodeJS.Timeout | undefined;

  const stopHeartbeat = (): void => {
    clearTimeout(timer);
    timer = undefined;
  };
  const arm = (ms: number): void => {
    timer = setTimeout(beat, ms);
    // The server keeps the process alive; a pending heartbeat must not.
    timer.unref();
  };
  const beat = (): void => {
    timer = undefined;
    if (res.destroyed || res.writableEnded || heartbeat === undefined) return;
    const idle = Date.now() - lastWriteAt;
    if (idle < heartbeatMs) return arm(heartbeatMs - idle);
    // A full socket means the client is not reading: a heartbeat would only queue behind the real events.
    if (heartbeatAllowed && !res.writableNeedDrain) {
      res.write(heartbeat.frame);
      lastWriteAt = Date.now();
    }
    arm(heartbeatMs);
  };
  res.on("close", stopHeartbeat);

  // Events written in one turn of the event loop leave in one socket write: a burst (a provider's read holding many
  // events, engine answers arriving together) costs one syscall, not one per event — the largest per-event cost.
  let corked = false;
  const uncork = (): void => {
    corked = false;
    res.uncork();
  };
  const send = async (message: StreamEvent): Promise<void> => {
    if (res.destroyed || res.writableEnded) throw new ClientGoneError();
    lastWriteAt = Date.now();
    if (!corked) {
      corked = true;
      res.cork();
      setImmediate(uncork);
    }
    if (res.write(message.frame())) return;
    await new Promise<void>((resolve, reject) => {
      const cleanup = (): void => {
        res.off("drain", onDrain);
        res.off("close", onClose);
      };
      const onDrain = (): void => {
        cleanup();
        resolve();
      };
      const onClose = (): void => {
        cleanup();
        reject(new ClientGoneError());
      };
      res.on("drain", onDrain);
      res.on("close", onClose);
    });
  };

  return {
    get opened() {
      return opened;
    },
    get last() {
      return last;
    },
    open() {
      if (opened) return;
      opened = true;
      res.statusCode = 200;
      for (const [name, value] of SSE_HEADERS) res.setHeader(name, value);
      res.flushHeaders();
      lastWriteAt = Date.now();
      if (heartbeat !== undefined && heartbeatMs > 0) arm(heartbeatMs);
    },
    async write(message) {
      onEvent?.(message);
      last = message;
      if (heartbeat?.after !== undefined && message.event === heartbeat.after) heartbeatAllowed = true;
      await send(message);
    },
    async writeError(message) {
      stopHeartbeat();
      await send(message);
    },
    end() {
      stopHeartbeat();
      if (!res.writableEnded) res.end();
    },
  };
}
