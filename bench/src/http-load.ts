import * as http from "node:http";
import { summarize, type Summary } from "./stats";

/** Something the bench sends chat completions to: the mock itself, the gateway, or a peer gateway. */
export interface Target {
  /** Shown in tables: "direct", "gateway", "portkey", ... */
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** @default "/v1/chat/completions" */
  readonly path: string;
  /** Sent with every request on top of the content type (a peer's routing headers). */
  readonly headers: Readonly<Record<string, string>>;
}

/** A target at `baseUrl` (`http://host:port`), posting to `/v1/chat/completions` unless `path` says otherwise. */
/**
 * The gateway key every bench gateway is started with (`GATEWAY_API_KEYS`, `AUTH_MODE=client_key`: the deployed
 * default), sent by every target unless it names its own headers; the mock ignores it.
 */
export const BENCH_GATEWAY_KEY = "luthien-bench-gateway-key";

export function createTarget(name: string, baseUrl: string, headers: Record<string, string> = { authorization: `Bearer ${BENCH_GATEWAY_KEY}` }, path = "/v1/chat/completions"): Target {
  const u = new URL(baseUrl);
  return { name, host: u.hostname, port: Number(u.port), path, headers };
}

/** How one call went. Times in milliseconds from the moment the request was issued. */
export interface CallTiming {
  status: number;
  /** Until the first byte of the response body (for a stream: its first event). NaN for an empty body. */
  ttfbMs: number;
  /** Until the response body ended. */
  totalMs: number;
  /** The last 64 bytes of the body: enough to tell a stream that ended with `data: [DONE]`. */
  tail: string;
}

/**
 * Chat request bodies: a one-line prompt, as JSON or as a stream. Kept small so the figures are the gateway's own
 * cost, not JSON parsing of big prompts.
 */
export function chatBody(stream: boolean): string {
  return JSON.stringify({ model: "gpt-4o-mini", stream, messages: [{ role: "user", content: "hi" }] });
}

/**
 * One POST through `agent` with node:http (lighter than fetch, so the client adds less noise than what it measures).
 * @throws on a connection error; an HTTP error status is returned, not thrown
 */
