import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import type { Logger } from "@luthien/runtime";
import { waitFor } from "@luthien/testkit";
import { createConfigSource, type ConfigSource } from "../src";

const quiet: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined, notice: () => undefined };

/**
 * Lays files out the way the kubelet mounts a ConfigMap volume: the data in a timestamped directory, `..data` a
 * link to it, and each key a link through `..data`. `update` publishes new data the kubelet's way: a new directory,
 * a `..data_tmp` link renamed over `..data`, the old directory removed. The key's own link never changes.
 */
function configMapVolume(files: Record<string, string>): { dir: string; update(next: Record<string, string>): void } {
  const dir = mkdtempSync(path.join(tmpdir(), "luthien-configmap-"));
  let generation = 0;
  const writeGeneration = (data: Record<string, string>): string => {
    const name = `..2026_11_25_00_00_0${generation++}.000000001`;
    mkdirSync(path.join(dir, name));
    for (const [key, text] of Object.entries(data)) writeFileSync(path.join(dir, name, key), text);
    return name;
  };
  let current = writeGeneration(files);
  symlinkSync(current, path.join(dir, "..data"));
  for (const key of Object.keys(files)) symlinkSync(path.join("..data", key), path.join(dir, key));
  return {
    dir,
    update(next) {
      const previous = current;
      current = writeGeneration(next);
      symlinkSync(current, path.join(dir, "..data_tmp"));
      renameSync(path.join(dir, "..data_tmp"), path.join(dir, "..data"));
      rmSync(path.join(dir, previous), { recursive: true });
    },
  };
}

describe("policy config mounted from a Kubernetes ConfigMap", () => {
  let source: ConfigSource | undefined;
  afterEach(() => source?.close());

  it("reloads when the kubelet swaps the ConfigMap's data", async () => {
    const volume = configMapVolume({ "policies.yaml": "policies:\n  - use: noop\n" });
    const events: string[] = [];
    source = createConfigSource({
      file: path.join(volume.dir, "policies.yaml"),
      logger: quiet,
      onEvent: (type) => events.push(type),
      debounceMs: 20,
    });
    expect(source.current().policies.map((p) => p.name)).toEqual(["noop"]);

    volume.update({ "policies.yaml": "policies:\n  - use: all-caps\n" });
    await waitFor(() => events.includes("policy.config.reloaded"), { what: "a reload after the ConfigMap update" });
    expect(source.current().policies.map((p) => p.name)).toEqual(["all-caps"]);
  });

  it("keeps the running config when the new ConfigMap data is invalid", async () => {
    const volume = configMapVolume({ "policies.yaml": "policies:\n  - use: all-caps\n" });
    const events: string[] = [];
    source = createConfigSource({
      file: path.join(volume.dir, "policies.yaml"),
      logger: quiet,
      onEvent: (type) => events.push(type),
      debounceMs: 20,
    });
    volume.update({ "policies.yaml": "policies:\n  - use: no-such-policy\n" });
    await waitFor(() => events.includes("policy.config.rejected"), { what: "the invalid update to be rejected" });
    expect(source.current().policies.map((p) => p.name)).toEqual(["all-caps"]);
  });
});
