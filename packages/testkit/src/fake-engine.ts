import {
  POLICY_ENGINE_SERVICE,
  addPolicyEngineService,
  createHealthService,
  encodeEmit,
  grpc,
  negotiateProtocol,
  policyMessageLimit,
  type EngineMessage,
  type GatewayMessage__Output,
  type SseEvent,
  type SseEvent__Output,
  type Start__Output,
} from "@luthien/protocol";
import { startFaultProxy, type FaultProxy } from "./fault-proxy";

/**
 * What the fake engine does with one message that asks for a verdict (Start, Response, Chunk, End):
 * - `answer`: the correct answer (see {@link FakeEngineOptions.transform} for what "correct" emits).
 * - `delay`: waits `ms`, then does `then` (default `answer`).
 * - `silent`: never answers.
 * - `unknown-seq`: the correct answer, but with a `reply_to` the gateway never sent.
 * - `duplicate`: the correct answer, twice.
 * - `hold`: keeps the answer back and sends it right after the answer to the call's next message (out of order);
 *   with no next message it is never sent.
 * - `wrong-kind`: an answer of another kind (`finish` for a chunk, `emit` for anything else).
 * - `oversize`: an `emit` (or for a Start, a `continue` with a rewritten request) of `bytes` bytes (default one
 *   byte above the policy-stream message limit for the default `MAX_BODY_BYTES`).
 * - `end`: ends the stream cleanly (status OK) without answering.
 * - `error`: ends the stream with a gRPC status.
 * - `destroy`: cuts every TCP connection to the engine (RST), as a crash would.
 * - `malformed`: an answer of the right kind that says nothing usable: for a Start, a `continue` with a response
 *   mode no gateway knows (`unknown-mode`) or an empty request verdict (`empty`); for a Response, an empty response
 *   verdict; for a chunk (either `how`), an emit that says `unchanged` and carries the event too; for an End, the
 *   correct answer.
 */
export type FakeEngineAction =
  | { do: "answer" }
  | { do: "delay"; ms: number; then?: FakeEngineAction }
  | { do: "silent" }
  | { do: "unknown-seq" }
  | { do: "duplicate" }
  | { do: "hold" }
  | { do: "wrong-kind" }
  | { do: "oversize"; bytes?: number }
  | { do: "end" }
  | { do: "error"; code: grpc.status; details?: string }
  | { do: "destroy" }
  | { do: "malformed"; how: "unknown-mode" | "empty" };

/** What the behaviour function sees about one incoming message. */
export interface FakeEngineContext {
  kind: "start" | "response" | "chunk" | "end";
  message: GatewayMessage__Output;
  /** The call's Start (every call begins with one). */
  start: Start__Output | undefined;
  /** The call's request JSON as text (tests tag calls with a marker in the prompt). */
  requestText: string;
  /** For chunks: 0 for the call's first chunk, 1 for the next, ... */
  chunkIndex: number;
}

/** Decides per message; undefined means `answer`. */
export type FakeEngineBehaviour = (ctx: FakeEngineContext) => FakeEngineAction | undefined;

export interface FakeEngineOptions {
  /** @default every message answered correctly */
  behave?: FakeEngineBehaviour;
  /**
   * The events a correct engine emits for a chunk. Tests that must tell approved bytes from pass-through ones mark
   * them here (e.g. upper-case the text). @default the chunk unchanged: `unchanged` to a gateway whose protocol
   * version has it, the event itself to an older one
   */
  transform?: (event: SseEvent__Output) => SseEvent;
}

/** One message the engine received. */
export interface FakeEngineRecord {
  callId: string;
  seq: string;
  kind: string;
  at: number;
}

