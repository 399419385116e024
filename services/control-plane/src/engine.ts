import {
  type EngineMessage,
  type GatewayMessage__Output,
  type PolicyEngineHandlers,
  type SseEvent,
  type Start__Output,
} from "@luthien/protocol";
import {
  chainMode,
  isDeny,
  isRespond,
  startChainRun,
  type ChainRun,
  type CallInfo,
  type ClientFormat,
  type DenyDecision,
  type PolicyEvent,
  type PolicyRequest,
  type PolicyResponse,
  type ResponseMode,
} from "@luthien/policy-sdk";
import type { Logger } from "@luthien/runtime";
import type { PolicyConfig } from "./config";
import type { EngineMetrics, EvaluationPhase } from "./metrics";
import { traceEngineCall, type EngineCallTrace } from "./tracing";

/**
 * The protocol versions this engine's message handling implements, oldest and newest; a `Start` outside the range is
 * answered with an `unsupported_protocol_version` EngineError listing them. Gateway and engine upgrades overlap:
 * engines first (a release that speaks N and N+1: raise `max` once the handlers implement N+1), then the gateways
 * move to N+1 (`PROTOCOL_VERSION`), then a later engine release may drop N (raise `min`).
 */
export const ENGINE_PROTOCOL_VERSIONS = { min: 1, max: 1 } as const;
const SUPPORTED_VERSIONS: readonly number[] = Array.from(
  { length: ENGINE_PROTOCOL_VERSIONS.max - ENGINE_PROTOCOL_VERSIONS.min + 1 },
  (_, i) => ENGINE_PROTOCOL_VERSIONS.min + i,
);

/** Where policy activity events go (the NATS publisher of `@luthien/events`); never blocks or throws. */
export interface PolicyActivitySink {
  publish(callId: string, type: string, data: object): void;
  /** The call is over: its event sequence may be forgotten. */
  endCall(callId: string): void;
}

export interface EngineOptions {
  activity: PolicyActivitySink;
  /** The live config. Read once per call, at its start: a reload applies to new calls only. */
  config(): PolicyConfig;
  logger: Logger;
  /** Streams, calls, evaluation latencies and errors are recorded here. @default nowhere */
  metrics?: EngineMetrics;
}

/** The messages that run the chain, and the phase each one's evaluation is measured as. */
const PHASES: Partial<Record<NonNullable<GatewayMessage__Output["kind"]>, EvaluationPhase>> = {
  start: "request",
  response: "response",
  chunk: "chunk",
  end: "finish",
};

/** Why the engine could not serve a call; sent as `EngineError` and logged. */
class EngineCallError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "EngineCallError";
  }
}

interface Call {
  format: ClientFormat;
  run: ChainRun;
  mode: ResponseMode;
  /** Messages of one call are handled strictly one after another, so answers go out in order. */
  queue: Promise<void>;
  /** The seq being answered, for keepalives. */
  current: string;
  /** The call's spans; ended with the call. */
  trace: EngineCallTrace;
  /** Every distinct `<policy>.<action>` its policies emitted, reported in the stream's Finish. */
  actions: Set<string>;
}

/**
 * The `PolicyEngine.Process` handler. A stream may carry many calls (every message names its call); each call's
 * messages are handled in order and every verdict request gets exactly one answer. A policy that throws ends its
 * call with an `EngineError`, and the gateway fails that call closed.
 */
