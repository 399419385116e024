import type { Request, Response } from "express";
import type { SseMessage } from "@luthien/wire";
import type { Logger } from "@luthien/runtime";
import { createCallActivity, type ActivitySink, type CallActivity, type CallOutcome } from "./activity";
import type { CallAuth } from "./auth";
import type { ClientApi } from "./client-api";
import { CallTimeoutError, InvalidRequestError, PolicyDeniedError, PolicyUnavailableError, servableWithoutPolicy, toHttpError } from "./errors";
import type { EnginePools } from "./engine-pool";
import type { PolicyCall, RequestOutcome } from "./policy-engine";
import type { Routing } from "./routing";
import type { SecretRedactor } from "./secrets";
import type { GatewayMetrics } from "./metrics";
import { createSseWriter, type SseWriter } from "./sse-writer";
import { callTrace } from "./tracing";
import type { Upstream, UpstreamCallOptions, Upstreams } from "./upstream";

export interface CallHandlerOptions {
  api: ClientApi;
  /** The engine pools; each call's pool also decides its failure mode. */
  engines: EnginePools;
  routing: Routing;
  upstreams: Upstreams;
  logger: Logger;
  /** Stream events in flight to the engine at once. */
  window: number;
  /** A stream about to reach the client broke its format's rules (`stream.protocol_violation`). */
  onViolation(callId: string, err: Error): void;
  /** Activity events (NATS). */
  activity: ActivitySink;
  /** Publish `chunk.received` / `chunk.sent` for every stream event (ACTIVITY_CHUNKS=on). */
  chunkEvents: boolean;
  /** Credentials to keep out of error answers, logs and the engine's upstream-error messages. */
  secrets: SecretRedactor;
  /** A call still running after this long is aborted (provider and engine) and fails with CallTimeoutError. 0 = no cap. */
  maxCallMs: number;
  /** Silence on a stream after which a heartbeat goes out. 0 = none. */
  heartbeatMs: number;
  /** Fail-open bypasses and open client streams are counted here. @default not counted */
  metrics?: Pick<GatewayMetrics, "bypassed" | "streamOpened">;
}

/**
 * On non-streaming answers: milliseconds the gateway spent on the call (from its body being read until the answer
 * is sent) minus the time spent waiting for the provider — what the gateway and its policies add.
 */
export const OVERHEAD_HEADER = "x-luthien-overhead-ms";

/** Where a non-streaming call's time went, for {@link OVERHEAD_HEADER}. */
interface CallTiming {
  /** `performance.now()` when the handler started. */
  startedAt: number;
  providerMs: number;
}

/** Sets {@link OVERHEAD_HEADER}; a no-op once the headers went out. */
function setOverhead(res: Response, timing: CallTiming): void {
  if (res.headersSent) return;
  res.set(OVERHEAD_HEADER, Math.max(0, performance.now() - timing.startedAt - timing.providerMs).toFixed(3));
}

/**
 * After the call's time cap, how long the handler gets to report the timeout before the connection is cut: a
 * client that stopped reading would otherwise hold it open for ever (its socket never drains).
 */
const TIMEOUT_GRACE_MS = 5000;

type Mode = "FULL" | "OBSERVE" | "SKIP";

interface CallStats {
  mode: Mode;
  bypassed: string | undefined;
}

/** Client headers an Anthropic-format provider must see unchanged. */
const ANTHROPIC_FORWARDED = ["anthropic-version", "anthropic-beta"];

/**
 * One client call, in either client API: ask the engine about the request, call the routed provider (translated at
 * that edge if it speaks the other format), and pass the response — or, in FULL mode, every stream event — through
 * the engine before the client sees it. Engine failures fail the call closed unless its engine pool fails open, in which
 * case it is served without policy and marked `x-luthien-policy-bypassed`.
 */
