import type { SseEvent, SseEvent__Output } from "@luthien/protocol";
import { decodeSseEvents, type SseMessage } from "@luthien/wire";
import { waitFor } from "@luthien/testkit";

/**
 * Shared by the fault scenarios: one call through the gateway read off the wire (status, bypass header, every SSE
 * event), and the checks both invariants need: was the outcome well-formed for the client's API, and did anything
 * the engine never approved reach the client?
 */

export type ClientFormat = "openai" | "anthropic";

/** The text the mock provider streams: lower-case words, so an engine that upper-cases marks what it approved. */
export const WORDS = Array.from({ length: 12 }, (_, i) => `w${i} `);
/** mock-llm's answer to every call (MOCK_LLM_DEFAULT_SCRIPT): 12 deltas, 40 ms apart. */
export const MOCK_SCRIPT = JSON.stringify({ chunks: WORDS, chunkDelayMs: 40 });

export interface CallResult {
  format: ClientFormat;
  stream: boolean;
  status: number;
  /** `x-luthien-call-id`. */
  callId: string;
  /** `x-luthien-policy-bypassed`, when set. */
  bypassed: string | undefined;
  /** SSE events as received (streams); empty for JSON answers. */
  events: SseMessage[];
  /** The JSON body (non-streaming answers and errors before headers). */
  body: unknown;
  /** Text deltas (streams) or the message text (JSON) the client got. */
  texts: string[];
  /** The error type the client was told (body or error event), if any. */
  errorType: string | undefined;
  /** The stream ended the way a successful one does (`[DONE]`, or `message_stop`). */
  cleanEnd: boolean;
  ms: number;
}

export interface CallOptions {
  format: ClientFormat;
  stream: boolean;
  /** Put in the prompt, so a scripted engine can tell the calls apart. */
  tag?: string;
  /** Called for every SSE event as it arrives, with its 1-based number. */
  onEvent?: (e: SseMessage, n: number) => void;
}