export function post(target: Target, body: string, agent: http.Agent): Promise<CallTiming> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.request(
      {
        host: target.host,
        port: target.port,
        path: target.path,
        method: "POST",
        agent,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...target.headers },
      },
      (res) => {
        let ttfbMs = NaN;
        let tail = "";
        res.on("data", (chunk: Buffer) => {
          if (Number.isNaN(ttfbMs)) ttfbMs = performance.now() - t0;
          tail = (tail + chunk.toString("latin1")).slice(-64);
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, ttfbMs, totalMs: performance.now() - t0, tail }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** A keep-alive agent for `sockets` concurrent connections (node's default agent closes sockets after each call). */
export function keepAliveAgent(sockets: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
}

/**
 * `n` sequential calls on one keep-alive connection.
 * @throws when a call does not answer 200: a failing target must not pass for a fast one
 */
export async function sequential(target: Target, body: string, n: number, agent: http.Agent): Promise<CallTiming[]> {
  const out: CallTiming[] = [];
  for (let i = 0; i < n; i++) {
    const t = await post(target, body, agent);
    if (t.status !== 200) throw new Error(`${target.name} answered ${t.status}`);
    out.push(t);
  }
  return out;
}

/**
 * Sequential calls to every target, warmed up and then measured in interleaved halves (A B … A B …), so a drift
 * in machine load hits every target alike.
 * @returns per target name, every measured call
 */
export async function interleaved(targets: readonly Target[], body: string, calls: number, warmup: number): Promise<Map<string, CallTiming[]>> {
  const agents = new Map(targets.map((t) => [t.name, keepAliveAgent(1)]));
  const agentOf = (t: Target): http.Agent => agents.get(t.name) as http.Agent;
  const out = new Map<string, CallTiming[]>(targets.map((t) => [t.name, []]));
  try {
    for (const t of targets) await sequential(t, body, warmup, agentOf(t));
    const half = Math.ceil(calls / 2);
    for (const n of [half, calls - half]) {
      for (const t of targets) out.get(t.name)?.push(...(await sequential(t, body, n, agentOf(t))));
    }
  } finally {
    for (const a of agents.values()) a.destroy();
  }
  return out;
}

/** What a closed-loop load achieved. */
export interface LoadResult {
  connections: number;
  durationMs: number;
  /** Calls answered 200 within the duration. */
  ok: number;
  /** Calls that failed (status other than 200, or a connection error). */
  errors: number;
  rps: number;
  /** Latency of the successful calls, ms. */
  latency: Summary;
}

/** Options of {@link closedLoop}. */
export interface LoadOptions {
  target: Target;
  body: string;
  /** Concurrent keep-alive clients, each sending its next call as soon as the previous one ended. */
  connections: number;
  durationMs: number;
  /** Load before the measured part, not counted (lets the JIT and the connection pools settle). @default 1000 */
  warmupMs?: number;
}

/** What one stretch of closed-loop load gave. */
interface Stretch {
  latencies: number[];
  errors: number;
  elapsedMs: number;
}

/** `connections` clients on `agent` calling `target` back to back for `durationMs`. */
async function loop(target: Target, body: string, agent: http.Agent, connections: number, durationMs: number): Promise<Stretch> {
  const latencies: number[] = [];
  let errors = 0;
  const t0 = performance.now();
  const deadline = t0 + durationMs;
  const client = async (): Promise<void> => {
    while (performance.now() < deadline) {
      try {
        const t = await post(target, body, agent);
        if (t.status === 200) latencies.push(t.totalMs);
        else errors++;
      } catch {
        errors++;
        // A refused connection fails at once; don't spin on it.
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  };
  await Promise.all(Array.from({ length: connections }, client));
  return { latencies, errors, elapsedMs: performance.now() - t0 };
}

function loadResult(connections: number, stretches: readonly Stretch[]): LoadResult {
  const latencies = stretches.flatMap((s) => s.latencies);
  const durationMs = stretches.reduce((sum, s) => sum + s.elapsedMs, 0);
  const errors = stretches.reduce((sum, s) => sum + s.errors, 0);
  return { connections, durationMs, ok: latencies.length, errors, rps: latencies.length / (durationMs / 1000), latency: summarize(latencies) };
}

/**
 * A fixed-duration closed loop: `connections` clients, each with its own keep-alive socket, call back to back.
 * The rate it reaches against the mock alone shows how much this client itself can drive.
 */
export async function closedLoop(options: LoadOptions): Promise<LoadResult> {
  const agent = keepAliveAgent(options.connections);
  try {
    await loop(options.target, options.body, agent, options.connections, options.warmupMs ?? 1000);
    return loadResult(options.connections, [await loop(options.target, options.body, agent, options.connections, options.durationMs)]);
  } finally {
    agent.destroy();
  }
}

/** Options of {@link interleavedLoads}. */
export interface InterleavedLoadOptions {
  targets: readonly Target[];
  body: string;
  connections: number;
  /** Measured load per target, over all its rounds. */
  durationMs: number;
  /** Load per target before its first round, not counted. @default 1000 */
  warmupMs?: number;
  /** The measured load of each target is cut into this many rounds, taken in turn. @default 1 */
  rounds?: number;
  /** Called right before and right after each measured round of a target (to read counters such as CPU time). */
  onRound?: (target: Target, phase: "start" | "end") => void;
}

/**
 * A closed loop against each target in turn, in rounds (A B C, A B C, ...), so a drift in machine load (other
 * processes on a shared box) hits every target alike, like {@link interleaved} at one connection.
 * @returns per target name, what its rounds gave together
 */
export async function interleavedLoads(options: InterleavedLoadOptions): Promise<Map<string, LoadResult>> {
  const { targets, body, connections } = options;
  const rounds = Math.max(1, Math.floor(options.rounds ?? 1));
  const agents = new Map(targets.map((t) => [t.name, keepAliveAgent(connections)]));
  const agentOf = (t: Target): http.Agent => agents.get(t.name) as http.Agent;
  const stretches = new Map<string, Stretch[]>(targets.map((t) => [t.name, []]));
  try {
    for (const t of targets) await loop(t, body, agentOf(t), connections, options.warmupMs ?? 1000);
    for (let r = 0; r < rounds; r++) {
      for (const t of targets) {
        options.onRound?.(t, "start");
        const stretch = await loop(t, body, agentOf(t), connections, options.durationMs / rounds);
        options.onRound?.(t, "end");
        stretches.get(t.name)?.push(stretch);
      }
    }
  } finally {
    for (const a of agents.values()) a.destroy();
  }
  return new Map([...stretches].map(([name, s]) => [name, loadResult(connections, s)]));
}
