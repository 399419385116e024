import {
  ENGINE_PROTOCOL_VERSIONS,
  drainingWriter,
  encodeDeny,
  encodeEmit,
  readStart,
  versionsOf,
  type EngineMessage,
  type GatewayMessage__Output,
  type PolicyEngineHandlers,
  type ProtocolFeatures,
  type SseEvent,
  type SseEvent__Output,
} from "@luthien/protocol";
import {
  isDeny,
  isRespond,
  startCallRun,
  type CallInfo,
  type AnyPolicy,
  type CallRun,
  type ChainHooks,
  type ClientFormat,
  type PolicyEvent,
  type PolicyRequest,
  type PolicyResponse,
} from "@luthien/policy-sdk";
import type { ApprovalBroker } from "@luthien/approvals";
import { ActivityEventTypes, redactSecretsInJson } from "@luthien/events";
import type { Logger } from "@luthien/runtime";
import type { PolicyConfig } from "./config";
import type { EngineMetrics, EvaluationPhase } from "./metrics";
import { traceEngineCall, type EngineCallTrace } from "./tracing";

/**
 * The protocol versions this engine implements (`@luthien/protocol`'s range: the codec reads and writes every one
 * of them); a `Start` outside it is answered with an `unsupported_protocol_version` EngineError listing them.
 */
export { ENGINE_PROTOCOL_VERSIONS };
const SUPPORTED_VERSIONS: readonly number[] = versionsOf(ENGINE_PROTOCOL_VERSIONS);

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
  /** Holds tool calls for a person's decision. @default none: every approval request is refused (`unavailable`) */
  approvals?: Pick<ApprovalBroker, "hold">;
  /** This replica's name (`ENGINE_NAME`), in each call's `call.engine` event. @default "engine" */
  name?: string;
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

/** One call's state, from its Start to its last message. */
interface CallState {
  readonly id: string;
  readonly format: ClientFormat;
  /** What the gateway's protocol version lets this call be sent (`Emit.unchanged` from version 2). */
  readonly features: ProtocolFeatures;
  /** The request as the client sent it, parsed once (for the model, the rules and the chain). */
  readonly request: PolicyRequest;
  /** The chain its config's rules chose, and that config's version. */
  readonly chain: { readonly name: string; readonly policies: readonly AnyPolicy[]; readonly configVersion: string };
  /** The chain in its mode: it says whether the response side is decided (FULL), seen (OBSERVE) or skipped. */
  readonly run: CallRun;
  /** Messages of one call are handled strictly one after another, so answers go out in order. */
  queue: Promise<void>;
  /** The seq being answered, for keepalives. */
  current: string;
  /** The last seq received: a hold's keepalive names it, as the gateway may be waiting on it already. */
  latest: string;
  /** The call's spans; ended with the call. */
  readonly trace: EngineCallTrace;
  /** Every distinct `<policy>.<action>` its policies emitted, reported in the stream's Finish. */
  readonly actions: Set<string>;
  readonly holds: CallHolds;
}

/** A call's tool calls waiting for a person: keepalives then tell the gateway how long it may wait. */
interface CallHolds {
  /** Aborted when the gateway gives up on the call (the client left, the provider failed, the stream broke). */
  readonly abort: AbortController;
  pending: number;
  /** Epoch ms the longest pending hold expires at. */
  until: number;
}

/** An answer to one gateway message, without the envelope (`callId`, `replyTo`). */
type Answer = Omit<EngineMessage, "callId" | "replyTo">;

/**
 * The `PolicyEngine.Process` handler. A stream may carry many calls (every message names its call); each call's
 * messages are handled in order and every verdict request gets exactly one answer. A policy that throws ends its
 * call with an `EngineError`, and the gateway fails that call closed.
 *
 * A call goes through named steps: {@link openCall} (Start: version, format, chain), then `onRequest`, and, by the
 * chain's mode, `onResponse` or `onChunk`… `onEnd`; `cancel` drops it (Cancel, UpstreamError), `fail` ends it with an
 * EngineError.
 */
