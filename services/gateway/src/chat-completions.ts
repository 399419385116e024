import type { Request, Response } from "express";
import type OpenAI from "openai";
import {
  SSE_DONE,
  completionToChunks,
  createOpenAIStreamGuard,
  type ChatCompletion,
  type ChatCompletionChunk,
  type ChatCompletionCreateParams,
} from "@luthien/wire";
import type { Logger } from "@luthien/runtime";
import { InvalidRequestError, PolicyTimeoutError, PolicyUnavailableError, toHttpError } from "./errors";
import type { PolicyCall, PolicyEngine, RequestVerdict } from "./policy-engine";
import { createSseWriter, type SseWriter } from "./sse-writer";

export interface ChatCompletionsOptions {
  engine: PolicyEngine;
  openai: OpenAI;
  logger: Logger;
  failureMode: "closed" | "open";
  /** Stream events in flight to the engine at once. */
  window: number;
}

type Mode = "FULL" | "OBSERVE" | "SKIP";

/** Request headers a policy may see. Credentials and cookies never leave the gateway. */
const FORWARDED_HEADERS = ["user-agent", "openai-organization", "openai-project", "x-request-id"];

/**
 * `POST /v1/chat/completions`. For each call: ask the engine about the request, call the provider through the
 * official client, and pass the response (or, in FULL mode, every stream event) through the engine before the
 * client sees it. Failures of the engine fail the call closed unless `failureMode` is open, in which case the
 * call is served without policy and marked `x-luthien-policy-bypassed`.
 */
export function createChatCompletionsHandler(options: ChatCompletionsOptions): (req: Request, res: Response) => Promise<void> {
  const { engine, openai, logger } = options;

  return async (req, res) => {
    const callId = res.locals["callId"] as string;
    const keyId = res.locals["keyId"] as string;
    const startedAt = Date.now();
    // Attach before the first await: once the body is read, only `res` reports the client leaving.
    const abort = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) abort.abort();
    });
    const body = validateBody(req.body);
    const stream = body.stream === true;
    const call = engine.open(callId);
    abort.signal.addEventListener("abort", () => call.close("cancel"));
    // Stops the provider call on a client disconnect, and on a policy failure mid-stream (fail closed).
    const upstreamAbort = new AbortController();
    abort.signal.addEventListener("abort", () => upstreamAbort.abort());
    const sse = createSseWriter(res);
    const stats = { mode: "FULL" as Mode, chunksIn: 0, chunksOut: 0, bypassed: undefined as string | undefined };

    const bypass = (err: unknown): string => {
      if (options.failureMode !== "open" || !(err instanceof PolicyUnavailableError || err instanceof PolicyTimeoutError)) throw err;
      stats.bypassed ??= err.reason;
      logger.warn("policy bypassed (fail-open)", { callId, reason: err.reason, error: err.message });
      return err.reason;
    };

    try {
      let verdict: RequestVerdict;
      try {
        verdict = await (
          await call.askRequest({
            stream,
            keyId,
            route: "/v1/chat/completions",
            requestJson: Buffer.from(JSON.stringify(req.body)),
            headers: pickHeaders(req),
          })
        ).result;
      } catch (err) {
        if (abort.signal.aborted) throw err;
        res.set("x-luthien-policy-bypassed", bypass(err));
        call.close("cancel");
        verdict = { action: "continue", requestJson: undefined, mode: "SKIP" };
      }

      if (verdict.action === "deny") throw verdict.error;
      if (verdict.action === "respond") {
        const completion = JSON.parse(verdict.responseJson.toString("utf8")) as ChatCompletion;
        call.close("done");
        if (stream) await sendChunks(sse, completionToChunks(completion));
        else res.status(200).json(completion);
        return;
      }
      stats.mode = verdict.mode;
      const params = (verdict.requestJson !== undefined ? JSON.parse(verdict.requestJson.toString("utf8")) : body) as ChatCompletionCreateParams;
      if (!stream) {
        const completion = await openai.chat.completions.create({ ...params, stream: false }, { signal: upstreamAbort.signal });
        await answerJson(res, call, verdict.mode, completion, bypass);
        return;
      }
      const upstream = await openai.chat.completions.create({ ...params, stream: true }, { signal: upstreamAbort.signal });
      sse.open();
      if (verdict.mode === "FULL") {
        await pipeFull({ call, upstream, sse, window: options.window, upstreamAbort, clientSignal: abort.signal, stats, bypass });
      } else {
        for await (const chunk of upstream) {
          stats.chunksIn++;
          if (verdict.mode === "OBSERVE") call.observe({ chunk: { event: "", data: Buffer.from(JSON.stringify(chunk)) } });
          await sse.write({ data: JSON.stringify(chunk) });
          stats.chunksOut++;
        }
        if (verdict.mode === "OBSERVE") call.observe({ end: true });
        await sse.write({ data: SSE_DONE });
      }
      call.close("done");
      sse.end();
    } catch (err) {
      if (abort.signal.aborted) {
        logger.info("client disconnected", { callId, after_ms: Date.now() - startedAt });
        return;
      }
      const http = toHttpError(err);
      if (http.status >= 500 || !(err instanceof Error && "status" in err)) {
        call.upstreamError(http.status, http.body.error.type, http.body.error.message);
      }
      call.close("cancel");
      logger.warn("call failed", { callId, status: http.status, type: http.body.error.type, error: http.body.error.message });
      if (sse.opened) {
        // After the status line only an error event can tell the client; no [DONE] follows a failure.
        await sse.write({ data: JSON.stringify(http.body) }).catch(() => undefined);
        sse.end();
        return;
      }
      throw err;
    } finally {
      logger.info("call", {
        callId,
        stream,
        mode: stats.mode,
        status: sse.opened ? 200 : res.statusCode,
        ms: Date.now() - startedAt,
        chunks_in: stats.chunksIn,
        chunks_out: stats.chunksOut,
        bypassed: stats.bypassed,
      });
    }
  };
}

