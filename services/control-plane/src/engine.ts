import {
  SUPPORTED_PROTOCOL_VERSIONS,
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
}

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
}

/**
 * The `PolicyEngine.Process` handler. A stream may carry many calls (every message names its call); each call's
 * messages are handled in order and every verdict request gets exactly one answer. A policy that throws ends its
 * call with an `EngineError`, and the gateway fails that call closed.
 */
export function createEngineHandlers(options: EngineOptions): PolicyEngineHandlers {
  const { logger } = options;
  return {
    Process(stream) {
      const calls = new Map<string, Call>();
      let closed = false;

      const send = async (message: EngineMessage): Promise<void> => {
        if (closed) return;
        if (!stream.write(message)) await new Promise<void>((resolve) => stream.once("drain", () => resolve()));
      };
      const fail = async (callId: string, replyTo: string, err: unknown): Promise<void> => {
        calls.delete(callId);
        const e = err instanceof EngineCallError ? err : new EngineCallError("policy_error", `policy failed: ${(err as Error).message}`);
        logger.warn("call failed in engine", { callId, code: e.code, error: e.message });
        await send({
          callId,
          replyTo,
          error: { code: e.code, message: e.message, supportedVersions: [...SUPPORTED_PROTOCOL_VERSIONS] },
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
            if (call.mode === "FULL") return reply({ finish: { events: events.map(toSseEvent) } });
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
          try {
            call = openCall(msg.start as Start__Output, msg.callId, options.config(), {
              emit: (policy, action, data) => {
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
        }
        // Late messages for a finished, skipped or failed call need no answer.
        if (call === undefined) return;
        const target = call;
        target.queue = target.queue.then(async () => {
          // The call may have ended (failed, cancelled) while this message waited.
          if (calls.get(msg.callId) !== target) return;
          target.current = msg.seq;
          try {
            await handle(msg, target);
          } catch (err) {
            await fail(msg.callId, msg.seq, err);
          }
          // Only once the call's last message is handled: its policies may still emit while finishing.
          if (calls.get(msg.callId) !== target) options.activity.endCall(msg.callId);
        });
      });
      stream.on("end", () => {
        // The gateway half-closed: finish what is queued, then close our side.
        void Promise.all([...calls.values()].map((c) => c.queue)).then(() => {
          closed = true;
          stream.end();
        });
      });
      const dropAll = (): void => {
        closed = true;
        for (const id of calls.keys()) options.activity.endCall(id);
        calls.clear();
      };
      stream.on("error", dropAll);
      stream.on("cancelled", dropAll);
    },
  };
}

const FORMATS: Partial<Record<string, ClientFormat>> = { OPENAI_CHAT: "openai", ANTHROPIC_MESSAGES: "anthropic" };

function openCall(start: Start__Output, callId: string, config: PolicyConfig, hooks: Parameters<typeof startChainRun>[2]): Call {
  if (!SUPPORTED_PROTOCOL_VERSIONS.includes(start.protocolVersion)) {
    throw new EngineCallError(
      "unsupported_protocol_version",
      `gateway speaks protocol version ${start.protocolVersion}; this engine supports ${SUPPORTED_PROTOCOL_VERSIONS.join(", ")}`,
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
  return { format, run: startChainRun(chain, info, hooks), mode: chainMode(chain), queue: Promise.resolve(), current: "0" };
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
  return format === "openai"
    ? { format, chunk: data as Extract<PolicyEvent, { format: "openai" }>["chunk"] }
    : { format, event: data as Extract<PolicyEvent, { format: "anthropic" }>["event"] };
}

function toSseEvent(event: PolicyEvent): SseEvent {
  return event.format === "openai" ? { event: "", data: json(event.chunk) } : { event: event.event.type, data: json(event.event) };
}

function denyMessage(d: DenyDecision): { status: number; errorType: string; message: string } {
  return { status: d.status, errorType: d.type, message: d.message };
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), "utf8");
}
