import { once } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import type { Response } from "express";
import type { ResolvedScript } from "./script";

/** An unnamed SSE event (OpenAI's style). JSON.stringify never emits raw line breaks, so one `data:` line suffices. */
export function sseData(payload: unknown): string {
  return `data: ${JSON.stringify(payload)}\n\n`;
}

/** A named SSE event (Anthropic's and the Responses API's style). */
export function sseEvent(name: string, payload: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(payload)}\n\n`;
}

/** The message of the provider error a scripted `failAfter` sends mid-stream. */
export function scriptedFailure(script: Pick<ResolvedScript, "failAfter">): string {
  return `mock-llm: scripted failure after ${script.failAfter ?? 0} events`;
}

/** One SSE event of a planned stream, already framed. */
export interface StreamFrame {
  readonly text: string;
  /** A text, thinking or tool-argument delta: what `failAfter` and `hangAfter` count. */
  readonly content?: boolean;
  /** The first event of the stream's ending (finish chunk, `message_delta`, `response.completed`). */
  readonly ending?: boolean;
}

/** A whole stream, rendered up front by an endpoint module; {@link writeStream} paces and interrupts it. */
export interface StreamPlan {
  readonly frames: readonly StreamFrame[];
  /**
   * The provider's mid-stream error event, sent when `failAfter` triggers.
   * @param sent how many events went out before it (the Responses API numbers its events)
   */
  errorFrame(sent: number): string;
}

/** How {@link writeStream} paces and interrupts a plan. */
export interface StreamOptions {
  /** Pause before every event after the first. */
  readonly chunkDelayMs: number;
  readonly failAfter: number | undefined;
  readonly hangAfter: number | undefined;
  /** After this many events (0 = before the first), stay silent for `pauseMs`. */
  readonly pauseAfter?: number | undefined;
  readonly pauseMs?: number;
  /** Aborted when the client's connection closes; every wait ends and nothing more is written. */
  readonly signal: AbortSignal;
}

/**
 * Sends a 200 `text/event-stream` response and writes the plan's events in order, waiting for "drain" whenever
 * `res.write()` reports a full buffer.
 *
 * `failAfter`/`hangAfter` = N trigger right after the N-th content-bearing event; N = 0 triggers before the first
 * one, and an N past the last one triggers in place of the stream's ending. A failure writes `errorFrame` and
 * ends the response (so no `[DONE]`/`message_stop`/`response.completed`); a hang writes nothing more and resolves
 * once the client leaves. If both trigger at once, the failure wins.
 *
 * Resolves (never rejects) when the response is over, or as soon as the client has gone.
 */
export async function writeStream(res: Response, plan: StreamPlan, options: StreamOptions): Promise<void> {
  const { signal } = options;
  res.status(200).set({ "Content-Type": "text/event-stream", "Cache-Control": "no-cache", Connection: "keep-alive" });
  res.flushHeaders();

  let sent = 0;
  let content = 0;
  const pauseMs = options.pauseMs ?? 0;
  const emit = async (text: string): Promise<void> => {
    if (sent === options.pauseAfter && pauseMs > 0) await sleep(pauseMs, undefined, { signal });
    if (sent > 0 && options.chunkDelayMs > 0) await sleep(options.chunkDelayMs, undefined, { signal });
    signal.throwIfAborted();
    sent += 1;
    if (!res.write(text)) await once(res, "drain", { signal });
  };
  const due = (): "fail" | "hang" | undefined => {
    if (options.failAfter !== undefined && content >= options.failAfter) return "fail";
    if (options.hangAfter !== undefined && content >= options.hangAfter) return "hang";
    return undefined;
  };
  const interrupt = async (what: "fail" | "hang"): Promise<void> => {
    if (what === "fail") {
      await emit(plan.errorFrame(sent));
      res.end();
      return;
    }
    await waitForAbort(signal);
  };

  try {
    for (const frame of plan.frames) {
      if (frame.content === true || frame.ending === true) {
        const what = due();
        if (what !== undefined) return await interrupt(what);
      }
      await emit(frame.text);
      if (frame.content === true) {
        content += 1;
        const what = due();
        if (what !== undefined) return await interrupt(what);
      }
    }
    res.end();
  } catch (err) {
    // The client left while we slept or waited for "drain": that is the expected way out, not a failure.
    if (signal.aborted) return;
    throw err;
  }
}

/**
 * Waits `ms` (no-op for 0).
 * @returns false when `signal` aborted first
 */
export async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  if (ms <= 0) return true;
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch (err) {
    if (signal.aborted) return false;
    throw err;
  }
}

function waitForAbort(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}
