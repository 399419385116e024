import { lookup } from "node:dns/promises";
import type { Logger } from "@luthien/runtime";
import { PolicyUnavailableError } from "../errors";
import { createPolicyEngine, type EngineHealth, type PolicyCall, type PolicyEngine, type PolicyEngineOptions, type RequestOutcome } from "./policy-engine";
import type { EnginePoolConfig, EngineSelector, FailureMode, Routing } from "../upstream/routing";

/** One pool's way to open a call on whichever of its replicas should take it. */
export interface EnginePool {
  readonly name: string;
  readonly failureMode: FailureMode;
  /**
   * Opens a call on the serving replica with the fewest calls in flight. If that replica's connection fails before
   * it answers the request, the call moves to the next replica (at most once per replica): nothing was decided yet.
   */
  open(callId: string): PolicyCall;
}

/** How many of a pool's replicas there are, and how many serve. No addresses: `/ready`, which shows it, is public. */
export interface PoolStatus {
  serving: number;
  replicas: number;
}

export interface EnginePools {
  /** The pool that decides this call (GATEWAY_CONFIG `engineRoutes`, else `default`). */
  select(call: EngineSelector): EnginePool;
  /** Every pool's replica counts, for `/ready`. */
  status(): Record<string, PoolStatus>;
  /**
   * True when every pool has at least one SERVING replica. Replicas not heard from yet (just started or added) get
   * up to `waitMs` to report first.
   */
  ready(waitMs?: number): Promise<boolean>;
  close(): void;
}

export interface EnginePoolsOptions extends Omit<PolicyEngineOptions, "address"> {
  routing: Routing;
  logger: Logger;
}

/** How often `dns:///` targets are resolved again. */
const DNS_REFRESH_MS = 5000;

interface Replica {
  address: string;
  engine: PolicyEngine;
  health: EngineHealth | "UNKNOWN";
  active: number;
  /** Settles when the health watch first reports. */
  reported: Promise<void>;
  stopWatch(): void;
}

/**
 * The gateway's policy engines: one pool per GATEWAY_CONFIG `engines` entry (pool `default` from POLICY_ENGINE_URL
 * otherwise). Each replica's health is watched over grpc.health.v1; new calls go to SERVING replicas (least calls in
 * flight, ties in turn), then to replicas not heard from yet, never to NOT_SERVING ones.
 */
export function createEnginePools(options: EnginePoolsOptions): EnginePools {
  const pools = new Map<string, ReturnType<typeof createPool>>();
  for (const config of options.routing.engines.values()) pools.set(config.name, createPool(config, options));
  const status = (): Record<string, PoolStatus> =>
    Object.fromEntries(
      [...pools].map(([name, pool]) => {
        const rs = pool.replicas();
        return [name, { serving: rs.filter((r) => r.health === "SERVING").length, replicas: rs.length }];
      }),
    );
  return {
    select(call) {
      return pools.get(options.routing.resolveEngine(call).name) as EnginePool;
    },
    status,
    async ready(waitMs = 1000) {
      const all = [...pools.values()].flatMap((p) => p.replicas());
      const pending = all.filter((r) => r.health === "UNKNOWN").map((r) => r.reported);
      if (pending.length > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([Promise.all(pending), new Promise((r) => (timer = setTimeout(r, waitMs)))]);
        clearTimeout(timer);
      }
      return Object.values(status()).every((p) => p.serving > 0);
    },
    close() {
      for (const p of pools.values()) p.close();
    },
  };
}

