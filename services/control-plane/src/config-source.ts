import { createHash } from "node:crypto";
import { readFileSync, watch, type FSWatcher } from "node:fs";
import * as path from "node:path";
import type { Logger } from "@luthien/runtime";
import { loadPolicyConfig, parsePolicyConfig, type PolicyConfig } from "./config";

export interface ConfigSource {
  /** The config new calls start with. */
  current(): PolicyConfig;
  /** Loads the file again; an invalid file leaves the current config in place. */
  reload(trigger: string): void;
  close(): void;
}

export interface ConfigSourceOptions {
  /** The POLICY_CONFIG file; undefined means the built-in default chain (noop), nothing to watch. */
  file: string | undefined;
  logger: Logger;
  /** Reports `policy.config.reloaded` and `policy.config.rejected`. */
  onEvent(type: "policy.config.reloaded" | "policy.config.rejected", data: Record<string, unknown>): void;
  /** Quiet time after a change before reloading: editors write files in several steps. @default 100 */
  debounceMs?: number;
}

/**
 * Holds the live policy config and reloads it when the file changes (watched through its directory, since editors
 * replace files by rename) or on `reload()` (SIGHUP). Calls in flight keep the config object they started with.
 * @throws ConfigError when the file is invalid at start
 */
export function createConfigSource(options: ConfigSourceOptions): ConfigSource {
  const { file, logger } = options;
  if (file === undefined) {
    const fixed = parsePolicyConfig("");
    return { current: () => fixed, reload: () => undefined, close: () => undefined };
  }
  const digest = (): string => {
    try {
      return createHash("sha256").update(readFileSync(file)).digest("hex");
    } catch {
      return "";
    }
  };
  let config = loadPolicyConfig(file);
  let loadedDigest = digest();

  const reload = (trigger: string): void => {
    const nextDigest = digest();
    // Watch events come in bursts and for files next to ours; only a change of content (or a signal) reloads.
    if (trigger === "file" && nextDigest === loadedDigest) return;
    try {
      config = loadPolicyConfig(file);
      loadedDigest = nextDigest;
      logger.info("policy config reloaded", { file, trigger, chains: [...config.chains.keys()].join(",") });
      options.onEvent("policy.config.reloaded", { file, trigger, chains: [...config.chains.keys()], configVersion: config.version });
    } catch (err) {
      loadedDigest = nextDigest;
      logger.warn("policy config rejected; keeping the previous one", { file, trigger, error: (err as Error).message });
      options.onEvent("policy.config.rejected", { file, trigger, error: (err as Error).message });
    }
  };

  let timer: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(path.dirname(path.resolve(file)), (_event, name) => {
      // A Kubernetes ConfigMap volume never touches the file itself (a link into `..data/`): the kubelet swaps the
      // `..data` link to a new directory, so that rename is a change of the file too.
      if (name !== null && name !== path.basename(file) && name !== "..data") return;
      clearTimeout(timer);
      timer = setTimeout(() => reload("file"), options.debounceMs ?? 100);
    });
  } catch (err) {
    logger.warn("cannot watch the policy config; reload with SIGHUP", { file, error: (err as Error).message });
  }
  return {
    current: () => config,
    reload,
    close() {
      clearTimeout(timer);
      watcher?.close();
    },
  };
}
