import type { NextFunction, Request, Response } from "express";
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  extractTraceContext,
  isTracingActive,
  injectTraceContext,
  trace,
  type Attributes,
  type Context,
  type Span,
  markSpanError,
  serverAttributes,
} from "@luthien/telemetry";
import { usageOf, type StreamEvent, type TokenUsage } from "@luthien/wire";
import type { ClientApi } from "./formats/client-api";
import type { JsonBody } from "./formats/json-body";
import type { RequestOutcome } from "./engine/policy-engine";
import type { ProviderConfig } from "./upstream/routing";
import type { Upstream, UpstreamCallOptions } from "./upstream/upstream";

/** The instrumentation scope of the gateway's spans. */
const SCOPE = "luthien-gateway";

/**
 * One client call's spans. The server span covers the HTTP exchange; the engine's spans hang below it through
 * {@link CallTrace.traceContext}, which rides in the engine's `Start` message. Attributes never carry credentials,
 * prompts or completions: only ids, models, token counts, statuses and error types.
 *
 * Every method is cheap and safe when tracing is off (the spans record nothing, the trace context is empty).
 */
export interface CallTrace {
  /** The context of the call's server span: the parent of every other gateway span of the call. */
  readonly context: Context;
  /** Spans are recorded: the call's response is assembled for them even when no activity sink listens. */
  readonly recording: boolean;
  /** The W3C trace context of the server span (`traceparent`, `tracestate`), for the engine's `Start`. */
  readonly traceContext: Record<string, string>;
  /**
   * The call was routed: request model, the provider's format (`gen_ai.provider.name`), the engine pool, and who
   * is calling (key id, owner, session; never a key).
   */
  routed(info: { model: string; provider: ProviderConfig; pool: string; stream: boolean; keyId: string; owner: string; sessionId: string }): void;
  /** Runs `ask` (the request verdict, asked and awaited) in a `policy.request` span that records the verdict. */
  requestVerdict(ask: () => Promise<RequestOutcome>): Promise<RequestOutcome>;
  /** `upstream` with a client span (`chat <model>`) around each provider call, streams until their last event. */
  upstream(upstream: Upstream): Upstream;
  /** What the call's response said of itself: the model that answered and its token usage, when known. */
  responded(info: { model: string | undefined; usage: TokenUsage | undefined }): void;
  /** The call failed with this error type (as the client sees it) and status; 5xx marks the server span an error. */
  failed(type: string, status: number): void;
}

/**
 * Middleware for a client-API route: opens the call's server span (`POST /v1/chat/completions`), continuing the
 * client's `traceparent` when it sent one, runs the rest of the route in its context, and ends it when the response
 * closes with the final status. Mount it after the call id is assigned and before authentication, so refused calls
 * are traced too.
 */