export function createCallHandler(options: CallHandlerOptions): (req: Request, res: Response) => Promise<void> {
  const { api, engines, logger } = options;

  return async (req, res) => {
    const callId = res.locals["callId"] as string;
    const auth = res.locals["auth"] as CallAuth;
    const timing: CallTiming = { startedAt: performance.now(), providerMs: 0 };
    const elapsedMs = (): number => Math.round(performance.now() - timing.startedAt);
    const ownSecret = auth.credential.kind === "server" ? [] : [auth.credential.value];
    const redact = (text: string): string => options.secrets.redact(text, ownSecret);
    // Aborted when the call must stop early: the client left, or the call ran past maxCallMs. Stops the engine
    // stream and the provider request in every phase. Attach before the first await: once the body is read, only
    // `res` reports the client leaving.
    const abort = new AbortController();
    let stopped: "client" | "deadline" | undefined;
    let graceTimer: NodeJS.Timeout | undefined;
    const stop = (why: "client" | "deadline"): void => {
      if (stopped !== undefined) return;
      stopped = why;
      abort.abort();
      logger.info("call cancelled", { callId, reason: why === "client" ? "client_closed" : "max_call_ms", after_ms: elapsedMs() });
      if (why === "deadline") {
        graceTimer = setTimeout(() => {
          if (!res.writableEnded) res.destroy();
        }, TIMEOUT_GRACE_MS);
      }
    };
    res.on("close", () => {
      if (!res.writableFinished) stop("client");
    });
    const { model, stream } = api.validate(req.body);
    const body = req.body as Record<string, unknown>;
    const provider = options.routing.resolve(model);
    if (provider === undefined) throw new InvalidRequestError(`no provider is configured for model ${JSON.stringify(model)}`);
    const traced = callTrace(res);
    let upstream = traced.upstream(options.upstreams.for(provider, api.format));
    const pool = engines.select({ keyId: auth.keyId, model, route: api.route });
    traced.routed({ model, provider, pool: pool.name, stream });
    const call = pool.open(callId);
    abort.signal.addEventListener("abort", () => call.close("cancel"));
    // Stops the provider call on a client disconnect, and on a policy failure mid-stream (fail closed).
    const upstreamAbort = new AbortController();
    abort.signal.addEventListener("abort", () => upstreamAbort.abort());
    const upstreamOptions: UpstreamCallOptions = {
      signal: upstreamAbort.signal,
      credential: auth.credential,
      forwardHeaders: pickHeaders(req, ANTHROPIC_FORWARDED),
    };
    const activity = createCallActivity({ sink: traced.activity(options.activity), callId, format: api.format, chunkEvents: options.chunkEvents });
    const validate = api.createValidator();
    let violated = false;
    // FULL streams pass the client API's stream stage, which enforces the same rules: checking again would parse
    // every event a second time.
    let checkWrites = true;
    const sse = createSseWriter(res, {
      onEvent: (m) => {
        activity.clientEvent(m);
        if (violated || !checkWrites) return;
        try {
          validate(m);
        } catch (err) {
          // Counted and reported, not enforced: the stage before this is what makes streams valid.
          violated = true;
          options.onViolation(callId, err as Error);
          options.activity.publish(callId, "stream.protocol_violation", { error: (err as Error).message });
        }
      },
      heartbeat: api.heartbeat,
      heartbeatMs: options.heartbeatMs,
    });
    const openStream = (): void => {
      sse.open();
      const closed = options.metrics?.streamOpened();
      if (closed === undefined) return;
      if (res.closed) closed();
      else res.once("close", closed);
    };
    const stats: CallStats = { mode: "FULL", bypassed: undefined };
    let outcome: CallOutcome = "ok";
    let status = 200;
    let failure: { type: string; message: string } | undefined;

    const bypass = (err: unknown): string => {
      // A call being stopped is not an engine failure: its cancelled stream must not count as a bypass.
      if (abort.signal.aborted || !servableWithoutPolicy(err, pool.failureMode)) throw err;
      stats.bypassed ??= err.reason;
      options.metrics?.bypassed(err.reason);
      activity.bypassed(err.reason, err.message);
      logger.warn("policy bypassed (fail-open)", { callId, reason: err.reason, error: err.message });
      return err.reason;
    };

    const { userId, sessionId } = api.identity(body, req);
    activity.started({ model, stream, route: api.route, keyId: auth.keyId, userId, sessionId, format: api.format, provider: provider.name });
    res.locals["callStarted"] = true;
    activity.requestReceived(body);
    const deadline = options.maxCallMs > 0 ? setTimeout(() => stop("deadline"), options.maxCallMs) : undefined;
    try {
      let verdict: RequestOutcome;
      try {
        verdict = await traced.requestVerdict(async () => (
          await call.askRequest({
            format: api.protocolFormat,
            stream,
            keyId: auth.keyId,
            userId,
            sessionId,
            route: api.route,
            requestJson: Buffer.from(JSON.stringify(body)),
            headers: pickHeaders(req, api.visibleHeaders),
            traceContext: traced.traceContext,
          })
        ).result);
      } catch (err) {
        if (abort.signal.aborted) throw err;
        res.set("x-luthien-policy-bypassed", bypass(err));
        call.close("cancel");
        verdict = { action: "continue", requestJson: undefined, mode: "SKIP" };
      }

      if (verdict.action === "deny") {
        activity.action("denied");
        throw verdict.error;
      }
      if (verdict.action === "respond") {
        activity.action("responded");
        const answer = engineJson(verdict.responseJson, "answered the request") as object;
        call.close("done");
        if (!stream) {
          activity.responses(null, answer);
          setOverhead(res, timing);
          res.status(200).json(answer);
          return;
        }
        openStream();
        for (const m of api.responseToEvents(answer)) await sse.write(m);
        sse.end();
        return;
      }
      stats.mode = verdict.mode;
      checkWrites = verdict.mode !== "FULL";
      const params = verdict.requestJson !== undefined ? rewritten(verdict.requestJson, stream) : body;
      if (verdict.requestJson !== undefined) activity.action("request_modified");
      // A policy may have switched the model (model-router): route the final request, not the original.
      const finalModel = (params as { model?: unknown }).model;
      if (typeof finalModel === "string" && finalModel !== model) {
        const routed = options.routing.resolve(finalModel);
        if (routed === undefined) throw new InvalidRequestError(`no provider is configured for model ${JSON.stringify(finalModel)}`);
        upstream = traced.upstream(options.upstreams.for(routed, api.format));
      }
      activity.requestSent(params);
      if (!stream) {
        await answerJson({ res, call, mode: verdict.mode, upstream, params, upstreamOptions, bypass, activity, timing });
        return;
      }
      const events = await upstream.stream(params, upstreamOptions);
      openStream();
      if (verdict.mode === "FULL") {
        await pipeFull({ api, call, events, sse, window: options.window, upstreamAbort, clientSignal: abort.signal, stats, bypass, activity });
      } else {
        for await (const m of events) {
          activity.upstreamEvent(m);
          if (verdict.mode === "OBSERVE") call.observe({ chunk: { event: m.event ?? "", data: Buffer.from(m.data) } });
          await sse.write(m);
        }
        if (verdict.mode === "OBSERVE") call.observe({ end: true });
        for (const m of api.terminator) await sse.write(m);
      }
      call.close("done");
      sse.end();
    } catch (caught) {
      if (stopped === "client") {
        outcome = "client_closed";
        traced.failed("client_closed", 499);
        status = 499;
        logger.info("client disconnected", { callId, after_ms: elapsedMs() });
        return;
      }
      // Whatever the abort made fail (the provider request, the engine stream), the reason is the time cap.
      const err = stopped === "deadline" ? new CallTimeoutError(options.maxCallMs) : caught;
      const http = toHttpError(err, { redact });
      traced.failed(http.type, http.status);
      outcome = err instanceof PolicyDeniedError ? "denied" : "error";
      status = sse.opened ? 200 : http.status;
      failure = { type: http.type, message: http.message };
      if (http.fromProvider !== undefined) call.upstreamError(http.status, http.type, http.message);
      call.close("cancel");
      // The cause says what the answer does not (a converter's TypeError behind a 400).
      const cause = err instanceof Error ? err.cause : undefined;
      logger.warn("call failed", { callId, status: http.status, type: http.type, error: http.message, cause: cause instanceof Error ? redact(cause.message) : undefined });
      if (sse.opened) {
        // After the status line only an error event can tell the client; no terminator follows a failure.
        await sse.writeError(api.errorEvent(http, sse.last)).catch(() => undefined);
        sse.end();
        return;
      }
      if (!stream) setOverhead(res, timing);
      throw err;
    } finally {
      clearTimeout(deadline);
      clearTimeout(graceTimer);
      if (outcome === "ok") status = res.statusCode;
      activity.ended({ status, outcome, ...(failure !== undefined ? { error: failure } : {}) });
      logger.info("call", {
        callId,
        route: api.route,
        model: redact(model),
        provider: upstream.provider.name,
        stream,
        mode: stats.mode,
        status,
        ms: elapsedMs(),
        bypassed: stats.bypassed,
      });
    }
  };
}

