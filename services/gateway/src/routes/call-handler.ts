import type { Request, Response } from "express";
import { SSE_DONE, StreamEvent, createClientStage, createClientValidator } from "@luthien/wire";
import type { Logger } from "@luthien/runtime";
import { createCallActivity, type ActivitySink, type CallActivity, type CallOutcome } from "../activity";
import type { ClientApi } from "../formats/client-api";
import { CallTimeoutError, InvalidRequestError, PolicyDeniedError, PolicyUnavailableError, servableWithoutPolicy, toHttpError, type HttpError } from "../errors";
import type { EnginePool, EnginePools } from "../engine/engine-pool";
import { JsonBody } from "../formats/json-body";
import { callLocals } from "../locals";
import type { GatewayMetrics } from "../metrics";
import type { ChunkOutcome, PolicyCall, RequestOutcome } from "../engine/policy-engine";
import type { Routing } from "../upstream/routing";
import type { SecretRedactor } from "../identity/secrets";
import type { CallLimits } from "../identity/limits";
import { checkRequestScope, engineSelectorOf } from "../identity/scopes";
import { createSseWriter, type SseWriter } from "../formats/sse-writer";
import type { CallTrace } from "../tracing";
import type { Upstream, UpstreamCallOptions, Upstreams } from "../upstream/upstream";

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
  /** Each key's limits: spend budgets need a priced model; a finished call is charged. */
  limits: CallLimits;
  /** Fail-open bypasses and open client streams are counted here. @default not counted */
  metrics?: Pick<GatewayMetrics, "bypassed" | "streamOpened">;
}

/**
 * On non-streaming answers: milliseconds the gateway spent on the call (from its body being read until the answer
 * is sent) minus the time spent waiting for the provider — what the gateway and its policies add.
 */
export const OVERHEAD_HEADER = "x-luthien-overhead-ms";

/**
 * After the call's time cap, how long the handler gets to report the timeout before the connection is cut: a
 * client that stopped reading would otherwise hold it open for ever (its socket never drains).
 */
const TIMEOUT_GRACE_MS = 5000;

/**
 * A Chat Completions stream reports usage only when asked (`stream_options.include_usage`); a key whose tokens or
 * spend are counted asks for it, so that no stream goes uncounted. Clients get one more chunk, with no choices.
 */
function withStreamUsage(body: JsonBody): JsonBody {
  const value = body.value as Record<string, unknown>;
  const options = value["stream_options"];
  if (typeof options === "object" && options !== null && (options as Record<string, unknown>)["include_usage"] === true) return body;
  return JsonBody.fromValue({ ...value, stream_options: { ...(typeof options === "object" && options !== null ? options : {}), include_usage: true } });
}

/** Client headers an Anthropic-format provider must see unchanged. */
const ANTHROPIC_FORWARDED = ["anthropic-version", "anthropic-beta"];

const JSON_CONTENT_TYPE = "application/json; charset=utf-8";

type Mode = "FULL" | "OBSERVE" | "SKIP";

/**
 * The handler of a decided route: one {@link Call} per request. Errors before the call begins (a body that is not a
 * valid request, a model no provider serves) go to the app's error boundary; from then on the call answers itself.
 */
export function createCallHandler(options: CallHandlerOptions): (req: Request, res: Response) => Promise<void> {
  return async (req, res) => {
    const call = new Call(options, req, res);
    call.begin();
    await call.run();
  };
}

/**
 * One client call, in any client API: decide the request with the engine, route it (again, if a policy switched the
 * model), serve it — a whole JSON answer, or a stream passed through (SKIP, OBSERVE) or decided event by event
 * (FULL) — and finish or fail. Engine failures fail the call closed unless its engine pool fails open, in which case
 * it is served without policy and marked `x-luthien-policy-bypassed`.
 */
