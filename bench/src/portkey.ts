import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import * as path from "node:path";
import { freePort } from "@luthien/testkit";
import { createTarget, type Target } from "./http-load";

/** The Portkey release measured, pinned so runs compare. */
export const PORTKEY_VERSION = "1.15.2";

/** A running Portkey gateway of the bench's own. */
export interface RunningPortkey {
  readonly version: string;
  readonly url: string;
  readonly process: ChildProcess;
  /** Portkey routing every call to `mockUrl` (an OpenAI-compatible base without `/v1`) as the `openai` provider. */
  targetFor(mockUrl: string): Target;
  stop(): Promise<void>;
}

/** Where Portkey is installed: `BENCH_CACHE_DIR`/portkey, or ~/.cache/luthien-bench/portkey. */
export function portkeyCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env["BENCH_CACHE_DIR"] ?? path.join(homedir(), ".cache", "luthien-bench"), "portkey");
}

const entryIn = (cacheDir: string): string => path.join(cacheDir, "node_modules", "@portkey-ai", "gateway", "build", "start-server.js");

/** Whether {@link PORTKEY_VERSION} is installed in `cacheDir` (its entry point there, its manifest at that version). */
export function portkeyInstalled(cacheDir: string = portkeyCacheDir()): boolean {
  const manifest = path.join(cacheDir, "node_modules", "@portkey-ai", "gateway", "package.json");
  try {
    return existsSync(entryIn(cacheDir)) && (JSON.parse(readFileSync(manifest, "utf8")) as { version?: string }).version === PORTKEY_VERSION;
  } catch {
    return false;
  }
}

/** Options of {@link startPortkey}. */
export interface PortkeyOptions {
  /** @default {@link portkeyCacheDir} */
  cacheDir?: string;
  /** npm-install it into `cacheDir` when it is not there; otherwise a missing install throws. @default true */
  install?: boolean;
}

/**
 * Starts Portkey on a free port, first installing `@portkey-ai/gateway` with npm into the cache dir (outside the
 * repo) when missing and allowed. `@hono/node-server` is pinned to 1.13.5 with npm `overrides`: later versions hand
 * Portkey a fetch Response with immutable headers, and every streaming call fails ("TypeError: immutable",
 * Portkey-AI/gateway#1389).
 * @throws with the reason (not installed, no network, npm failed, did not start) so the caller can go on without it
 */
export async function startPortkey(options: PortkeyOptions = {}): Promise<RunningPortkey> {
  const cacheDir = options.cacheDir ?? portkeyCacheDir();
  const entry = entryIn(cacheDir);
  if (!portkeyInstalled(cacheDir)) {
    if (options.install === false) throw new Error(`Portkey ${PORTKEY_VERSION} is not installed in ${cacheDir} (BENCH_PEERS=portkey installs it)`);
    mkdirSync(cacheDir, { recursive: true });
    writeFileSync(
      path.join(cacheDir, "package.json"),
      JSON.stringify({ name: "luthien-bench-peers", private: true, dependencies: { "@portkey-ai/gateway": PORTKEY_VERSION }, overrides: { "@hono/node-server": "1.13.5" } }, null, 2),
    );
    // Its postinstall (patch-package) ships no patches in the npm tarball, so scripts are not needed.
    const npm = spawnSync("npm", ["install", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"], { cwd: cacheDir, encoding: "utf8", timeout: 300_000 });
    if (npm.error !== undefined) throw new Error(`npm install failed: ${npm.error.message}`);
    if (npm.status !== 0) throw new Error(`npm install exited ${npm.status}: ${(npm.stderr || npm.stdout).trim().split("\n").slice(-3).join(" | ")}`);
    if (!existsSync(entry)) throw new Error(`npm install left no ${entry}`);
  }
  const port = await freePort();
  const child = spawn(process.execPath, [entry, `--port=${port}`, "--headless"], { cwd: cacheDir, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.setEncoding("utf8").on("data", (d: string) => (out = (out + d).slice(-4000)));
  child.stderr?.setEncoding("utf8").on("data", (d: string) => (out = (out + d).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const force = setTimeout(() => child.kill("SIGKILL"), 3000);
    await exited;
    clearTimeout(force);
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`portkey exited (code ${child.exitCode}): ${out.trim()}`);
    try {
      await fetch(url + "/");
      break;
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`portkey did not answer on ${url} within 20 s: ${out.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    version: PORTKEY_VERSION,
    url,
    process: child,
    targetFor: (mockUrl) => createTarget("portkey", url, { "x-portkey-provider": "openai", "x-portkey-custom-host": `${mockUrl}/v1`, authorization: "Bearer sk-mock" }),
    stop,
  };
}