/** A policy's rewritten request. Whether to stream is the client's choice, whatever the rewrite says. */
function rewritten(json: Buffer, stream: boolean): object {
  const parsed = engineJson(json, "rewrote the request") as Record<string, unknown>;
  if ((parsed["stream"] === true) !== stream) parsed["stream"] = stream;
  return parsed;
}

/** JSON the engine sent; anything else is the engine's failure, never the client's or the gateway's. */
function engineJson(json: Buffer, what: string): unknown {
  try {
    const value = JSON.parse(json.toString("utf8")) as unknown;
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value;
  } catch {
    // reported below
  }
  throw new PolicyUnavailableError("engine_error", `policy engine ${what} with something that is not a JSON object`);
}

function pickHeaders(req: Request, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) {
    const v = req.headers[name];
    if (typeof v === "string") out[name] = v;
  }
  return out;
}

async function answerJson(o: {
  res: Response;
  call: PolicyCall;
  mode: Mode;
  upstream: Upstream;
  params: object;
  upstreamOptions: UpstreamCallOptions;
  bypass: (err: unknown) => string;
  activity: CallActivity;
  timing: CallTiming;
}): Promise<void> {
  const { res, call, mode } = o;
  const waitStarted = performance.now();
  let received: object;
  try {
    received = await o.upstream.complete(o.params, o.upstreamOptions);
  } finally {
    o.timing.providerMs += performance.now() - waitStarted;
  }
  const original = Buffer.from(JSON.stringify(received));
  if (mode === "OBSERVE") call.observe({ response: original });
  let out: Buffer = original;
  if (mode === "FULL") {
    try {
      const verdict = await (await call.askResponse(original)).result;
      if (verdict.action === "deny") throw verdict.error;
      out = verdict.responseJson ?? original;
    } catch (err) {
      res.set("x-luthien-policy-bypassed", o.bypass(err));
    }
  }
  call.close("done");
  if (out !== original) o.activity.action("response_modified");
  o.activity.responses(received, out === original ? received : engineJson(out, "answered the response"));
  setOverhead(res, o.timing);
  res.status(200).type("application/json").send(out);
}