export function createEngineHandlers(options: EngineOptions): PolicyEngineHandlers {
  const { logger, metrics } = options;
  // The calls of every open stream, for the streams/calls gauges (read at scrape time).
  const open = new Set<Map<string, Call>>();
  metrics?.observe({
    streams: () => open.size,
    calls: () => {
      let n = 0;
      for (const calls of open) n += calls.size;
      return n;
    },
  });
  return {
    Process(stream) {
      const calls = new Map<string, Call>();
      let closed = false;
      metrics?.streamOpened();
      open.add(calls);
      stream.once("close", () => open.delete(calls));

      // One waiter per stream, however many writes are blocked: a listener per blocked write would pile up past
      // Node's limit of 10 under load (MaxListenersExceededWarning) with hundreds of calls on one stream.
      let drained: Promise<void> | undefined;
      const writable = (): Promise<void> =>
        (drained ??= new Promise<void>((resolve) => {
          const done = (): void => {
            stream.off("drain", done);
            stream.off("close", done);
            drained = undefined;
            resolve();
          };
          stream.on("drain", done);
          // A stream that closes never drains: its blocked writers give up rather than wait for ever.
          stream.on("close", done);
        }));
      const send = async (message: EngineMessage): Promise<void> => {
        if (closed) return;
        if (!stream.write(message)) await writable();
      };
      const fail = async (callId: string, replyTo: string, err: unknown): Promise<void> => {
        calls.delete(callId);
        const e = err instanceof EngineCallError ? err : new EngineCallError("policy_error", `policy failed: ${(err as Error).message}`);
        metrics?.failed(e.code);
        logger.warn("call failed in engine", { callId, code: e.code, error: e.message });
        await send({
          callId,
          replyTo,
          error: { code: e.code, message: e.message, supportedVersions: [...SUPPORTED_VERSIONS] },
        });
      };

      const handle = async (msg: GatewayMessage__Output, call: Call): Promise<void> => {
        const { callId, seq } = msg;
        const reply = (m: Omit<EngineMessage, "callId" | "replyTo">): Promise<void> => send({ callId, replyTo: seq, ...m });
        switch (msg.kind) {
          case "start": {
            const request = parseRequest(msg.start as Start__Output, call.format);
            const outcome = await call.run.onRequest(request);
            if (isDeny(outcome)) {
              calls.delete(callId);
              return reply({ request: { deny: denyMessage(outcome) } });
            }
            if (isRespond(outcome)) {
              calls.delete(callId);
              return reply({ request: { respond: { responseJson: json(outcome.response.body) } } });
            }
            if (call.mode === "SKIP") calls.delete(callId);
            const requestJson = outcome === request ? Buffer.alloc(0) : json(outcome.body);
            return reply({ request: { continue: { requestJson, mode: call.mode } } });
          }
          case "response": {
            calls.delete(callId);
            const response = parseJson(msg.response?.responseJson, "response_json");
            const outcome = await call.run.onResponse({ format: call.format, body: response } as PolicyResponse);
            if (call.mode !== "FULL") return;
            if (isDeny(outcome)) return reply({ response: { deny: denyMessage(outcome) } });
            return reply({ response: { respond: { responseJson: outcome.body === response ? Buffer.alloc(0) : json(outcome.body) } } });
          }
          case "chunk": {
            const event = toPolicyEvent(msg.chunk?.event ?? null, call.format);
            const events = await call.run.onEvent(event);
            if (call.mode === "FULL") return reply({ emit: { events: events.map(toSseEvent) } });
            return;
          }
          case "end": {
            calls.delete(callId);
            const events = await call.run.onStreamEnd();
            if (call.mode === "FULL") return reply({ finish: { events: events.map(toSseEvent), policyActions: [...call.actions] } });
            return;
          }
          case "upstreamError":
          case "cancel":
            calls.delete(callId);
            return;
          case undefined:
            throw new EngineCallError("bad_message", "message without a kind");
          default: {
            const unreachable: never = msg.kind;
            throw new EngineCallError("bad_message", `unknown message kind ${String(unreachable)}`);
          }
        }
      };

      stream.on("data", (msg: GatewayMessage__Output) => {
        let call = calls.get(msg.callId);
        if (msg.kind === "start" && call === undefined) {
          const actions = new Set<string>();
          try {
            call = openCall(msg.start as Start__Output, msg.callId, options.config(), actions, {
              emit: (policy, action, data) => {
                actions.add(`${policy}.${action}`);
                logger.debug("policy event", { callId: msg.callId, type: `policy.${policy}.${action}` });
                options.activity.publish(msg.callId, `policy.${policy}.${action}`, data ?? {});
              },
              keepalive: () => {
                const c = calls.get(msg.callId);
                if (c !== undefined) void send({ callId: msg.callId, replyTo: c.current, keepalive: {} });
              },
            });
          } catch (err) {
            void fail(msg.callId, msg.seq, err);
            return;
          }
          calls.set(msg.callId, call);
          metrics?.callStarted();
        }
        // Late messages for a finished, skipped or failed call need no answer.
        if (call === undefined) return;
        const target = call;
        target.queue = target.queue.then(async () => {
          // The call may have ended (failed, cancelled) while this message waited.
          if (calls.get(msg.callId) !== target) return;
          target.current = msg.seq;
          const phase = msg.kind !== undefined ? PHASES[msg.kind] : undefined;
          const started = performance.now();
          try {
            await target.trace.phase(phase, () => handle(msg, target));
            if (phase !== undefined) metrics?.evaluated(phase, performance.now() - started);
          } catch (err) {
            await fail(msg.callId, msg.seq, err);
          }
          // Only once the call's last message is handled: its policies may still emit while finishing.
          if (calls.get(msg.callId) !== target) {
            options.activity.endCall(msg.callId);
            target.trace.end();
          }
        });
      });
      stream.on("end", () => {
        // The gateway half-closed: finish what is queued, then close our side.
        void Promise.all([...calls.values()].map((c) => c.queue)).then(() => {
          closed = true;
          open.delete(calls);
          stream.end();
        });
      });
      const dropAll = (): void => {
        closed = true;
        open.delete(calls);
        for (const [id, c] of calls) {
          options.activity.endCall(id);
          c.trace.end();
        }
        calls.clear();
      };
      stream.on("error", dropAll);
      stream.on("cancelled", dropAll);
    },
  };
}