/** One call, read to the end. Never throws for an HTTP or stream failure: the result describes it. */
export async function call(gatewayUrl: string, o: CallOptions): Promise<CallResult> {
  const started = Date.now();
  const content = `tag:${o.tag ?? "none"} say something`;
  const openai = o.format === "openai";
  const res = await fetch(`${gatewayUrl}${openai ? "/v1/chat/completions" : "/v1/messages"}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(openai ? {} : { "anthropic-version": "2023-06-01" }) },
    body: JSON.stringify({
      model: openai ? "gpt-4o-mini" : "claude-mock-sonnet",
      stream: o.stream,
      ...(openai ? {} : { max_tokens: 64 }),
      messages: [{ role: "user", content }],
    }),
  });
  const result: CallResult = {
    format: o.format,
    stream: o.stream,
    status: res.status,
    callId: res.headers.get("x-luthien-call-id") ?? "",
    bypassed: res.headers.get("x-luthien-policy-bypassed") ?? undefined,
    events: [],
    body: undefined,
    texts: [],
    errorType: undefined,
    cleanEnd: false,
    ms: 0,
  };
  if ((res.headers.get("content-type") ?? "").includes("text/event-stream") && res.body !== null) {
    try {
      for await (const e of decodeSseEvents(res.body as unknown as AsyncIterable<Uint8Array>)) {
        result.events.push(e);
        o.onEvent?.(e, result.events.length);
      }
    } catch {
      // A connection cut mid-stream: what arrived is what counts (and the stream did not end cleanly).
    }
    for (const e of result.events) {
      const text = eventText(o.format, e);
      if (text !== undefined) result.texts.push(text);
      const err = eventError(e);
      if (err !== undefined) result.errorType = err;
    }
    const last = result.events.at(-1);
    result.cleanEnd = openai ? last?.data === "[DONE]" : last?.event === "message_stop";
  } else {
    const text = await res.text();
    try {
      result.body = JSON.parse(text) as unknown;
    } catch {
      result.body = text;
    }
    const b = result.body as { error?: { type?: string }; choices?: { message?: { content?: string } }[]; content?: { text?: string }[] };
    result.errorType = b?.error?.type;
    const whole = openai ? b?.choices?.[0]?.message?.content : b?.content?.map((c) => c.text ?? "").join("");
    if (typeof whole === "string") result.texts.push(whole);
  }
  result.ms = Date.now() - started;
  return result;
}

function eventText(format: ClientFormat, e: SseMessage): string | undefined {
  if (e.data === "[DONE]") return undefined;
  try {
    const d = JSON.parse(e.data) as { choices?: { delta?: { content?: string } }[]; type?: string; delta?: { type?: string; text?: string } };
    if (format === "openai") return d.choices?.[0]?.delta?.content ?? undefined;
    return d.type === "content_block_delta" && d.delta?.type === "text_delta" ? d.delta.text : undefined;
  } catch {
    return undefined;
  }
}

function eventError(e: SseMessage): string | undefined {
  try {
    const d = JSON.parse(e.data) as { error?: { type?: string } };
    return d.error?.type;
  } catch {
    return undefined;
  }
}

/**
 * A call that failed closed the way the client's API expects: before headers a 5xx whose body is that API's error
 * shape; after headers one error event, last, with no `[DONE]` / `message_stop` anywhere.
 */
export function failedClosed(r: CallResult): boolean {
  if (r.stream && r.status === 200) {
    const errors = r.events.filter((e) => eventError(e) !== undefined);
    const last = r.events.at(-1);
    const terminators = r.events.filter((e) => e.data === "[DONE]" || e.event === "message_stop");
    const shaped = r.format === "openai" ? last?.event === undefined : last?.event === "error" && (JSON.parse(last.data) as { type?: string }).type === "error";
    return errors.length === 1 && last !== undefined && eventError(last) !== undefined && shaped && terminators.length === 0;
  }
  if (r.status < 500 || r.status > 599) return false;
  const b = r.body as { type?: string; error?: { type?: string; message?: string } } | undefined;
  const shapeOk = r.format === "openai" ? typeof b?.error?.message === "string" : b?.type === "error" && typeof b.error?.message === "string";
  return shapeOk && typeof b?.error?.type === "string";
}

/** A call that succeeded: 200, and for streams a clean end with no error event. */
export function succeeded(r: CallResult): boolean {
  return r.status === 200 && r.errorType === undefined && (!r.stream || r.cleanEnd);
}

/**
 * Whether the call was served without the engine's verdict: marked by the gateway, or (unmarked, the real bypass)
 * text the engine never approved reached the client. The engines of these tests approve by upper-casing.
 */
export function bypassed(r: CallResult): boolean {
  return r.bypassed !== undefined || r.texts.some((t) => t !== t.toUpperCase());
}

/** Upper-cases the text of an OpenAI chunk or an Anthropic text delta: what the fake engine emits as "approved". */
export function upperCaseEvent(e: SseEvent__Output): SseEvent {
  const text = e.data.toString("utf8");
  try {
    const d = JSON.parse(text) as { choices?: { delta?: { content?: string } }[]; delta?: { text?: string } };
    for (const c of d.choices ?? []) if (typeof c.delta?.content === "string") c.delta.content = c.delta.content.toUpperCase();
    if (typeof d.delta?.text === "string") d.delta.text = d.delta.text.toUpperCase();
    return { event: e.event, data: Buffer.from(JSON.stringify(d)) };
  } catch {
    return { event: e.event, data: e.data };
  }
}

/**
 * Calls until one succeeds with the engine's verdict (a fail-open gateway answers 200 without it: that is not
 * recovered), from the moment a fault cleared. Each try is a streaming call, whose events every engine of these
 * tests marks as approved. The recovery time runs until the successful call was sent, so it does not include how
 * long that call itself streams.
 * @throws when no call succeeds within `timeoutMs`
 */
export async function recovery(gatewayUrl: string, clearedAt: number, timeoutMs = 15_000): Promise<number> {
  return waitFor(
    async () => {
      const sentAt = Date.now();
      const r = await call(gatewayUrl, { format: "openai", stream: true, tag: "recovery" });
      return succeeded(r) && !bypassed(r) ? sentAt - clearedAt : undefined;
    },
    { timeoutMs, intervalMs: 50, what: "a call to succeed after the fault cleared" },
  );
}

/** Counts the gateway's "unexpected engine answer ignored" log lines. */
export function unexpectedAnswersLogged(output: string): number {
  return output.split("\n").filter((l) => l.includes("unexpected engine answer ignored")).length;
}

/**
 * `luthien_gateway_engine_unexpected_answers_total` from `GET /metrics`, or undefined when the gateway has no such
 * route (metrics are optional for these tests; the log line is what they rely on).
 */
export async function unexpectedAnswersMetric(gatewayUrl: string): Promise<number | undefined> {
  const res = await fetch(`${gatewayUrl}/metrics`).catch(() => undefined);
  if (res === undefined || res.status !== 200) return undefined;
  const text = await res.text();
  const lines = text.split("\n").filter((l) => l.startsWith("luthien_gateway_engine_unexpected_answers_total"));
  if (lines.length === 0) return undefined;
  return lines.reduce((sum, l) => sum + Number(l.trim().split(/\s+/).at(-1)), 0);
}
