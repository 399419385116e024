import {
  PROTOCOL_VERSION,
  checkHealth,
  createHealthClient,
  createPolicyEngineClient,
  grpc,
  type EngineMessage__Output,
  type GatewayMessage,
  type ResponseMode,
  type SseEvent,
  type SseEvent__Output,
} from "@luthien/protocol";
import type { Logger } from "@luthien/runtime";
import { PolicyDeniedError, PolicyTimeoutError, PolicyUnavailableError } from "./errors";

export interface PolicyEngineOptions {
  /** `host:port` of the engine. */
  address: string;
  /** Deadline for each verdict. @default 5000 */
  timeoutMs: number;
  /** Keepalives extend a verdict's deadline, but never past this long after it was asked for. @default 30000 */
  maxWaitMs: number;
  logger: Logger;
}

/** What the engine decided about the request. */
export type RequestVerdict =
  | { action: "continue"; requestJson: Buffer | undefined; mode: Exclude<ResponseMode, "RESPONSE_MODE_UNSPECIFIED"> }
  | { action: "respond"; responseJson: Buffer }
  | { action: "deny"; error: PolicyDeniedError };

/** What the engine decided about a whole response: the body to send (undefined = unchanged), or a denial. */
export type ResponseVerdict = { action: "respond"; responseJson: Buffer | undefined } | { action: "deny"; error: PolicyDeniedError };

/** The end of a stream: trailing events, and an error to end with instead of a clean end. */
export interface FinishVerdict {
  events: SseEvent__Output[];
  error: PolicyDeniedError | undefined;
}

export interface StartInfo {
  format: "OPENAI_CHAT" | "ANTHROPIC_MESSAGES";
  stream: boolean;
  keyId: string;
  userId: string;
  sessionId: string;
  route: string;
  requestJson: Buffer;
  headers: Record<string, string>;
}

/** A verdict asked for: `result` settles when the engine answers (in order), fails, or times out. */
export interface Pending<T> {
  result: Promise<T>;
}

/**
 * One client call's conversation with the engine. Every `ask*` writes one message (waiting for the transport to
 * drain first if needed) and returns the pending verdict; verdicts settle in the order they were asked. Any
 * failure — stream error, engine error, early close, deadline — rejects every pending verdict and every later ask.
 */
export interface PolicyCall {
  askRequest(start: StartInfo): Promise<Pending<RequestVerdict>>;
  askResponse(responseJson: Buffer): Promise<Pending<ResponseVerdict>>;
  askChunk(event: SseEvent): Promise<Pending<SseEvent__Output[]>>;
  askFinish(): Promise<Pending<FinishVerdict>>;
  /** OBSERVE mode: hand the engine a copy without waiting for anything. */
  observe(message: { response: Buffer } | { chunk: SseEvent } | { end: true }): void;
  /** Tells the engine the provider failed (informational). */
  upstreamError(status: number, type: string, message: string): void;
  /** Ends the call: half-closes the stream after `done`, or cancels it (with a Cancel message) otherwise. */
  close(how: "done" | "cancel"): void;
  /** Answers that matched nothing pending: late, duplicate, unknown or out of order. Never applied. */
  readonly unexpectedAnswers: number;
}

export interface PolicyEngine {
  open(callId: string): PolicyCall;
  /** True when the engine answers its health check as SERVING. */
  ready(): Promise<boolean>;
  close(): void;
}

type Expect = "request" | "response" | "emit" | "finish";

interface Waiter {
  seq: string;
  expect: Expect;
  askedAt: number;
  resolve(m: EngineMessage__Output): void;
  reject(e: Error): void;
}

/** The gateway's client of one engine address. Each call gets its own bidirectional stream. */
export function createPolicyEngine(options: PolicyEngineOptions): PolicyEngine {
  const client = createPolicyEngineClient({ address: options.address });
  const health = createHealthClient(options.address);
  return {
    open: (callId) => openCall(client, callId, options),
    ready: () => checkHealth(health, "luthien.policy.v1.PolicyEngine", 1000),
    close() {
      client.close();
      health.close();
    },
  };
}