class Call {
  readonly id: string;
  readonly #o: CallHandlerOptions;
  readonly #api: ClientApi;
  readonly #req: Request;
  readonly #res: Response;
  readonly #trace: CallTrace;
  readonly #credential: ReturnType<typeof callLocals>["auth"];
  readonly #startedAt = performance.now();
  /** Time spent waiting for the provider's whole answer (non-streaming), for {@link OVERHEAD_HEADER}. */
  #providerMs = 0;
  /** Aborted when the call must stop early: the client left, or the call ran past maxCallMs. */
  readonly #abort = new AbortController();
  /** Stops the provider request: on the call stopping, and on a policy failure mid-stream (fail closed). */
  readonly #upstreamAbort = new AbortController();
  #stopped: "client" | "deadline" | undefined;
  #deadline: NodeJS.Timeout | undefined;
  #grace: NodeJS.Timeout | undefined;

  // Set by begin().
  #request!: JsonBody;
  #model!: string;
  #stream!: boolean;
  #upstream!: Upstream;
  #pool!: EnginePool;
  #engine!: PolicyCall;
  #activity!: CallActivity;
  #sse!: SseWriter;
  #identity!: { userId: string; sessionId: string };

  #mode: Mode = "FULL";
  #bypassed: string | undefined;
  /** What the client received for its failure, for `call.ended`. */
  #errorBody: unknown;
  #violated = false;
  /** FULL streams pass the client stage, which enforces the format's rules: checking them again would be waste. */
  #checkWrites = true;

  constructor(options: CallHandlerOptions, req: Request, res: Response) {
    this.#o = options;
    this.#api = options.api;
    this.#req = req;
    this.#res = res;
    const locals = callLocals(res);
    this.id = locals.id;
    this.#trace = locals.trace;
    this.#credential = locals.auth;
    // Attach before the first await: once the body is read, only `res` reports the client leaving.
    res.on("close", () => {
      if (!res.writableFinished) this.#stop("client");
    });
  }