export interface FakeEngine {
  /** `127.0.0.1:<port>`: what the gateway's POLICY_ENGINE_URL names. */
  readonly address: string;
  /** Every message received, in order. */
  readonly received: readonly FakeEngineRecord[];
  /** Every event emitted in answer to a chunk or an end (the approved events; an `unchanged` one as the chunk), by call id. */
  readonly approved: ReadonlyMap<string, SseEvent[]>;
  /** Replaces the behaviour for messages from now on. */
  behave(fn: FakeEngineBehaviour | undefined): void;
  /** The grpc.health.v1 status of the engine service and of the whole server (""), for Check and Watch. */
  setServing(serving: boolean): void;
  /** Cuts every connection (RST); the engine stays up and accepts new ones. */
  destroyConnections(): void;
  /** Stops the server and cuts every connection. Idempotent. */
  stop(): Promise<void>;
}

const answerAll: FakeEngineBehaviour = () => undefined;

/** One buffer per size for `oversize`: filling 64 MiB anew per reply costs more than the reply's own trip. */
const oversizedBuffers = new Map<number, Buffer>();
function oversized(bytes: number): Buffer {
  let b = oversizedBuffers.get(bytes);
  if (b === undefined) {
    b = Buffer.alloc(bytes, 0x61);
    oversizedBuffers.set(bytes, b);
  }
  return b;
}

/**
 * A real grpc-js server speaking `luthien.policy.v1.PolicyEngine` (through `@luthien/protocol`), scriptable per
 * message, for fault tests. By default it is a correct engine: a Start gets `continue` in FULL mode with the
 * request unchanged, a chunk gets an `emit` that says `unchanged` (the same event, to a version-1 gateway), an End a
 * `finish` with no events, a Response the response unchanged. It serves every protocol version the engine does. Clients reach it through a pass-through {@link FaultProxy}, which is how `destroy` cuts
 * connections.
 */
