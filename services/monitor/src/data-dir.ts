import { existsSync } from "node:fs";
import * as path from "node:path";

/** `MONITOR_DATA_DIR` unless set: embedded PGlite's data, under the checkout root. */
export const DEFAULT_DATA_DIR = path.join(".luthien", "monitor-db");

/**
 * The checkout (workspace) the running code belongs to: the nearest directory at or above `from` that holds
 * `pnpm-workspace.yaml`; undefined when there is none (the code was copied out of its workspace).
 */
export function checkoutRoot(from: string = __dirname): string | undefined {
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, "pnpm-workspace.yaml"))) return dir;
    if (path.dirname(dir) === dir) return undefined;
  }
}

/**
 * The PGlite data directory for a `MONITOR_DATA_DIR` value: absolute as given; relative (the default
 * {@link DEFAULT_DATA_DIR} included) against the checkout root, not the working directory — so `pnpm start` (run
 * from the root) and `pnpm --filter @luthien/monitor start` (run from `services/monitor`) open the same database.
 * Outside a checkout, against the working directory.
 */
export function resolveDataDir(value: string | undefined, root: string | undefined = checkoutRoot()): string {
  const v = value === undefined || value === "" ? DEFAULT_DATA_DIR : value;
  return path.resolve(root ?? process.cwd(), v);
}