export function traceCalls(api: ClientApi): (req: Request, res: Response, next: NextFunction) => void {
  const tracer = trace.getTracer(SCOPE);
  return function traceCall(req, res, next) {
    if (!isTracingActive()) return next();
    const parent = extractTraceContext(req.headers);
    const span = tracer.startSpan(
      `${req.method} ${api.route}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          "http.request.method": req.method,
          "http.route": api.route,
          "gen_ai.operation.name": "chat",
          "luthien.call_id": res.locals.call.id,
          "luthien.client_format": api.format,
        },
      },
      parent,
    );
    const ctx = trace.setSpan(parent, span);
    const callTrace = createCallTrace(span, ctx);
    res.locals.call.trace = callTrace;
    res.once("close", () => {
      span.setAttribute("http.response.status_code", res.statusCode);
      if (!res.writableFinished) span.setAttribute("luthien.client_closed", true);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    context.with(ctx, next);
  };
}

/** Tracing is off (or the route is not traced): nothing to record, nothing to wrap. */
export const NO_TRACE: CallTrace = {
  recording: false,
  context: ROOT_CONTEXT,
  traceContext: {},
  routed: () => undefined,
  requestVerdict: (ask) => ask(),
  upstream: (upstream) => upstream,
  responded: () => undefined,
  failed: () => undefined,
};

function createCallTrace(span: Span, ctx: Context): CallTrace {
  const tracer = trace.getTracer(SCOPE);
  const traceContext = injectTraceContext(ctx);
  let failed = false;
  return {
    recording: true,
    context: ctx,
    traceContext,
    routed({ model, provider, pool, stream, keyId, owner, sessionId }) {
      span.setAttributes({
        "gen_ai.request.model": model,
        "gen_ai.provider.name": provider.format,
        "gen_ai.system": provider.format,
        "luthien.provider": provider.name,
        "luthien.engine.pool": pool,
        "luthien.stream": stream,
        ...(keyId !== "" ? { "luthien.key_id": keyId } : {}),
        ...(owner !== "" ? { "luthien.owner": owner } : {}),
        ...(sessionId !== "" ? { "session.id": sessionId } : {}),
      });
    },
    async requestVerdict(ask) {
      const verdictSpan = tracer.startSpan("policy.request", { kind: SpanKind.INTERNAL, attributes: { "luthien.policy.phase": "request" } }, ctx);
      try {
        const verdict = await ask();
        verdictSpan.setAttribute("luthien.policy.action", verdict.action);
        if (verdict.action === "continue") verdictSpan.setAttribute("luthien.policy.mode", verdict.mode);
        return verdict;
      } catch (err) {
        markSpanError(verdictSpan, err);
        throw err;
      } finally {
        verdictSpan.end();
      }
    },
    upstream: (upstream) => traceUpstream(upstream, ctx),
    responded({ model, usage }) {
      if (model !== undefined) span.setAttribute("gen_ai.response.model", model);
      if (usage !== undefined) span.setAttributes({ "gen_ai.usage.input_tokens": usage.inputTokens, "gen_ai.usage.output_tokens": usage.outputTokens });
    },
    failed(type, status) {
      if (failed) return;
      failed = true;
      span.setAttribute("error.type", type);
      // A denial or a client error is the call working as meant; only the gateway's own failures are errors.
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR, message: type });
    },
  };
}

/** Client spans around a provider's calls, following the GenAI semantic conventions. */
function traceUpstream(upstream: Upstream, parent: Context): Upstream {
  const tracer = trace.getTracer(SCOPE);
  const { provider } = upstream;
  const start = (body: JsonBody, stream: boolean): Span => {
    const model = (body.value as { model?: unknown }).model;
    const attributes: Attributes = {
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": provider.format,
      "gen_ai.system": provider.format,
      "luthien.provider": provider.name,
      "luthien.stream": stream,
      ...serverAttributes(provider.baseUrl),
    };
    if (typeof model === "string") attributes["gen_ai.request.model"] = model;
    return tracer.startSpan(typeof model === "string" ? `chat ${model}` : "chat", { kind: SpanKind.CLIENT, attributes }, parent);
  };
  return {
    provider,
    native: upstream.native,
    async complete(body: JsonBody, options: UpstreamCallOptions): Promise<JsonBody> {
      const span = start(body, false);
      try {
        const answer = await upstream.complete(body, options);
        const model = (answer.value as { model?: unknown }).model;
        if (typeof model === "string") span.setAttribute("gen_ai.response.model", model);
        const usage = usageOf(answer.value);
        if (usage !== undefined) span.setAttributes({ "gen_ai.usage.input_tokens": usage.inputTokens, "gen_ai.usage.output_tokens": usage.outputTokens });
        return answer;
      } catch (err) {
        markSpanError(span, err);
        throw err;
      } finally {
        span.end();
      }
    },
    async stream(body: JsonBody, options: UpstreamCallOptions): Promise<AsyncIterable<StreamEvent>> {
      const span = start(body, true);
      let events: AsyncIterable<StreamEvent>;
      try {
        events = await upstream.stream(body, options);
      } catch (err) {
        markSpanError(span, err);
        span.end();
        throw err;
      }
      return endWith(events, span);
    },
  };
}

/** `events`, ending `span` after the last one, on a failure, or when the reader stops early. */
async function* endWith(events: AsyncIterable<StreamEvent>, span: Span): AsyncGenerator<StreamEvent> {
  try {
    yield* events;
  } catch (err) {
    markSpanError(span, err);
    throw err;
  } finally {
    span.end();
  }
}
