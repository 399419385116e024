import { readdirSync, readFileSync } from "node:fs";

/**
 * Resident set size of one process in MiB, from `VmRSS` in `/proc/<pid>/status` (Linux only).
 * @returns undefined when the process is gone or /proc is not there
 */
export function rssMb(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m === null ? undefined : Number(m[1]) / 1024;
  } catch {
    return undefined;
  }
}

/** Every live descendant of `pid` (children, grandchildren, ...), found by scanning the parent ids in /proc. */
export function descendants(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // The command name sits in parentheses and may itself contain spaces or ")": the fields start after the last one.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parentOf.set(Number(entry), ppid);
    } catch {
      // The process ended while we looked.
    }
  }
  const found: number[] = [];
  const frontier = [pid];
  while (frontier.length > 0) {
    const parent = frontier.pop();
    for (const [child, ppid] of parentOf) {
      if (ppid === parent) {
        found.push(child);
        frontier.push(child);
      }
    }
  }
  return found;
}

/** RSS of a process and all its descendants (a cluster's primary and workers), in MiB; 0 when all are gone. */
export function treeRssMb(pid: number): number {
  return [pid, ...descendants(pid)].reduce((sum, p) => sum + (rssMb(p) ?? 0), 0);
}

/** A running RSS sampler; see {@link sampleRss}. */
export interface RssSampler {
  /** Stops sampling; returns the highest RSS seen (MiB) and every sample. */
  stop(): { peakMb: number; samples: { atMs: number; mb: number }[] };
}

/**
 * Samples the summed RSS of `pids` (and their descendants, found once at the start) every `intervalMs`.
 * @param intervalMs @default 100
 */
export function sampleRss(pids: readonly number[], intervalMs = 100): RssSampler {
  const all = pids.flatMap((p) => [p, ...descendants(p)]);
  const t0 = performance.now();
  const samples: { atMs: number; mb: number }[] = [];
  const take = (): void => {
    samples.push({ atMs: performance.now() - t0, mb: all.reduce((s, p) => s + (rssMb(p) ?? 0), 0) });
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return { peakMb: Math.max(...samples.map((s) => s.mb)), samples };
    },
  };
}

/** This process's soft limit on open files (`Max open files` in /proc/self/limits); undefined when unknown. */
export function openFileLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync("/proc/self/limits", "utf8"));
    return m === null ? undefined : m[1] === "unlimited" ? Infinity : Number(m[1]);
  } catch {
    return undefined;
  }
}

/**
 * CPU time (user + system) a process has used so far, in ms, from `/proc/<pid>/stat` (clock ticks of 10 ms: read it
 * over many calls).
 * @returns undefined when the process is gone or /proc is not there
 */
export function cpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}
