import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

/** The parts of a V8 `.cpuprofile` (what `node --cpu-prof` writes) that self time needs. */
export interface CpuProfile {
  /** µs on the monotonic clock (`process.hrtime` of any process on Linux). */
  startTime: number;
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number } }[];
  /** The node on top of the stack at each sample. */
  samples: number[];
  /** µs since the previous sample, one per sample. */
  timeDeltas: number[];
}

/** Self time of one function or one module. */
export interface SelfTime {
  /** The function's name (or "(anonymous)"), or the module's. */
  name: string;
  /** Module and `file:line` of a function; empty for a module row. */
  where: string;
  selfMs: number;
  /** Share of the busy time (everything but `(idle)`), 0–1. */
  share: number;
}

/** What a profile says: where the busy time went, by function and by module. */
export interface ProfileSummary {
  /** Whether only the samples inside the window given were counted (false: no window, or none fell inside it). */
  windowed: boolean;
  totalMs: number;
  /** Time the event loop waited (`(idle)` samples). */
  idleMs: number;
  busyMs: number;
  functions: SelfTime[];
  modules: SelfTime[];
}

/** V8's pseudo-frames: they have no url and stand for what they say. */
const PSEUDO = new Set(["(idle)", "(program)", "(garbage collector)", "(root)"]);

/**
 * The module a frame belongs to: the npm package of a `node_modules` path (`express`, `@grpc/grpc-js`), the file of
 * our own code relative to the checkout (`services/gateway/dist/app.js`), `node:` plus the first two path segments
 * of a Node internal (`node:internal/streams`), a V8 pseudo-frame as itself, or `(native)` for a frame without url.
 */
export function moduleOf(url: string, functionName: string, repoRoot: string): string {
  if (url === "") return PSEUDO.has(functionName) ? functionName : "(native)";
  if (url.startsWith("node:")) return "node:" + url.slice("node:".length).split("/").slice(0, 2).join("/");
  let file = url;
  if (url.startsWith("file://")) {
    try {
      file = fileURLToPath(url);
    } catch {
      return url;
    }
  }
  const marker = `${path.sep}node_modules${path.sep}`;
  const nm = file.lastIndexOf(marker);
  if (nm >= 0) {
    const parts = file.slice(nm + marker.length).split(path.sep);
    return parts[0]?.startsWith("@") === true ? `${parts[0]}/${parts[1] ?? ""}` : (parts[0] ?? file);
  }
  const rel = path.relative(repoRoot, file);
  return rel.startsWith("..") || path.isAbsolute(rel) ? file : rel;
}

/** A stretch of time on the monotonic clock, µs (`process.hrtime.bigint() / 1000n`). */
export interface TimeWindow {
  fromUs: number;
  toUs: number;
}

/** The monotonic clock in µs, as V8 stamps profiles. */
export const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

/**
 * Self time per function (name + location) and per module ({@link moduleOf}), from each sample's time delta (more
 * exact than hit counts × interval), sorted by self time. With `window`, only the samples taken inside it count
 * (the load, not the process's start-up); when none do, all count and `windowed` says so.
 */
export function summarizeProfile(profile: CpuProfile, repoRoot: string, window?: TimeWindow): ProfileSummary {
  if (window !== undefined) {
    let t = profile.startTime;
    const inside = profile.samples.map((_, i) => {
      t += profile.timeDeltas[i] ?? 0;
      return t >= window.fromUs && t <= window.toUs;
    });
    if (inside.some((x) => x)) {
      const kept = { ...profile, samples: profile.samples.filter((_, i) => inside[i]), timeDeltas: profile.timeDeltas.filter((_, i) => inside[i]) };
      return { ...summarize(kept, repoRoot), windowed: true };
    }
  }
  return { ...summarize(profile, repoRoot), windowed: false };
}

function summarize(profile: CpuProfile, repoRoot: string): Omit<ProfileSummary, "windowed"> {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const byFunction = new Map<string, { name: string; where: string; us: number }>();
  const byModule = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  profile.samples.forEach((id, i) => {
    // The first delta is from the profile's start to the first sample: it belongs to that sample like the others.
    const us = profile.timeDeltas[i] ?? 0;
    const frame = nodes.get(id)?.callFrame;
    if (frame === undefined) return;
    totalUs += us;
    if (frame.functionName === "(idle)") {
      idleUs += us;
      return;
    }
    const module = moduleOf(frame.url, frame.functionName, repoRoot);
    const name = frame.functionName === "" ? "(anonymous)" : frame.functionName;
    // Our files are their own module; a package's or Node's file is named after the module.
    const file = path.basename(frame.url);
    const where = frame.url === "" ? module : module.endsWith(file) ? `${module}:${frame.lineNumber + 1}` : `${module} ${file}:${frame.lineNumber + 1}`;
    const key = `${name}\u0000${where}`;
    const f = byFunction.get(key) ?? { name, where, us: 0 };
    f.us += us;
    byFunction.set(key, f);
    byModule.set(module, (byModule.get(module) ?? 0) + us);
  });
  const busyUs = totalUs - idleUs;
  const share = (us: number): number => (busyUs > 0 ? us / busyUs : NaN);
  return {
    totalMs: totalUs / 1000,
    idleMs: idleUs / 1000,
    busyMs: busyUs / 1000,
    functions: [...byFunction.values()].sort((a, b) => b.us - a.us).map((f) => ({ name: f.name, where: f.where, selfMs: f.us / 1000, share: share(f.us) })),
    modules: [...byModule].sort((a, b) => b[1] - a[1]).map(([name, us]) => ({ name, where: "", selfMs: us / 1000, share: share(us) })),
  };
}

/**
 * The `.cpuprofile` files `node --cpu-prof --cpu-prof-dir=<dir>` left in `dir`, newest last.
 * @returns absolute paths
 */
export function profilesIn(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".cpuprofile"))
    .sort()
    .map((f) => path.join(dir, f));
}

/** Reads a `.cpuprofile` file. */
export function readProfile(file: string): CpuProfile {
  return JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
}