export async function startFakeEngine(options: FakeEngineOptions = {}): Promise<FakeEngine> {
  let behaviour = options.behave ?? answerAll;
  const transform = options.transform;
  const received: FakeEngineRecord[] = [];
  const approved = new Map<string, SseEvent[]>();

  // Receives what a real engine receives; sends without a limit, so `oversize` really goes out.
  const server = new grpc.Server({ "grpc.max_receive_message_length": policyMessageLimit() });
  addPolicyEngineService(server, {
    Process(call) {
      const starts = new Map<string, { start: Start__Output | undefined; text: string; chunks: number; held: EngineMessage[]; queue: Promise<void> }>();
      let ended = false;
      const send = (m: EngineMessage): void => {
        if (!ended && !call.destroyed) call.write(m);
      };

      const correct = (m: GatewayMessage__Output): EngineMessage => {
        const base = { callId: m.callId, replyTo: m.seq };
        switch (m.kind) {
          case "start":
            return { ...base, request: { continue: { requestJson: Buffer.alloc(0), mode: "FULL" } } };
          case "response":
            return { ...base, response: { respond: { responseJson: Buffer.alloc(0) } } };
          case "chunk": {
            const event = m.chunk?.event;
            if (event === null || event === undefined) return { ...base, emit: { events: [] } };
            const emitted = transform?.(event);
            approve(m.callId, [emitted ?? { event: event.event, data: event.data }]);
            const negotiated = negotiateProtocol(starts.get(m.callId)?.start?.protocolVersion ?? 0);
            const features = negotiated.ok ? negotiated.features : { version: 1, unchanged: false };
            return { ...base, emit: encodeEmit(emitted !== undefined ? [emitted] : "unchanged", event, features) };
          }
          default:
            return { ...base, finish: { events: [] } };
        }
      };
      const approve = (callId: string, events: SseEvent[]): void => {
        const list = approved.get(callId) ?? [];
        list.push(...events);
        approved.set(callId, list);
      };

      const act = async (action: FakeEngineAction, m: GatewayMessage__Output, state: { held: EngineMessage[] }): Promise<void> => {
        if (ended) return;
        switch (action.do) {
          case "answer": {
            send(correct(m));
            return;
          }
          case "delay":
            await new Promise((r) => setTimeout(r, action.ms));
            return act(action.then ?? { do: "answer" }, m, state);
          case "silent":
            return;
          case "unknown-seq":
            send({ ...correct(m), replyTo: String(BigInt(m.seq) + 1000n) });
            return;
          case "duplicate": {
            const a = correct(m);
            send(a);
            send(a);
            return;
          }
          case "hold":
            state.held.push(correct(m));
            return;
          case "wrong-kind":
            send(m.kind === "chunk" ? { callId: m.callId, replyTo: m.seq, finish: { events: [] } } : { callId: m.callId, replyTo: m.seq, emit: { events: [] } });
            return;
          case "oversize": {
            const big = oversized(action.bytes ?? policyMessageLimit() + 1);
            send(
              m.kind === "start"
                ? { callId: m.callId, replyTo: m.seq, request: { continue: { requestJson: big, mode: "FULL" } } }
                : { callId: m.callId, replyTo: m.seq, emit: { events: [{ event: "", data: big }] } },
            );
            return;
          }
          case "malformed": {
            const base = { callId: m.callId, replyTo: m.seq };
            if (m.kind === "start") {
              // A mode number from a newer protocol: the generated types only know the names of today's.
              send(action.how === "empty" ? { ...base, request: {} } : { ...base, request: { continue: { requestJson: Buffer.alloc(0), mode: 7 as unknown as "FULL" } } });
            } else if (m.kind === "response") send({ ...base, response: {} });
            else if (m.kind === "chunk" && m.chunk?.event !== null && m.chunk?.event !== undefined) {
              send({ ...base, emit: { unchanged: true, events: [{ event: m.chunk.event.event, data: m.chunk.event.data }] } });
            } else send(correct(m));
            return;
          }
          case "end":
            ended = true;
            call.end();
            return;
          case "error":
            ended = true;
            call.emit("error", { code: action.code, details: action.details ?? `fake engine: ${grpc.status[action.code]}` });
            return;
          case "destroy":
            ended = true;
            // Answers already written get a moment to leave first, as they would have before a real crash.
            await new Promise((r) => setTimeout(r, 50));
            destroyConnections();
            return;
        }
      };

      call.on("data", (m: GatewayMessage__Output) => {
        received.push({ callId: m.callId, seq: m.seq, kind: m.kind ?? "", at: Date.now() });
        if (m.kind !== "start" && m.kind !== "response" && m.kind !== "chunk" && m.kind !== "end") return;
        let state = starts.get(m.callId);
        if (state === undefined) {
          const text = m.start !== null && m.start !== undefined ? m.start.requestJson.toString("utf8") : "";
          state = { start: m.start ?? undefined, text, chunks: 0, held: [], queue: Promise.resolve() };
          starts.set(m.callId, state);
        }
        const chunkIndex = m.kind === "chunk" ? state.chunks++ : -1;
        const action = behaviour({ kind: m.kind, message: m, start: state.start, requestText: state.text, chunkIndex }) ?? { do: "answer" };
        // A call's answers go out in the order its messages came, so a delayed answer delays the ones after it.
        const s = state;
        s.queue = s.queue.then(async () => {
          await act(action, m, s);
          // What an out-of-order engine held back follows the answer it let overtake it.
          if (action.do !== "hold") for (const h of s.held.splice(0)) send(h);
        });
      });
      call.on("end", () => {
        if (ended) return;
        ended = true;
        call.end();
      });
      call.on("error", () => undefined);
    },
  });
  const health = createHealthService(server, [POLICY_ENGINE_SERVICE]);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err === null ? resolve(p) : reject(err)));
  });
  const front: FaultProxy = await startFaultProxy({ target: `127.0.0.1:${port}` });

  function destroyConnections(): void {
    // Resetting cuts what is open; passing again lets the gateway reconnect.
    front.mode("reset");
    front.mode("pass");
  }

  let stopped: Promise<void> | undefined;
  return {
    address: front.address,
    received,
    approved,
    behave(fn) {
      behaviour = fn ?? answerAll;
    },
    setServing(serving) {
      const status = serving ? "SERVING" : "NOT_SERVING";
      health.setStatus("", status);
      health.setStatus(POLICY_ENGINE_SERVICE, status);
    },
    destroyConnections,
    stop() {
      stopped ??= (async () => {
        server.forceShutdown();
        await front.stop();
      })();
      return stopped;
    },
  };
}
