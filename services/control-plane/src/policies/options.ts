import { ConfigError } from "@luthien/runtime";

/** A ConfigError that names the field at `path` (e.g. `policies[1].with.replacements[0]`). */
export function optionError(path: string, problem: string): ConfigError {
  return new ConfigError(`${path}: ${problem}`);
}

/**
 * Reads a policy's `with:` block: absent means `{}`; anything but a mapping, or a key not in `known`, is an error.
 */
export function readOptions(options: unknown, path: string, known: readonly string[]): Record<string, unknown> {
  if (options === undefined || options === null) return {};
  if (typeof options !== "object" || Array.isArray(options)) throw optionError(path, "expected a mapping of options");
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw optionError(`${path}.${key}`, `unknown option${known.length > 0 ? ` (known: ${known.join(", ")})` : ""}`);
    }
  }
  return options as Record<string, unknown>;
}
