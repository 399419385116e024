import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import * as os from "node:os";
import { REPO_ROOT } from "@luthien/testkit";

/** Where a run was taken: enough to tell whether two reports are comparable. */
export interface MachineInfo {
  cpu: string;
  cores: number;
  ramGb: number;
  node: string;
  os: string;
  date: string;
  /** HEAD, with `-dirty` when the working tree had changes; "unknown" outside a git checkout. */
  commit: string;
}

function git(args: string[]): string | undefined {
  try {
    return execFileSync("git", args, { cwd: REPO_ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return undefined;
  }
}

export function machineInfo(): MachineInfo {
  let cpu = os.cpus()[0]?.model ?? "unknown";
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1]?.trim() ?? cpu;
  } catch {
    // Not Linux: os.cpus() said it.
  }
  const head = git(["rev-parse", "--short=12", "HEAD"]);
  const dirty = (git(["status", "--porcelain", "--untracked-files=no"]) ?? "") !== "";
  return {
    cpu,
    cores: os.availableParallelism(),
    ramGb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    date: new Date().toISOString(),
    commit: head === undefined ? "unknown" : `${head}${dirty ? "-dirty" : ""}`,
  };
}