interface PipeOptions {
  api: ClientApi;
  call: PolicyCall;
  events: AsyncIterable<SseMessage>;
  sse: SseWriter;
  window: number;
  upstreamAbort: AbortController;
  clientSignal: AbortSignal;
  stats: CallStats;
  bypass: (err: unknown) => string;
  activity: CallActivity;
}

/**
 * FULL mode: each upstream event goes to the engine as soon as it arrives, up to `window` awaiting verdicts; the
 * events the engine emits pass the client API's stream stage and reach the client in upstream order. The first
 * failure stops reading upstream (fail closed) — or, in fail-open mode, sends that event and all after it through
 * unchanged.
 */
async function pipeFull(o: PipeOptions): Promise<void> {
  const { call, sse, stats } = o;
  const stage = o.api.createStage();
  const emit = async (message: SseMessage): Promise<void> => {
    for (const m of stage.push(message)) await sse.write(m);
  };
  const fromEngine = (e: { event: string; data: Buffer }): SseMessage => (e.event === "" ? { data: e.data.toString("utf8") } : { event: e.event, data: e.data.toString("utf8") });
  let failure: unknown;
  let tail: Promise<void> = Promise.resolve();
  const inFlight: Promise<void>[] = [];
  try {
    for await (const message of o.events) {
      o.activity.upstreamEvent(message);
      let step: Promise<void>;
      if (stats.bypassed !== undefined) {
        step = tail.then(() => emit(message));
      } else {
        const pending = await call
          .askChunk({ event: message.event ?? "", data: Buffer.from(message.data) })
          .catch((err: unknown) => ({ result: Promise.reject(err) as Promise<never> }));
        pending.result.catch(() => undefined);
        step = tail.then(async () => {
          let emitted: SseMessage[];
          try {
            const outcome = await pending.result;
            emitted = outcome === "unchanged" ? [message] : outcome.map(fromEngine);
          } catch (err) {
            o.bypass(err);
            emitted = [message];
          }
          for (const m of emitted) await emit(m);
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
        // What the policies did to the stream (blocked a tool call, redacted, ...): the gateway cannot see it itself.
        o.activity.policyActions(finish.policyActions);
        for (const e of finish.events) await emit(fromEngine(e));
        if (finish.error !== undefined) throw finish.error;
      }
    }
    for (const m of stage.end()) await sse.write(m);
  } catch (err) {
    if (failure !== undefined) throw failure;
    // The provider failed mid-stream: deliver what the engine already approved, then report the failure.
    if (!o.clientSignal.aborted) await tail.catch(() => undefined);
    if (failure !== undefined) throw failure;
    throw err;
  }
}
