import type { Response } from "express";
import { encodeSseEvent, type SseMessage } from "@luthien/wire";
import { ClientGoneError } from "./errors";

/** Writes SSE to a client, honouring backpressure: a full socket buffer means waiting for `drain`. */
export interface SseWriter {
  /** Sends the status line and SSE headers (once). */
  open(headers?: Record<string, string>): void;
  readonly opened: boolean;
  /** @throws ClientGoneError when the client disconnected */
  write(message: SseMessage): Promise<void>;
  /** Writes the event that reports a failure (not checked: it ends a broken stream on purpose). */
  writeError(message: SseMessage): Promise<void>;
  end(): void;
}

/** @param onEvent sees every event `write` sends (not the error event), before it is written */
export function createSseWriter(res: Response, onEvent?: (message: SseMessage) => void): SseWriter {
  let opened = false;

  const send = async (message: SseMessage): Promise<void> => {
    if (res.destroyed || res.writableEnded) throw new ClientGoneError();
    if (res.write(encodeSseEvent(message))) return;
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
    open(headers = {}) {
      if (opened) return;
      opened = true;
      res.status(200).set({
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-cache",
        Connection: "keep-alive",
        // Reverse proxies such as nginx would otherwise buffer the stream.
        "X-Accel-Buffering": "no",
        ...headers,
      });
      res.flushHeaders();
    },
    async write(message) {
      onEvent?.(message);
      await send(message);
    },
    writeError: send,
    end() {
      if (!res.writableEnded) res.end();
    },
  };
}
