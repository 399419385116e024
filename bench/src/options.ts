/** Every scenario `--only` accepts, in the order a run goes through them. */
export const SCENARIOS = ["latency", "throughput", "ttfb", "per-event", "slow-streams", "memory", "workers", "transport", "keys"] as const;
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
  /** Rounds the throughput scenario cuts each target's `loadMs` into, taken in turn. */
  loadRounds: number;
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
  /**
   * Gateway and control plane publish activity to a `nats-server -js` of the bench's own and the monitor stores it
   * (as deployed); when on, the key SKIP scenarios also measure a gateway and control plane with `NATS_URL=off`.
   */
  activity: boolean;
  /** Peer gateways to measure alongside (only "portkey" is known). */
  peers: ReadonlySet<string>;
  /** Peers to install into the bench cache when missing (named in `BENCH_PEERS`); others run only when installed. */
  installPeers: boolean;
  /** Only profile: 50-connection SKIP throughput with the gateway under `node --cpu-prof`, then its hot spots. */
  profile: boolean;
}

/** The peers `BENCH_PEERS` may name. */
export const KNOWN_PEERS = ["portkey"] as const;

/** A bad flag or env value: the message says what to do, no stack trace needed. */
export class UsageError extends Error {}

/** `--help`: the message is {@link USAGE}, and asking for it is no error. */
export class HelpRequested extends UsageError {}

const num = (env: NodeJS.ProcessEnv, name: string, fallback: number): number => {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`${name} must be a non-negative number, got ${JSON.stringify(raw)}`);
  return n;
};

/** What `--help` prints. */
export const USAGE = `usage: pnpm bench [--quick] [--write] [--only ${SCENARIOS.join(",")}] [--no-activity] [--profile]

  --quick         every scenario, tiny (the CI smoke: fails on crashes only, never on figures)
  --write         write docs/benchmarks.md and .json (full runs of every scenario do so anyway)
  --only a,b      run these scenarios only
  --no-activity   gateway and control plane with NATS_URL=off, no monitor storing events (default: on, as deployed,
                  with a --no-activity row beside the key SKIP scenarios)
  --profile       only 50-connection SKIP throughput with the gateway under node --cpu-prof: prints the top functions
                  by self time and a per-package rollup, keeps the .cpuprofile (BENCH_PROFILE_DIR, default
                  .luthien/profiles/<time>)
  --help          this text

env (full / quick defaults): BENCH_CALLS 1000 / 50, BENCH_WARMUP 200 / 20, BENCH_CONNECTIONS 50,
  BENCH_LOAD_MS 10000 / 2000, BENCH_STREAM_CHUNKS 200 / 50, BENCH_STREAM_CALLS 100 / 10, BENCH_SLOW_STREAMS 1000 / 50,
  BENCH_SOAK_MS 300000 / 0, BENCH_NATS 1 (0 = --no-activity), BENCH_PEERS (unset: portkey when already installed in
  the bench cache; "portkey": install it if needed; "none": no peer), BENCH_CACHE_DIR (~/.cache/luthien-bench),
  DATABASE_URL (the monitor on PostgreSQL instead of embedded PGlite)`;

/** Options of {@link readOptions}. */
export interface ReadOptionsContext {
  /** Whether a peer is installed in the bench cache, for the default peers. @default nothing is */
  peerInstalled?: (peer: string) => boolean;
}

/**
 * Reads flags and env (both listed in {@link USAGE}). Every `BENCH_*` variable overrides the figure it names, in
 * quick runs too; soak RSS is sampled every 10 s, or soak/12 when shorter. A peer named in `BENCH_PEERS` is
 * installed when missing; unset, the peers already installed run (`context.peerInstalled`).
 * @throws UsageError on an unknown flag, scenario or peer, or a malformed number
 */
export function readOptions(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, context: ReadOptionsContext = {}): BenchOptions {
  let quick = env["BENCH_QUICK"] === "1";
  let write = false;
  let only: Set<Scenario> | undefined;
  let activity: boolean;
  const natsEnv = env["BENCH_NATS"] ?? "";
  if (natsEnv === "" || natsEnv === "1") activity = true;
  else if (natsEnv === "0") activity = false;
  else throw new UsageError(`BENCH_NATS must be 1 (activity on, the default) or 0 (off), got ${JSON.stringify(natsEnv)}`);
  let profile = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--quick") quick = true;
    else if (arg === "--write") write = true;
    else if (arg === "--no-activity") activity = false;
    else if (arg === "--profile") profile = true;
    else if (arg === "--only" || arg?.startsWith("--only=") === true) {
      const list = arg === "--only" ? argv[++i] : arg.slice("--only=".length);
      if (list === undefined) throw new UsageError("--only needs a list, e.g. --only latency,ttfb");
      only = new Set();
      for (const name of list
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "")) {
        if (!(SCENARIOS as readonly string[]).includes(name)) throw new UsageError(`unknown scenario ${JSON.stringify(name)}; known: ${SCENARIOS.join(", ")}`);
        only.add(name as Scenario);
      }
    } else if (arg === "--help" || arg === "-h") {
      throw new HelpRequested(USAGE);
    } else throw new UsageError(`unknown argument ${JSON.stringify(arg)} (try --help)`);
  }
  if (profile && (only !== undefined || write)) throw new UsageError("--profile runs the profile alone: it takes no --only or --write");
  const peersEnv = (env["BENCH_PEERS"] ?? "").trim();
  const named =
    peersEnv === "" || peersEnv === "none"
      ? []
      : peersEnv
          .split(",")
          .map((s) => s.trim())
          .filter((s) => s !== "");
  for (const peer of named) {
    if (!(KNOWN_PEERS as readonly string[]).includes(peer)) throw new UsageError(`unknown peer ${JSON.stringify(peer)} in BENCH_PEERS; known: ${KNOWN_PEERS.join(", ")}, or "none"`);
  }
  const installed = context.peerInstalled ?? ((): boolean => false);
  const peers = peersEnv === "" ? KNOWN_PEERS.filter((p) => installed(p)) : named;
  const pick = (full: number, small: number): number => (quick ? small : full);
  const soakMs = num(env, "BENCH_SOAK_MS", pick(300_000, 0));
  return {
    quick,
    write: write || (!quick && only === undefined && !profile),
    only: profile ? new Set() : (only ?? new Set(SCENARIOS)),
    calls: num(env, "BENCH_CALLS", pick(1000, 50)),
    warmup: num(env, "BENCH_WARMUP", pick(200, 20)),
    connections: num(env, "BENCH_CONNECTIONS", 50),
    loadMs: num(env, "BENCH_LOAD_MS", pick(10_000, 2000)),
    loadWarmupMs: pick(1000, 300),
    loadRounds: pick(5, 2),
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
    activity,
    peers: new Set(peers),
    installPeers: named.length > 0,
    profile,
  };
}
