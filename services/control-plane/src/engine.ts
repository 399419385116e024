import {
  SUPPORTED_PROTOCOL_VERSIONS,
  type EngineMessage,
  type GatewayMessage__Output,
  type PolicyEngineHandlers,
  type SseEvent,
  type Start__Output,
} from "@luthien/protocol";
import {
  isDeny,
  isRespond,
  type AnyPolicy,
  type CallInfo,
  type DenyDecision,
  type PolicyEvent,
  type ResponseMode,
} from "@luthien/policy-sdk";
import type { Logger } from "@luthien/runtime";
import { chainMode, startChainRun, type ChainRun } from "./chain";

export interface EngineOptions {
  /** The chain every call runs through. Read once per call, so a swapped chain applies to new calls only. */
  chain(): readonly AnyPolicy[];
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
            const request = parseRequest(msg.start as Start__Output);
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
            const body = JSON.parse(msg.response?.responseJson.toString("utf8") ?? "null");
            const outcome = await call.run.onResponse({ format: "openai", body });
            if (call.mode !== "FULL") return;
            if (isDeny(outcome)) return reply({ response: { deny: denyMessage(outcome) } });
            return reply({ response: { respond: { responseJson: outcome.body === body ? Buffer.alloc(0) : json(outcome.body) } } });
          }
          case "chunk": {
            const event = toPolicyEvent(msg.chunk?.event ?? null);
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
            call = openCall(msg.start as Start__Output, msg.callId, options.chain(), {
              emit: (policy, action) => logger.info("policy event", { callId: msg.callId, type: `policy.${policy}.${action}` }),
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
        });
      });
      stream.on("end", () => {
        // The gateway half-closed: finish what is queued, then close our side.
        void Promise.all([...calls.values()].map((c) => c.queue)).then(() => {
          closed = true;
          stream.end();
        });
      });
      stream.on("error", () => {
        closed = true;
        calls.clear();
      });
      stream.on("cancelled", () => {
        closed = true;
        calls.clear();
      });
    },
  };
}

function openCall(start: Start__Output, callId: string, chain: readonly AnyPolicy[], hooks: Parameters<typeof startChainRun>[2]): Call {
  if (!SUPPORTED_PROTOCOL_VERSIONS.includes(start.protocolVersion)) {
    throw new EngineCallError(
      "unsupported_protocol_version",
      `gateway speaks protocol version ${start.protocolVersion}; this engine supports ${SUPPORTED_PROTOCOL_VERSIONS.join(", ")}`,
    );
  }
  if (start.format !== "OPENAI_CHAT") {
    throw new EngineCallError("unsupported_format", `client format ${start.format} is not supported by this engine`);
  }
  const request = parseRequest(start);
  const info: CallInfo = {
    callId,
    format: "openai",
    stream: start.stream,
    keyId: start.keyId,
    userId: start.userId,
    sessionId: start.sessionId,
    model: typeof request.body.model === "string" ? request.body.model : "",
  };
  return { run: startChainRun(chain, info, hooks), mode: chainMode(chain), queue: Promise.resolve(), current: "0" };
}

function parseRequest(start: Start__Output): Parameters<ChainRun["onRequest"]>[0] {
  try {
    return { format: "openai", body: JSON.parse(start.requestJson.toString("utf8")) };
  } catch (err) {
    throw new EngineCallError("bad_request_json", "request_json is not valid JSON", { cause: err });
  }
}

function toPolicyEvent(event: { event: string; data: Buffer } | null): PolicyEvent {
  if (event === null) throw new EngineCallError("bad_message", "chunk without an event");
  try {
    return { format: "openai", chunk: JSON.parse(event.data.toString("utf8")) };
  } catch (err) {
    throw new EngineCallError("bad_chunk_json", "chunk data is not valid JSON", { cause: err });
  }
}

function toSseEvent(event: PolicyEvent): SseEvent {
  return { event: "", data: json(event.chunk) };
}

function denyMessage(d: DenyDecision): { status: number; errorType: string; message: string } {
  return { status: d.status, errorType: d.type, message: d.message };
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), "utf8");
}