  /**
   * Validates and routes the request and opens its engine call and activity. What throws here is the client's
   * error, rendered by the error boundary (which publishes the refused call).
   */
  begin(): void {
    const locals = callLocals(this.#res);
    const body = locals.body ?? JsonBody.fromValue(this.#req.body as object);
    const { model, stream } = this.#api.validate(body.value);
    const auth = this.#credential;
    this.#request = this.#o.limits.countsUsage(auth) && stream && this.#api.format === "openai" ? withStreamUsage(body) : body;
    this.#model = model;
    this.#stream = stream;
    checkRequestScope(auth, body.value as Record<string, unknown>, model);
    this.#o.limits.checkPriced(auth, model);
    this.#upstream = this.#trace.upstream(this.#o.upstreams.for(this.#route(model), this.#api.format));
    this.#pool = this.#o.engines.select(engineSelectorOf(auth, model, this.#api.route));
    this.#identity = this.#api.identity(body.value as Record<string, unknown>, this.#req);
    this.#trace.routed({ model, provider: this.#upstream.provider, pool: this.#pool.name, stream, keyId: auth.keyId, owner: auth.owner, sessionId: this.#identity.sessionId });
    this.#engine = this.#pool.open(this.id);
    this.#abort.signal.addEventListener("abort", () => {
      this.#engine.close("cancel");
      this.#upstreamAbort.abort();
    });
    this.#activity = createCallActivity({
      sink: this.#o.activity,
      callId: this.id,
      format: this.#api.format,
      chunkEvents: this.#o.chunkEvents,
      assemble: this.#trace.recording,
    });
    this.#sse = createSseWriter(this.#res, {
      onEvent: (e) => this.#clientEvent(e),
      heartbeat: this.#api.heartbeat,
      heartbeatMs: this.#o.heartbeatMs,
    });
    this.#activity.started({
      model,
      stream,
      route: this.#api.route,
      keyId: auth.keyId,
      owner: auth.owner,
      ...this.#identity,
      format: this.#api.format,
      provider: this.#upstream.provider.name,
    });
    locals.started = true;
    this.#activity.requestReceived(body.forEvent());
    if (this.#o.maxCallMs > 0) this.#deadline = setTimeout(() => this.#stop("deadline"), this.#o.maxCallMs);
  }

  /** Serves the call and always finishes it: answered, failed, or stopped. */
  async run(): Promise<void> {
    let outcome: CallOutcome = "ok";
    let failure: HttpError | undefined;
    try {
      const decided = await this.#decideRequest();
      if (decided.action === "deny") {
        this.#activity.action("denied");
        throw decided.error;
      }
      if (decided.action === "respond") {
        this.#activity.action("responded");
        await this.#answerLocally(engineJson(decided.responseJson, "answered the request"));
        return;
      }
      this.#mode = decided.mode;
      this.#checkWrites = decided.mode !== "FULL";
      const request = decided.requestJson !== undefined ? this.#rewritten(decided.requestJson) : this.#request;
      this.#activity.requestSent(request.forEvent());
      if (!this.#stream) await this.#serveJson(request);
      else if (this.#mode === "FULL") await this.#serveFullStream(request);
      else await this.#passStream(request);
    } catch (caught) {
      if (this.#stopped === "client") {
        outcome = "client_closed";
        this.#trace.failed("client_closed", 499);
        this.#o.logger.info("client disconnected", { callId: this.id, after_ms: this.#elapsedMs() });
        return;
      }
      failure = await this.#fail(caught);
      outcome = caught instanceof PolicyDeniedError ? "denied" : "error";
    } finally {
      this.#finish(outcome, failure);
    }
  }

  #route(model: string): Upstream["provider"] {
    const provider = this.#o.routing.resolve(model);
    if (provider === undefined) throw new InvalidRequestError(`no provider is configured for model ${JSON.stringify(model)}`);
    return provider;
  }

  /** Phase 1: the engine's verdict on the request, or — failing open — a SKIP without one. */
  async #decideRequest(): Promise<RequestOutcome> {
    const auth = this.#credential;
    try {
      return await this.#trace.requestVerdict(
        async () =>
          (
            await this.#engine.askRequest({
              format: this.#api.protocolFormat,
              stream: this.#stream,
              keyId: auth.keyId,
              owner: auth.owner,
              ...this.#identity,
              route: this.#api.route,
              requestJson: this.#request.bytes,
              headers: pickHeaders(this.#req, this.#api.visibleHeaders),
              traceContext: this.#trace.traceContext,
            })
          ).result,
      );
    } catch (err) {
      if (this.#abort.signal.aborted) throw err;
      this.#res.set("x-luthien-policy-bypassed", this.#bypass(err));
      this.#engine.close("cancel");
      return { action: "continue", requestJson: undefined, mode: "SKIP" };
    }
  }

  /** A policy's rewritten request, routed anew when it switched the model. Whether to stream stays the client's choice. */
  #rewritten(bytes: Buffer): JsonBody {
    this.#activity.action("request_modified");
    const value = engineJson(bytes, "rewrote the request") as Record<string, unknown>;
    let body = JsonBody.of(bytes, value);
    if ((value["stream"] === true) !== this.#stream) body = JsonBody.fromValue({ ...value, stream: this.#stream });
    const model = value["model"];
    if (typeof model === "string" && model !== this.#model) this.#upstream = this.#trace.upstream(this.#o.upstreams.for(this.#route(model), this.#api.format));
    return body;
  }

  #upstreamOptions(): UpstreamCallOptions {
    return { signal: this.#upstreamAbort.signal, credential: this.#credential.credential, forwardHeaders: pickHeaders(this.#req, ANTHROPIC_FORWARDED) };
  }

  /** Phase 2a: a policy answered the request itself; no provider is called. */
  async #answerLocally(answer: object): Promise<void> {
    this.#engine.close("done");
    if (!this.#stream) {
      this.#activity.responses(null, answer);
      this.#sendJson(JsonBody.fromValue(answer));
      return;
    }
    this.#openStream();
    for (const e of this.#api.responseToEvents(answer)) await this.#sse.write(e);
    this.#sse.end();
  }

  /** Phase 2b: a whole response, decided by the engine in FULL mode, shown to it in OBSERVE. */
  async #serveJson(request: JsonBody): Promise<void> {
    const waitStarted = performance.now();
    let received: JsonBody;
    try {
      received = await this.#upstream.complete(request, this.#upstreamOptions());
    } finally {
      this.#providerMs += performance.now() - waitStarted;
    }
    if (this.#mode === "OBSERVE") this.#engine.observe({ response: received.bytes });
    let out = received;
    if (this.#mode === "FULL") {
      try {
        const verdict = await (await this.#engine.askResponse(received.bytes)).result;
        if (verdict.action === "deny") throw verdict.error;
        if (verdict.responseJson !== undefined) out = JsonBody.of(verdict.responseJson, engineJson(verdict.responseJson, "answered the response"));
      } catch (err) {
        this.#res.set("x-luthien-policy-bypassed", this.#bypass(err));
      }
    }
    this.#engine.close("done");
    if (out !== received) this.#activity.action("response_modified");
    this.#activity.responses(received.forEvent(), out.forEvent(), out.value);
    this.#sendJson(out);
  }

  /** Phase 2c: SKIP and OBSERVE streams reach the client as the provider sent them. */
  async #passStream(request: JsonBody): Promise<void> {
    const events = await this.#upstream.stream(request, this.#upstreamOptions());
    this.#openStream();
    this.#activity.passthrough();
    const observe = this.#mode === "OBSERVE";
    let terminated = false;
    for await (const e of events) {
      if (e.data === SSE_DONE) {
        terminated = true;
      } else {
        this.#activity.upstreamEvent(e);
        if (observe) this.#engine.observe({ chunk: toSseEvent(e) });
      }
      await this.#sse.write(e);
    }
    if (observe) this.#engine.observe({ end: true });
    // A provider that ended without its terminator still leaves the client a stream that ends as its format says.
    if (!terminated) for (const e of this.#api.terminator) await this.#sse.write(e);
    this.#engine.close("done");
    this.#sse.end();
  }

  /**
   * Phase 2d, FULL streams: each upstream event goes to the engine as soon as it arrives, up to `window` awaiting
   * verdicts; the events the engine emits pass the client stage and reach the client in upstream order. The first
   * failure stops reading upstream (fail closed) — or, failing open, sends that event and all after it unchanged.
   */
  async #serveFullStream(request: JsonBody): Promise<void> {
    const events = await this.#upstream.stream(request, this.#upstreamOptions());
    this.#openStream();
    const stage = createClientStage(this.#api.format);
    const emit = async (e: StreamEvent): Promise<void> => {
      for (const out of stage.push(e)) await this.#sse.write(out);
    };
    let failure: unknown;
    let tail: Promise<void> = Promise.resolve();
    const inFlight: Promise<void>[] = [];
    try {
      for await (const e of events) {
        // The stage ends the stream with its own terminator.
        if (e.data === SSE_DONE) continue;
        this.#activity.upstreamEvent(e);
        // The provider's keepalives are not part of the message; the gateway keeps the client's stream alive itself.
        if (e.event === "ping") continue;
        let step: Promise<void>;
        if (this.#bypassed !== undefined) {
          step = tail.then(() => emit(e));
        } else {
          const pending = await this.#engine.askChunk(toSseEvent(e)).catch((err: unknown) => ({ result: Promise.reject(err) as Promise<never> }));
          pending.result.catch(() => undefined);
          step = tail.then(async () => {
            let outcome: ChunkOutcome;
            try {
              outcome = await pending.result;
            } catch (err) {
              this.#bypass(err);
              outcome = "unchanged";
            }
            if (outcome === "unchanged") await emit(e);
            else for (const out of outcome) await emit(fromEngine(out));
          });
        }
        tail = step;
        step.catch((err: unknown) => {
          failure ??= err;
          this.#upstreamAbort.abort();
        });
        inFlight.push(step);
        if (inFlight.length >= this.#o.window) await inFlight.shift();
      }
      await tail;
      if (this.#bypassed === undefined) {
        let finish;
        try {
          finish = await (await this.#engine.askFinish()).result;
        } catch (err) {
          this.#bypass(err);
        }
        if (finish !== undefined) {
          // What the policies did to the stream (blocked a tool call, redacted, ...): the gateway cannot see it itself.
          this.#activity.policyActions(finish.policyActions);
          for (const out of finish.events) await emit(fromEngine(out));
          if (finish.error !== undefined) throw finish.error;
        }
      }
      for (const out of stage.end()) await this.#sse.write(out);
    } catch (err) {
      if (failure !== undefined) throw failure;
      // The provider failed mid-stream: deliver what the engine already approved, then report the failure.
      if (!this.#abort.signal.aborted) await tail.catch(() => undefined);
      if (failure !== undefined) throw failure;
      throw err;
    }
    this.#engine.close("done");
    this.#sse.end();
  }

  /** Phase 3, on failure: the client gets the error in its format — as an error event once the stream is open. */
  async #fail(caught: unknown): Promise<HttpError> {
    // Whatever the abort made fail (the provider request, the engine stream), the reason is the time cap.
    const err = this.#stopped === "deadline" ? new CallTimeoutError(this.#o.maxCallMs) : caught;
    const redact = (text: string): string => this.#redact(text);
    const http = toHttpError(err, { redact });
    this.#trace.failed(http.type, http.status);
    if (http.fromProvider !== undefined) this.#engine.upstreamError(http.status, http.type, http.message);
    this.#engine.close("cancel");
    // The cause says what the answer does not (a converter's TypeError behind a 400).
    const cause = err instanceof Error ? err.cause : undefined;
    this.#o.logger.warn("call failed", { callId: this.id, status: http.status, type: http.type, error: http.message, cause: cause instanceof Error ? redact(cause.message) : undefined });
    if (this.#sse.opened) {
      // After the status line only an error event can tell the client; no terminator follows a failure.
      const event = this.#api.errorEvent(http, this.#sse.last);
      this.#errorBody = event.json();
      await this.#sse.writeError(event).catch(() => undefined);
      this.#sse.end();
    } else if (!this.#res.headersSent) {
      if (!this.#stream) this.#setOverhead();
      this.#errorBody = this.#api.errorBody(http);
      this.#res.status(http.status).set(http.headers).json(this.#errorBody);
    } else {
      this.#res.end();
    }
    return http;
  }

  /** Phase 4, always: timers stopped, the trace told what the client got, `call.ended` published, one log line. */
  #finish(outcome: CallOutcome, failure: HttpError | undefined): void {
    clearTimeout(this.#deadline);
    clearTimeout(this.#grace);
    const status = outcome === "client_closed" ? 499 : failure !== undefined ? (this.#sse.opened ? 200 : failure.status) : this.#res.statusCode;
    const response = this.#activity.response() as { model?: unknown } | null | undefined;
    this.#trace.responded({ model: typeof response?.model === "string" ? response.model : undefined, usage: this.#activity.usage() });
    const costUsd = this.#o.limits.charge(this.#credential, this.#model, this.#activity.usage());
    this.#activity.ended({
      status,
      outcome,
      costUsd,
      limitsUnchecked: callLocals(this.#res).limitsUnchecked,
      ...(failure !== undefined ? { error: { type: failure.type, message: failure.message }, errorBody: this.#errorBody } : {}),
    });
    this.#o.logger.info("call", {
      callId: this.id,
      route: this.#api.route,
      model: this.#redact(this.#model),
      provider: this.#upstream.provider.name,
      stream: this.#stream,
      mode: this.#mode,
      status,
      ms: this.#elapsedMs(),
      bypassed: this.#bypassed,
    });
  }

  #stop(why: "client" | "deadline"): void {
    if (this.#stopped !== undefined) return;
    this.#stopped = why;
    this.#abort.abort();
    this.#o.logger.info("call cancelled", { callId: this.id, reason: why === "client" ? "client_closed" : "max_call_ms", after_ms: this.#elapsedMs() });
    if (why === "deadline") {
      this.#grace = setTimeout(() => {
        if (!this.#res.writableEnded) this.#res.destroy();
      }, TIMEOUT_GRACE_MS);
    }
  }

  /** Serving without policy, when the pool fails open and the error allows it; rethrows otherwise. */
  #bypass(err: unknown): string {
    // A call being stopped is not an engine failure: its cancelled stream must not count as a bypass.
    if (this.#abort.signal.aborted || !servableWithoutPolicy(err, this.#pool.failureMode)) throw err;
    this.#bypassed ??= err.reason;
    this.#o.metrics?.bypassed(err.reason);
    this.#activity.bypassed(err.reason, err.message);
    this.#o.logger.warn("policy bypassed (fail-open)", { callId: this.id, reason: err.reason, error: err.message });
    return err.reason;
  }

  #clientEvent(e: StreamEvent): void {
    this.#activity.clientEvent(e);
    if (this.#violated || !this.#checkWrites) return;
    try {
      this.#validate(e);
    } catch (err) {
      // Counted and reported, not enforced: the stage before this is what makes streams valid.
      this.#violated = true;
      this.#o.onViolation(this.id, err as Error);
      this.#o.activity.publish(this.id, "stream.protocol_violation", { error: (err as Error).message });
    }
  }

  #validator: ((e: StreamEvent) => void) | undefined;
  #validate(e: StreamEvent): void {
    this.#validator ??= createClientValidator(this.#api.format);
    this.#validator(e);
  }

  #openStream(): void {
    this.#sse.open();
    const closed = this.#o.metrics?.streamOpened();
    if (closed === undefined) return;
    if (this.#res.closed) closed();
    else this.#res.once("close", closed);
  }

  #sendJson(body: JsonBody): void {
    this.#setOverhead();
    const bytes = body.bytes;
    this.#res.status(200);
    this.#res.setHeader("content-type", JSON_CONTENT_TYPE);
    this.#res.setHeader("content-length", bytes.byteLength);
    this.#res.end(bytes);
  }

  /** Sets {@link OVERHEAD_HEADER}; a no-op once the headers went out. */
  #setOverhead(): void {
    if (this.#res.headersSent) return;
    this.#res.setHeader(OVERHEAD_HEADER, Math.max(0, performance.now() - this.#startedAt - this.#providerMs).toFixed(3));
  }

  #redact(text: string): string {
    this.#redactor ??= this.#o.secrets.forCaller(this.#credential.credential);
    return this.#redactor(text);
  }
  #redactor: ((text: string) => string) | undefined;

  #elapsedMs(): number {
    return Math.round(performance.now() - this.#startedAt);
  }
}

/** JSON the engine sent; anything else is the engine's failure, never the client's or the gateway's. */
function engineJson(json: Buffer, what: string): object {
  try {
    const value = JSON.parse(json.toString("utf8")) as unknown;
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value;
  } catch {
    // reported below
  }
  throw new PolicyUnavailableError("engine_error", `policy engine ${what} with something that is not a JSON object`);
}

function toSseEvent(e: StreamEvent): { event: string; data: Buffer } {
  return { event: e.event ?? "", data: Buffer.from(e.data, "utf8") };
}

function fromEngine(e: { event: string; data: Buffer }): StreamEvent {
  return StreamEvent.of({ event: e.event === "" ? undefined : e.event, data: e.data.toString("utf8") });
}

function pickHeaders(req: Request, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) {
    const v = req.headers[name];
    if (typeof v === "string") out[name] = v;
  }
  return out;
}
