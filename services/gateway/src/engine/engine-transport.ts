import { drainingWriter, grpc, type EngineMessage__Output, type GatewayMessage, type createPolicyEngineClient } from "@luthien/protocol";
import { PolicyUnavailableError } from "../errors";

// How a call's messages reach the engine: a `Process` stream of its own, or a share of one of a few long-lived
// multiplexed streams. The call's verdict bookkeeping (policy-engine.ts) is the same over both.

/**
 * Start messages at least this big get a stream of their own even on the multiplexed transport: HTTP/2 flow
 * control is per stream, so a 20 MB request must not hold up the chunks of every other call sharing its stream.
 */
const LARGE_MESSAGE_BYTES = 256 * 1024;

/** What a transport tells the call it carries. */
export interface CallSink {
  data(m: EngineMessage__Output): void;
  /** The transport broke (stream error or engine closed it): the call cannot go on. */
  fail(err: Error): void;
}

/** How one call's messages travel: a stream of its own, or a share of a multiplexed one. */
export interface CallLink {
  /** Sends one message; resolves when the transport can take more (after `drain` if it was full). */
  write(message: GatewayMessage): Promise<void>;
  /** The call is over, answered in full: release the transport. */
  end(): void;
  /** The call is abandoned (already told the engine with a Cancel when it could): release it now. */
  abort(): void;
}

function streamFailure(err: grpc.ServiceError): PolicyUnavailableError {
  return new PolicyUnavailableError("unavailable", `policy engine unavailable: ${err.details || err.message}`, { cause: err });
}
const closedEarly = (): PolicyUnavailableError => new PolicyUnavailableError("closed", "policy engine closed the stream before finishing the call");

/** Stream per call: the call owns a `Process` stream; ending the call half-closes or cancels it. */
export function openOwnStream(client: ReturnType<typeof createPolicyEngineClient>, sink: CallSink): CallLink {
  const stream = client.Process();
  const write = drainingWriter<GatewayMessage>(stream);
  let released = false;
  stream.on("data", (m: EngineMessage__Output) => sink.data(m));
  stream.on("error", (err: grpc.ServiceError) => {
    if (err.code === grpc.status.CANCELLED && released) return;
    sink.fail(streamFailure(err));
  });
  stream.on("end", () => sink.fail(closedEarly()));
  return {
    write,
    end() {
      released = true;
      stream.end();
    },
    abort() {
      released = true;
      stream.cancel();
    },
  };
}

interface SharedStream {
  stream: grpc.ClientDuplexStream<GatewayMessage, EngineMessage__Output>;
  write(message: GatewayMessage): Promise<void>;
  calls: Map<string, CallSink>;
  /** Takes no new calls; half-closed once its last call is released. */
  draining: boolean;
}

/**
 * A few long-lived `Process` streams carrying many calls each, told apart by call id (the engine handles each
 * call's messages in order and answers each on the stream it came on). A new call joins the stream with the
 * fewest calls; a stream that breaks fails only its own calls, and the next call opens a fresh one.
 */
export function createMultiplexedTransport(
  client: ReturnType<typeof createPolicyEngineClient>,
  options: { streams: number; onStray(m: EngineMessage__Output): void },
): { attach(callId: string, sink: CallSink, first: GatewayMessage): CallLink; drain(): void } {
  let shared: SharedStream[] = [];

  const retire = (s: SharedStream): void => {
    shared = shared.filter((x) => x !== s);
  };
  const open = (): SharedStream => {
    const stream = client.Process();
    const s: SharedStream = { stream, write: drainingWriter<GatewayMessage>(stream), calls: new Map(), draining: false };
    s.stream.on("data", (m: EngineMessage__Output) => {
      const sink = s.calls.get(m.callId);
      // Answers for a call already released (cancelled, failed, timed out) are expected now and then.
      if (sink === undefined) options.onStray(m);
      else sink.data(m);
    });
    const breakAll = (err: Error): void => {
      retire(s);
      const sinks = [...s.calls.values()];
      s.calls.clear();
      for (const sink of sinks) sink.fail(err);
    };
    s.stream.on("error", (err: grpc.ServiceError) => breakAll(streamFailure(err)));
    s.stream.on("end", () => breakAll(closedEarly()));
    shared.push(s);
    return s;
  };
  const pick = (): SharedStream => {
    const usable = shared.filter((s) => !s.draining);
    if (usable.length < options.streams) return open();
    return usable.reduce((a, b) => (b.calls.size < a.calls.size ? b : a));
  };
  const release = (s: SharedStream, callId: string): void => {
    s.calls.delete(callId);
    if (s.draining && s.calls.size === 0) {
      retire(s);
      s.stream.end();
    }
  };

  return {
    attach(callId, sink, first) {
      if ((first.start?.requestJson?.length ?? 0) >= LARGE_MESSAGE_BYTES) return openOwnStream(client, sink);
      const s = pick();
      s.calls.set(callId, sink);
      return {
        write: s.write,
        end: () => release(s, callId),
        abort: () => release(s, callId),
      };
    },
    drain() {
      for (const s of shared) {
        s.draining = true;
        if (s.calls.size === 0) release(s, "");
      }
    },
  };
}