function openCall(client: ReturnType<typeof createPolicyEngineClient>, callId: string, options: PolicyEngineOptions): PolicyCall {
  const { logger } = options;
  const stream = client.Process();
  const waiting: Waiter[] = [];
  let seq = 0;
  let failure: Error | undefined;
  let closed = false;
  let unexpected = 0;
  let timer: NodeJS.Timeout | undefined;

  const fail = (err: Error): void => {
    if (failure !== undefined) return;
    failure = err;
    clearTimeout(timer);
    for (const w of waiting.splice(0)) w.reject(err);
    if (!closed) {
      closed = true;
      stream.cancel();
    }
  };

  /** Arms the deadline for the oldest pending verdict; a keepalive re-arms it, bounded by maxWaitMs. */
  const arm = (fromKeepalive = false): void => {
    clearTimeout(timer);
    const head = waiting[0];
    if (head === undefined) return;
    const now = Date.now();
    const limit = fromKeepalive ? Math.min(now + options.timeoutMs, head.askedAt + options.maxWaitMs) : now + options.timeoutMs;
    timer = setTimeout(() => {
      fail(new PolicyTimeoutError(`the policy engine did not answer within ${Date.now() - head.askedAt} ms`));
    }, Math.max(0, limit - now));
  };

  stream.on("data", (m: EngineMessage__Output) => {
    const head = waiting[0];
    if (m.callId !== callId || head === undefined || m.replyTo !== head.seq) {
      unexpected++;
      logger.warn("unexpected engine answer ignored", { callId, replyTo: m.replyTo, kind: m.kind });
      return;
    }
    if (m.kind === "keepalive") {
      arm(true);
      return;
    }
    if (m.kind === "error") {
      const e = m.error;
      const reason = e?.code === "unsupported_protocol_version" ? "protocol_mismatch" : "engine_error";
      fail(new PolicyUnavailableError(reason, `policy engine refused the call: ${e?.message ?? "unknown error"}`));
      return;
    }
    const answers: Record<Expect, EngineMessage__Output["kind"]> = { request: "request", response: "response", emit: "emit", finish: "finish" };
    if (m.kind !== answers[head.expect]) {
      fail(new PolicyUnavailableError("engine_error", `policy engine answered ${m.kind ?? "nothing"} where ${head.expect} was due`));
      return;
    }
    waiting.shift();
    head.resolve(m);
    arm();
  });
  stream.on("error", (err: grpc.ServiceError) => {
    if (err.code === grpc.status.CANCELLED && closed) return;
    fail(new PolicyUnavailableError("unavailable", `policy engine unavailable: ${err.details || err.message}`, { cause: err }));
  });
  stream.on("end", () => {
    fail(new PolicyUnavailableError("closed", "policy engine closed the stream before finishing the call"));
  });

  const write = async (message: Omit<GatewayMessage, "callId" | "seq">): Promise<string> => {
    if (failure !== undefined) throw failure;
    seq += 1;
    const s = String(seq);
    if (!stream.write({ callId, seq: s, ...message })) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          stream.off("drain", done);
          stream.off("close", done);
          resolve();
        };
        stream.on("drain", done);
        stream.on("close", done);
      });
      if (failure !== undefined) throw failure;
    }
    return s;
  };

  const ask = async (expect: Expect, message: Omit<GatewayMessage, "callId" | "seq">): Promise<Pending<EngineMessage__Output>> => {
    const s = await write(message);
    const result = new Promise<EngineMessage__Output>((resolve, reject) => {
      if (failure !== undefined) return reject(failure);
      waiting.push({ seq: s, expect, askedAt: Date.now(), resolve, reject });
      if (waiting.length === 1) arm();
    });
    // Callers may learn of a failure from another verdict first; this one must not surface as unhandled.
    result.catch(() => undefined);
    return { result };
  };

  const then = <A, B>(p: Pending<A>, f: (a: A) => B): Pending<B> => {
    const result = p.result.then(f);
    result.catch(() => undefined);
    return { result };
  };

  const toDenied = (d: { status: number; errorType: string; message: string } | null | undefined): PolicyDeniedError =>
    new PolicyDeniedError(d?.status !== undefined && d.status >= 400 ? d.status : 403, d?.errorType || "permission_error", d?.message ?? "denied by policy");

  return {
    get unexpectedAnswers() {
      return unexpected;
    },
    async askRequest(start) {
      const p = await ask("request", {
        start: {
          protocolVersion: PROTOCOL_VERSION,
          format: start.format,
          stream: start.stream,
          keyId: start.keyId,
          userId: start.userId,
          sessionId: start.sessionId,
          route: start.route,
          headers: start.headers,
          requestJson: start.requestJson,
        },
      });
      return then(p, (m): RequestVerdict => {
        const v = m.request;
        switch (v?.action) {
          case "continue": {
            const c = v.continue;
            const mode = c?.mode === undefined || c.mode === "RESPONSE_MODE_UNSPECIFIED" ? "FULL" : c.mode;
            return { action: "continue", requestJson: c !== null && c !== undefined && c.requestJson.length > 0 ? c.requestJson : undefined, mode };
          }
          case "respond":
            return { action: "respond", responseJson: v.respond?.responseJson ?? Buffer.alloc(0) };
          case "deny":
            return { action: "deny", error: toDenied(v.deny) };
          default:
            throw new PolicyUnavailableError("engine_error", "policy engine sent an empty request verdict");
        }
      });
    },
    async askResponse(responseJson) {
      const p = await ask("response", { response: { responseJson } });
      return then(p, (m): ResponseVerdict => {
        const v = m.response;
        if (v?.action === "deny") return { action: "deny", error: toDenied(v.deny) };
        const body = v?.respond?.responseJson;
        return { action: "respond", responseJson: body !== undefined && body.length > 0 ? body : undefined };
      });
    },
    async askChunk(event) {
      const p = await ask("emit", { chunk: { event } });
      return then(p, (m) => m.emit?.events ?? []);
    },
    async askFinish() {
      const p = await ask("finish", { end: {} });
      return then(p, (m): FinishVerdict => {
        const f = m.finish;
        return { events: f?.events ?? [], error: f?.error !== null && f?.error !== undefined ? toDenied(f.error) : undefined };
      });
    },
    observe(message) {
      const m: Omit<GatewayMessage, "callId" | "seq"> =
        "response" in message ? { response: { responseJson: message.response } } : "chunk" in message ? { chunk: { event: message.chunk } } : { end: {} };
      write(m).catch(() => undefined);
    },
    upstreamError(status, type, message) {
      write({ upstreamError: { status, type, message } }).catch(() => undefined);
    },
    close(how) {
      if (closed) return;
      clearTimeout(timer);
      closed = true;
      if (how === "cancel" && failure === undefined) {
        write({ cancel: { reason: "client disconnected" } }).catch(() => undefined);
        stream.cancel();
      } else {
        stream.end();
      }
      failure ??= new PolicyUnavailableError("closed", "call closed");
      for (const w of waiting.splice(0)) w.reject(failure);
    },
  };
}
