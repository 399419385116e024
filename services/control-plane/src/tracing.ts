import type { Start__Output } from "@luthien/protocol";
import { SpanKind, context, extractTraceContext, isTracingActive, markSpanError, serverAttributes, trace, type Attributes } from "@luthien/telemetry";
import type { EvaluationPhase } from "./metrics";

/** The instrumentation scope of the engine's spans. */
const SCOPE = "luthien-control-plane";

/** Phases evaluated once per call get a span each; per-chunk evaluations are only counted (a stream has thousands). */
const SPANNED: ReadonlySet<EvaluationPhase> = new Set(["request", "response", "finish"]);

/**
 * One call's spans in the engine: a `policy.call` server span, child of the gateway span named by the `Start`'s
 * trace context (a new trace when it carries none), and an `evaluate <phase>` span per request, response and finish
 * evaluation. Policies run inside those spans' context, so their own spans (the judge's provider call) join the
 * trace. Attributes carry ids, models, policy names and counts, never bodies. Safe and cheap when tracing is off.
 */
export interface EngineCallTrace {
  /** Runs one message's handling in the call's context; `phase` evaluations other than chunks get their own span. */
  phase<T>(phase: EvaluationPhase | undefined, run: () => Promise<T>): Promise<T>;
  /** Ends the call span (once; later calls do nothing). */
  end(): void;
}

/** Tracing is off: nothing to record, so no span or context bookkeeping per message. */
const NO_TRACE: EngineCallTrace = { phase: (_phase, run) => run(), end: () => undefined };

export function traceEngineCall(start: Start__Output, info: { callId: string; format: string; model: string; stream: boolean; policies: readonly string[]; mode: string }): EngineCallTrace {
  if (!isTracingActive()) return NO_TRACE;
  const tracer = trace.getTracer(SCOPE);
  const parent = extractTraceContext(start.traceContext ?? {});
  const span = tracer.startSpan(
    "policy.call",
    {
      kind: SpanKind.SERVER,
      attributes: {
        "luthien.call_id": info.callId,
        "luthien.client_format": info.format,
        "luthien.stream": info.stream,
        "luthien.policy.chain": [...info.policies],
        "luthien.policy.mode": info.mode,
        "gen_ai.request.model": info.model,
      },
    },
    parent,
  );
  const callContext = trace.setSpan(parent, span);
  let chunks = 0;
  let ended = false;
  return {
    async phase(phase, run) {
      if (phase === undefined || !SPANNED.has(phase)) {
        if (phase === "chunk") chunks++;
        return context.with(callContext, run);
      }
      const phaseSpan = tracer.startSpan(`evaluate ${phase}`, { kind: SpanKind.INTERNAL, attributes: { "luthien.policy.phase": phase } }, callContext);
      try {
        return await context.with(trace.setSpan(callContext, phaseSpan), run);
      } catch (err) {
        markSpanError(phaseSpan, err);
        markSpanError(span, err);
        throw err;
      } finally {
        phaseSpan.end();
      }
    },
    end() {
      if (ended) return;
      ended = true;
      if (chunks > 0) span.setAttribute("luthien.policy.chunks", chunks);
      span.end();
    },
  };
}

/**
 * `ask` (one judge model call) inside a GenAI client span (`chat <model>`), a child of whatever span is active —
 * the evaluation that asked. The prompt and the answer stay out of the span.
 */
export function traceJudgeCall<A extends unknown[], R>(
  ask: (...args: A) => Promise<R>,
  o: { upstream: "openai" | "anthropic"; model: string; baseUrl: string | undefined },
): (...args: A) => Promise<R> {
  const tracer = trace.getTracer(SCOPE);
  const attributes: Attributes = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": o.upstream,
    "gen_ai.system": o.upstream,
    "gen_ai.request.model": o.model,
    "luthien.policy": "llm-judge",
    ...serverAttributes(o.baseUrl),
  };
  return (...args) =>
    tracer.startActiveSpan(`chat ${o.model}`, { kind: SpanKind.CLIENT, attributes }, async (span) => {
      try {
        return await ask(...args);
      } catch (err) {
        markSpanError(span, err);
        throw err;
      } finally {
        span.end();
      }
    });
}