const FORMATS: Partial<Record<string, ClientFormat>> = { OPENAI_CHAT: "openai", ANTHROPIC_MESSAGES: "anthropic", OPENAI_RESPONSES: "responses" };

function openCall(start: Start__Output, callId: string, config: PolicyConfig, actions: Set<string>, hooks: Parameters<typeof startChainRun>[2]): Call {
  if (start.protocolVersion < ENGINE_PROTOCOL_VERSIONS.min || start.protocolVersion > ENGINE_PROTOCOL_VERSIONS.max) {
    throw new EngineCallError(
      "unsupported_protocol_version",
      `gateway speaks protocol version ${start.protocolVersion}; this engine supports ${SUPPORTED_VERSIONS.join(", ")}`,
    );
  }
  const format = FORMATS[start.format];
  if (format === undefined) throw new EngineCallError("unsupported_format", `client format ${start.format} is not supported by this engine`);
  const request = parseRequest(start, format);
  const info: CallInfo = {
    callId,
    format,
    stream: start.stream,
    keyId: start.keyId,
    userId: start.userId,
    sessionId: start.sessionId,
    model: typeof request.body.model === "string" ? request.body.model : "",
  };
  const chain = config.select({ keyId: info.keyId, model: info.model, route: start.route }).policies;
  const mode = chainMode(chain);
  const trace = traceEngineCall(start, { callId, format, model: info.model, stream: info.stream, policies: chain.map((p) => p.name), mode });
  return { format, run: startChainRun(chain, info, hooks), mode, queue: Promise.resolve(), current: "0", trace, actions };
}

function parseJson(bytes: Buffer | undefined, what: string): unknown {
  try {
    return JSON.parse((bytes ?? Buffer.alloc(0)).toString("utf8"));
  } catch (err) {
    throw new EngineCallError(`bad_${what}`, `${what} is not valid JSON`, { cause: err });
  }
}

/** Bodies are checked for shape by the gateway; here they are only parsed and tagged with their format. */
function parseRequest(start: Start__Output, format: ClientFormat): PolicyRequest {
  return { format, body: parseJson(start.requestJson, "request_json") } as PolicyRequest;
}

function toPolicyEvent(event: { event: string; data: Buffer } | null, format: ClientFormat): PolicyEvent {
  if (event === null) throw new EngineCallError("bad_message", "chunk without an event");
  const data = parseJson(event.data, "chunk_json");
  switch (format) {
    case "openai":
      return { format, chunk: data as Extract<PolicyEvent, { format: "openai" }>["chunk"] };
    case "anthropic":
      return { format, event: data as Extract<PolicyEvent, { format: "anthropic" }>["event"] };
    case "responses":
      return { format, event: data as Extract<PolicyEvent, { format: "responses" }>["event"] };
  }
}

/** OpenAI chunks go as nameless SSE events; Anthropic and Responses events are named by their `type`. */
function toSseEvent(event: PolicyEvent): SseEvent {
  return event.format === "openai" ? { event: "", data: json(event.chunk) } : { event: event.event.type, data: json(event.event) };
}

function denyMessage(d: DenyDecision): { status: number; errorType: string; message: string } {
  return { status: d.status, errorType: d.type, message: d.message };
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), "utf8");
}