export function createEngineHandlers(options: EngineOptions): PolicyEngineHandlers {
  const { logger, metrics } = options;
  // The calls of every open stream, for the streams/calls gauges (read at scrape time).
  const open = new Set<Map<string, CallState>>();
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
      const calls = new Map<string, CallState>();
      let closed = false;
      metrics?.streamOpened();
      open.add(calls);
      stream.once("close", () => open.delete(calls));

      const write = drainingWriter<EngineMessage>(stream);
      const send = async (message: EngineMessage): Promise<void> => {
        if (closed) return;
        await write(message);
      };
      const reply = (call: { id: string }, seq: string, answer: Answer): Promise<void> => send({ callId: call.id, replyTo: seq, ...answer });
      /** The call is over on the engine's side: later messages for it are late and need no answer. */
      const finish = (call: CallState): void => {
        calls.delete(call.id);
      };

      // --- The steps of a call ---

      const fail = async (callId: string, replyTo: string, err: unknown): Promise<void> => {
        calls.get(callId)?.holds.abort.abort();
        calls.delete(callId);
        const e = err instanceof EngineCallError ? err : new EngineCallError("policy_error", `policy failed: ${(err as Error).message}`);
        metrics?.failed(e.code);
        logger.warn("call failed in engine", { callId, code: e.code, error: e.message });
        await send({ callId, replyTo, error: { code: e.code, message: e.message, supportedVersions: [...SUPPORTED_VERSIONS] } });
      };

      const onRequest = async (call: CallState, seq: string): Promise<void> => {
        const outcome = await call.run.onRequest(call.request);
        if (isDeny(outcome)) {
          finish(call);
          return reply(call, seq, { request: { deny: encodeDeny({ status: outcome.status, errorType: outcome.type, message: outcome.message }) } });
        }
        if (isRespond(outcome)) {
          finish(call);
          return reply(call, seq, { request: { respond: { responseJson: json(outcome.response.body) } } });
        }
        // SKIP: the gateway sends nothing more for this call.
        if (call.run.mode === "SKIP") finish(call);
        // The request a policy left alone travels back as nothing: the gateway sends its own copy.
        const requestJson = outcome === call.request ? Buffer.alloc(0) : json(outcome.body);
        return reply(call, seq, { request: { continue: { requestJson, mode: call.run.mode } } });
      };

      const onResponse = async (call: CallState, seq: string, responseJson: Buffer | undefined): Promise<void> => {
        finish(call);
        const response = { format: call.format, body: parseJson(responseJson, "response_json") } as PolicyResponse;
        const outcome = await call.run.onResponse(response);
        if (call.run.mode !== "FULL") return;
        if (isDeny(outcome)) return reply(call, seq, { response: { deny: encodeDeny({ status: outcome.status, errorType: outcome.type, message: outcome.message }) } });
        // Unchanged (the very body the chain was given): empty, so the gateway sends the provider's bytes unparsed.
        return reply(call, seq, { response: { respond: { responseJson: outcome.body === response.body ? Buffer.alloc(0) : json(outcome.body) } } });
      };

      const onChunk = async (call: CallState, seq: string, event: SseEvent__Output | null | undefined): Promise<void> => {
        if (event === null || event === undefined) throw new EngineCallError("bad_message", "chunk without an event");
        const outcome = await call.run.onEvent(toPolicyEvent(event, call.format));
        if (call.run.mode !== "FULL") return;
        return reply(call, seq, { emit: encodeEmit(outcome === "unchanged" ? outcome : outcome.map(toSseEvent), event, call.features) });
      };

      const onEnd = async (call: CallState, seq: string): Promise<void> => {
        finish(call);
        const events = await call.run.onStreamEnd();
        if (call.run.mode !== "FULL") return;
        return reply(call, seq, { finish: { events: events.map(toSseEvent), policyActions: [...call.actions] } });
      };

      /** The gateway is done with the call without an answer due (the client left, or the provider failed). */
      const cancel = (call: CallState): void => {
        call.holds.abort.abort();
        finish(call);
      };

      const dispatch = async (msg: GatewayMessage__Output, call: CallState): Promise<void> => {
        switch (msg.kind) {
          case "start":
            return onRequest(call, msg.seq);
          case "response":
            return onResponse(call, msg.seq, msg.response?.responseJson);
          case "chunk":
            return onChunk(call, msg.seq, msg.chunk?.event);
          case "end":
            return onEnd(call, msg.seq);
          case "upstreamError":
          case "cancel":
            return cancel(call);
          case undefined:
            throw new EngineCallError("bad_message", "message without a kind");
          default: {
            const unreachable: never = msg.kind;
            throw new EngineCallError("bad_message", `unknown message kind ${String(unreachable)}`);
          }
        }
      };

      const keepalive = async (callId: string): Promise<void> => {
        const c = calls.get(callId);
        if (c === undefined) return;
        const holdMs = c.holds.pending > 0 ? Math.max(1, c.holds.until - Date.now()) : 0;
        await send({ callId, replyTo: holdMs > 0 ? c.latest : c.current, keepalive: { holdMs } });
      };
      const hooksOf = (info: CallInfo, actions: Set<string>, holds: CallHolds): ChainHooks => ({
        emit: (policy, action, data) => {
          actions.add(`${policy}.${action}`);
          logger.debug("policy event", { callId: info.callId, type: `policy.${policy}.${action}` });
          // A reason may quote what the policy caught (a command line with a key in it): kept at rest without secrets.
          options.activity.publish(info.callId, `policy.${policy}.${action}`, redactSecretsInJson(data ?? {}).value);
        },
        keepalive: () => void keepalive(info.callId).catch(() => undefined),
        requestApproval: async (policy, request, timeoutMs) => {
          if (options.approvals === undefined) return { approved: false, by: "", note: "this policy engine has no approval channel", reason: "unavailable" };
          holds.pending += 1;
          holds.until = Math.max(holds.until, Date.now() + timeoutMs);
          // Before anyone is asked: the gateway then knows a person is deciding (its deadline stretches, and it never
          // fails this call open).
          await keepalive(info.callId).catch(() => undefined);
          try {
            return await options.approvals.hold(info, { policy, timeoutMs, ...request }, holds.abort.signal);
          } finally {
            holds.pending -= 1;
          }
        },
      });

      stream.on("data", (msg: GatewayMessage__Output) => {
        let call = calls.get(msg.callId);
        // Not queued: a call held for approval must learn at once that its client left.
        if (call !== undefined && (msg.kind === "cancel" || msg.kind === "upstreamError")) call.holds.abort.abort();
        if (msg.kind === "start" && call === undefined) {
          try {
            call = openCall(msg, options.config(), hooksOf);
            // Which replica, chain and config decide this call: the monitor shows it beside the verdict.
            options.activity.publish(call.id, ActivityEventTypes.CallEngine, {
              engine: options.name ?? "engine",
              chain: call.chain.name,
              configVersion: call.chain.configVersion,
              policies: call.chain.policies.map((p) => ({ name: p.name, mode: p.shadow === true ? "shadow" : "enforce" })),
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
        call.latest = msg.seq;
        const target = call;
        target.queue = target.queue.then(async () => {
          // The call may have ended (failed, cancelled) while this message waited.
          if (calls.get(msg.callId) !== target) return;
          target.current = msg.seq;
          const phase = msg.kind !== undefined ? PHASES[msg.kind] : undefined;
          const started = performance.now();
          try {
            await target.trace.phase(phase, () => dispatch(msg, target));
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
          c.holds.abort.abort();
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

/**
 * Opens a call from its Start: the protocol version and the format are checked (through the protocol codec), the
 * request is parsed — once: every later step uses this parse — and the chain its rules select starts running.
 * @throws EngineCallError when the version, the format or the request JSON cannot be served
 */
function openCall(msg: GatewayMessage__Output, config: PolicyConfig, hooksOf: (info: CallInfo, actions: Set<string>, holds: CallHolds) => ChainHooks): CallState {
  const { callId } = msg;
  if (msg.start === null || msg.start === undefined) throw new EngineCallError("bad_message", "start without a body");
  const read = readStart(msg.start, ENGINE_PROTOCOL_VERSIONS);
  if (!read.ok) throw new EngineCallError(read.code, read.message);
  const { start, format, features } = read;
  const request = { format, body: parseJson(start.requestJson, "request_json") } as PolicyRequest;
  const info: CallInfo = {
    callId,
    format,
    stream: start.stream,
    keyId: start.keyId,
    owner: start.owner,
    userId: start.userId,
    sessionId: start.sessionId,
    model: typeof request.body.model === "string" ? request.body.model : "",
  };
  const selected = config.select({ keyId: info.keyId, model: info.model, route: start.route });
  const chain = selected.policies;
  const actions = new Set<string>();
  const holds: CallHolds = { abort: new AbortController(), pending: 0, until: 0 };
  const run = startCallRun(chain, info, hooksOf(info, actions, holds));
  const trace = traceEngineCall(start, { callId, format, model: info.model, stream: info.stream, policies: chain.map((p) => p.name), mode: run.mode });
  return {
    id: callId,
    format,
    features,
    request,
    chain: { ...selected, configVersion: config.version },
    run,
    queue: Promise.resolve(),
    current: "0",
    latest: "0",
    trace,
    actions,
    holds,
  };
}

function parseJson(bytes: Buffer | undefined, what: string): unknown {
  try {
    return JSON.parse((bytes ?? Buffer.alloc(0)).toString("utf8"));
  } catch (err) {
    throw new EngineCallError(`bad_${what}`, `${what} is not valid JSON`, { cause: err });
  }
}

/** Bodies are checked for shape by the gateway; here events are only parsed and tagged with their format. */
function toPolicyEvent(event: SseEvent__Output, format: ClientFormat): PolicyEvent {
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

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), "utf8");
}