function validateBody(body: unknown): ChatCompletionCreateParams {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new InvalidRequestError("the request body must be a JSON object");
  }
  const b = body as Record<string, unknown>;
  if (typeof b["model"] !== "string" || b["model"] === "") throw new InvalidRequestError("`model` is required and must be a string");
  if (!Array.isArray(b["messages"])) throw new InvalidRequestError("`messages` is required and must be an array");
  if (b["stream"] !== undefined && typeof b["stream"] !== "boolean") throw new InvalidRequestError("`stream` must be a boolean");
  return body as ChatCompletionCreateParams;
}

function pickHeaders(req: Request): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of FORWARDED_HEADERS) {
    const v = req.headers[name];
    if (typeof v === "string") out[name] = v;
  }
  return out;
}

async function answerJson(
  res: Response,
  call: PolicyCall,
  mode: Mode,
  completion: ChatCompletion,
  bypass: (err: unknown) => string,
): Promise<void> {
  const original = Buffer.from(JSON.stringify(completion));
  if (mode === "OBSERVE") call.observe({ response: original });
  if (mode !== "FULL") {
    res.status(200).type("application/json").send(original);
    return;
  }
  let out: Buffer = original;
  try {
    const verdict = await (await call.askResponse(original)).result;
    if (verdict.action === "deny") throw verdict.error;
    out = verdict.responseJson ?? original;
  } catch (err) {
    res.set("x-luthien-policy-bypassed", bypass(err));
  }
  call.close("done");
  res.status(200).type("application/json").send(out);
}

async function sendChunks(sse: SseWriter, chunks: ChatCompletionChunk[]): Promise<void> {
  sse.open();
  for (const chunk of chunks) await sse.write({ data: JSON.stringify(chunk) });
  await sse.write({ data: SSE_DONE });
  sse.end();
}

interface PipeOptions {
  call: PolicyCall;
  upstream: AsyncIterable<ChatCompletionChunk>;
  sse: SseWriter;
  window: number;
  upstreamAbort: AbortController;
  clientSignal: AbortSignal;
  stats: { chunksIn: number; chunksOut: number; bypassed: string | undefined };
  bypass: (err: unknown) => string;
}

/**
 * FULL mode: each upstream chunk goes to the engine as soon as it arrives, up to `window` awaiting verdicts; the
 * emitted events reach the client in upstream order. The first failure stops reading upstream (fail closed) —
 * or, in fail-open mode, sends that chunk and all after it through unchanged.
 */
async function pipeFull(o: PipeOptions): Promise<void> {
  const { call, sse, stats } = o;
  const guard = createOpenAIStreamGuard();
  const emit = async (data: string): Promise<void> => {
    guard.check(JSON.parse(data) as ChatCompletionChunk);
    await sse.write({ data });
    stats.chunksOut++;
  };
  let failure: unknown;
  let tail: Promise<void> = Promise.resolve();
  const inFlight: Promise<void>[] = [];
  try {
    for await (const chunk of o.upstream) {
      stats.chunksIn++;
      const data = JSON.stringify(chunk);
      let step: Promise<void>;
      if (stats.bypassed !== undefined) {
        step = tail.then(() => emit(data));
      } else {
        const pending = await call.askChunk({ event: "", data: Buffer.from(data) }).catch((err: unknown) => ({ result: Promise.reject(err) }));
        pending.result.catch(() => undefined);
        step = tail.then(async () => {
          let events: { data: Buffer }[];
          try {
            events = await pending.result;
          } catch (err) {
            o.bypass(err);
            events = [{ data: Buffer.from(data) }];
          }
          for (const e of events) await emit(e.data.toString("utf8"));
        });
      }
      tail = step;
      step.catch((err: unknown) => {
        failure ??= err;
        o.upstreamAbort.abort();
      });
      inFlight.push(step);
      if (inFlight.length >= o.window) await inFlight.shift();
    }
    await tail;
    if (stats.bypassed === undefined) {
      let finish;
      try {
        finish = await (await call.askFinish()).result;
      } catch (err) {
        o.bypass(err);
      }
      if (finish !== undefined) {
        for (const e of finish.events) await emit(e.data.toString("utf8"));
        if (finish.error !== undefined) throw finish.error;
      }
    }
    await sse.write({ data: SSE_DONE });
  } catch (err) {
    if (failure !== undefined) throw failure;
    // The provider failed mid-stream: deliver what the engine already approved, then report the failure.
    if (!o.clientSignal.aborted) await tail.catch(() => undefined);
    if (failure !== undefined) throw failure;
    throw err;
  }
}