function createPool(config: EnginePoolConfig, options: EnginePoolsOptions): EnginePool & { replicas(): Replica[]; close(): void } {
  const { logger } = options;
  const replicas = new Map<string, Replica>();
  let turn = 0;

  const add = (address: string): void => {
    if (replicas.has(address)) return;
    const engine = createPolicyEngine({ ...options, address });
    let reported = (): void => undefined;
    const replica: Replica = { address, engine, health: "UNKNOWN", active: 0, reported: new Promise((r) => (reported = r)), stopWatch: () => undefined };
    replica.stopWatch = engine.watchHealth((health) => {
      reported();
      if (health === replica.health) return;
      logger.info("policy engine health", { pool: config.name, address, from: replica.health, to: health });
      replica.health = health;
    });
    replicas.set(address, replica);
  };
  const remove = (address: string): void => {
    const r = replicas.get(address);
    if (r === undefined) return;
    replicas.delete(address);
    r.stopWatch();
    r.engine.close();
  };

  const timers: NodeJS.Timeout[] = [];
  for (const target of config.targets) {
    if (!target.startsWith("dns:///")) {
      add(target);
      continue;
    }
    // A headless Service: one replica per address the name resolves to, kept up to date.
    const [host, port] = splitHostPort(target.slice("dns:///".length));
    const owned = new Set<string>();
    const resolve = async (): Promise<void> => {
      try {
        const found = new Set((await lookup(host, { all: true })).map((a) => (a.family === 6 ? `[${a.address}]:${port}` : `${a.address}:${port}`)));
        for (const a of found) {
          if (owned.has(a)) continue;
          owned.add(a);
          add(a);
        }
        for (const a of owned) {
          if (found.has(a)) continue;
          owned.delete(a);
          remove(a);
        }
      } catch (err) {
        // Keep the replicas already known: a DNS hiccup is not a reason to stop deciding calls.
        logger.warn("policy engine DNS lookup failed", { pool: config.name, target, error: (err as Error).message });
      }
    };
    void resolve();
    const t = setInterval(() => void resolve(), DNS_REFRESH_MS);
    t.unref();
    timers.push(t);
  }

  /** SERVING first (least in flight, ties in turn), then replicas whose health is not known yet or lost. */
  const pick = (exclude: ReadonlySet<Replica>): Replica | undefined => {
    const open = [...replicas.values()].filter((r) => !exclude.has(r) && r.health !== "NOT_SERVING");
    const serving = open.filter((r) => r.health === "SERVING");
    const candidates = serving.length > 0 ? serving : open;
    if (candidates.length === 0) return undefined;
    const least = Math.min(...candidates.map((r) => r.active));
    const tied = candidates.filter((r) => r.active === least);
    return tied[turn++ % tied.length];
  };

  return {
    name: config.name,
    failureMode: config.failureMode,
    replicas: () => [...replicas.values()],
    close() {
      for (const t of timers) clearInterval(t);
      for (const a of [...replicas.keys()]) remove(a);
    },
    open: (callId) => openWithFailover(callId, config.name, pick, logger),
  };
}

/**
 * A call that starts on one replica and moves to another if the first cannot be reached before answering the
 * request. After the request verdict it stays where it is: the engine holds the call's state from then on.
 */
function openWithFailover(callId: string, pool: string, pick: (exclude: ReadonlySet<Replica>) => Replica | undefined, logger: Logger): PolicyCall {
  const tried = new Set<Replica>();
  let current: { replica: Replica; call: PolicyCall } | undefined;
  let closed: "done" | "cancel" | undefined;

  const release = (): void => {
    if (current === undefined) return;
    current.replica.active -= 1;
  };
  const attach = (): PolicyCall => {
    const replica = pick(tried);
    if (replica === undefined) {
      throw new PolicyUnavailableError("unavailable", `no replica of policy engine pool ${JSON.stringify(pool)} is serving`);
    }
    tried.add(replica);
    release();
    replica.active += 1;
    current = { replica, call: replica.engine.open(callId) };
    return current.call;
  };
  const live = (): PolicyCall => {
    if (current === undefined) throw new PolicyUnavailableError("closed", "call closed before it was started");
    return current.call;
  };

  return {
    async askRequest(start) {
      const decide = async (): Promise<RequestOutcome> => {
        for (;;) {
          const call = attach();
          try {
            return await (await call.askRequest(start)).result;
          } catch (err) {
            // Only a connection that failed (not a deadline, a refusal or a verdict) is worth another replica.
            if (!(err instanceof PolicyUnavailableError && err.reason === "unavailable") || closed !== undefined) throw err;
            call.close("cancel");
            if (pick(tried) === undefined) throw err;
            logger.warn("policy engine replica failed before answering; trying another", { callId, pool, address: current?.replica.address, error: err.message });
          }
        }
      };
      const result = decide();
      result.catch(() => undefined);
      return { result };
    },
    askResponse: (json) => live().askResponse(json),
    askChunk: (event) => live().askChunk(event),
    askFinish: () => live().askFinish(),
    observe: (message) => current?.call.observe(message),
    upstreamError: (status, type, message) => current?.call.upstreamError(status, type, message),
    close(how) {
      if (closed !== undefined) return;
      closed = how;
      current?.call.close(how);
      release();
      current = undefined;
    },
  };
}

function splitHostPort(hostPort: string): [string, string] {
  const at = hostPort.lastIndexOf(":");
  return [hostPort.slice(0, at).replace(/^\[|\]$/g, ""), hostPort.slice(at + 1)];
}
