/** Every scenario `--only` accepts, in the order a run goes through them. */
export const SCENARIOS = ["latency", "throughput", "ttfb", "per-event", "slow-streams", "memory", "workers", "transport"] as const;
export type Scenario = (typeof SCENARIOS)[number];

/** What one run measures and how much; see {@link readOptions} for the defaults. */
export interface BenchOptions {
  quick: boolean;
  /** Write docs/benchmarks.{md,json}: full runs of every scenario do, quick or partial runs only with `--write`. */
  write: boolean;
  only: ReadonlySet<Scenario>;
  /** Sequential calls per side at 1 connection, after `warmup` more. */
  calls: number;
  warmup: number;
  /** Concurrent clients of the throughput scenarios. */
  connections: number;
  loadMs: number;
  loadWarmupMs: number;
  /** Events per stream in the per-event scenario, and how many streams per side. */
  streamChunks: number;
  streamCalls: number;
  /** Concurrent slow streams, each `slowChunks` events `slowChunkDelayMs` apart. */
  slowStreams: number;
  slowChunks: number;
  slowChunkDelayMs: number;
  /** Steady load for the RSS growth figure; 0 = no soak. */
  soakMs: number;
  soakSampleMs: number;
  soakConnections: number;
  /** How long services sit without traffic before their idle RSS is read. */
  idleSettleMs: number;
  /** Gateway and control plane publish activity to a NATS of the bench's own (and the monitor stores it). */
  nats: boolean;
  /** Peer gateways to measure alongside (only "portkey" is known). */
  peers: ReadonlySet<string>;
}

/** A bad flag or env value: the message says what to do, no stack trace needed. */
export class UsageError extends Error {}

const num = (env: NodeJS.ProcessEnv, name: string, fallback: number): number => {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`${name} must be a non-negative number, got ${JSON.stringify(raw)}`);
  return n;
};

/**
 * Reads flags (`--quick`, `--write`, `--only a,b`) and env. Every `BENCH_*` variable overrides the figure it names,
 * in quick runs too. Defaults (full / quick): `BENCH_CALLS` 1000 / 50, `BENCH_WARMUP` 200 / 20, `BENCH_CONNECTIONS`
 * 50, `BENCH_LOAD_MS` 10000 / 2000, `BENCH_STREAM_CHUNKS` 200 / 50, `BENCH_STREAM_CALLS` 100 / 10,
 * `BENCH_SLOW_STREAMS` 1000 / 50, `BENCH_SOAK_MS` 300000 / 0 (RSS sampled every 10 s, or soak/12 when shorter), `BENCH_NATS` off, `BENCH_PEERS` none.
 * @throws UsageError on an unknown flag or scenario, or a malformed number
 */
export function readOptions(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): BenchOptions {
  let quick = env["BENCH_QUICK"] === "1";
  let write = false;
  let only: Set<Scenario> | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--quick") quick = true;
    else if (arg === "--write") write = true;
    else if (arg === "--only" || arg?.startsWith("--only=") === true) {
      const list = arg === "--only" ? argv[++i] : arg.slice("--only=".length);
      if (list === undefined) throw new UsageError("--only needs a list, e.g. --only latency,ttfb");
      only = new Set();
      for (const name of list.split(",").map((s) => s.trim()).filter((s) => s !== "")) {
        if (!(SCENARIOS as readonly string[]).includes(name)) throw new UsageError(`unknown scenario ${JSON.stringify(name)}; known: ${SCENARIOS.join(", ")}`);
        only.add(name as Scenario);
      }
    } else if (arg === "--help" || arg === "-h") {
      throw new UsageError(`usage: pnpm bench [--quick] [--write] [--only ${SCENARIOS.join(",")}]`);
    } else throw new UsageError(`unknown argument ${JSON.stringify(arg)} (try --help)`);
  }
  const pick = (full: number, small: number): number => (quick ? small : full);
  const soakMs = num(env, "BENCH_SOAK_MS", pick(300_000, 0));
  return {
    quick,
    write: write || (!quick && only === undefined),
    only: only ?? new Set(SCENARIOS),
    calls: num(env, "BENCH_CALLS", pick(1000, 50)),
    warmup: num(env, "BENCH_WARMUP", pick(200, 20)),
    connections: num(env, "BENCH_CONNECTIONS", 50),
    loadMs: num(env, "BENCH_LOAD_MS", pick(10_000, 2000)),
    loadWarmupMs: pick(1000, 300),
    streamChunks: num(env, "BENCH_STREAM_CHUNKS", pick(200, 50)),
    streamCalls: num(env, "BENCH_STREAM_CALLS", pick(100, 10)),
    slowStreams: num(env, "BENCH_SLOW_STREAMS", pick(1000, 50)),
    slowChunks: 20,
    slowChunkDelayMs: 100,
    soakMs,
    // Every 10 s; shorter soaks sample more often so their second half still has points to fit.
    soakSampleMs: Math.min(10_000, Math.max(500, soakMs / 12)),
    soakConnections: 10,
    idleSettleMs: pick(3000, 500),
    nats: env["BENCH_NATS"] === "1",
    peers: new Set((env["BENCH_PEERS"] ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "")),
  };
}
