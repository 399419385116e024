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

/** `applyTo`: which side of a call a text policy works on. @default `fallback` */
export function readApplyTo(o: Record<string, unknown>, path: string, fallback: "request" | "response" | "both"): "request" | "response" | "both" {
  const v = o["applyTo"] ?? fallback;
  if (v !== "request" && v !== "response" && v !== "both") throw optionError(`${path}.applyTo`, "expected request, response or both");
  return v;
}

/** A required (unless `fallback` is given) non-empty string option. */
export function readString(o: Record<string, unknown>, path: string, key: string, fallback?: string): string {
  const v = o[key] ?? fallback;
  if (typeof v !== "string" || v === "") throw optionError(`${path}.${key}`, v === undefined ? "required: expected a string" : "expected a non-empty string");
  return v;
}

/** An optional non-empty string option. */
export function readOptionalString(o: Record<string, unknown>, path: string, key: string): string | undefined {
  return o[key] === undefined ? undefined : readString(o, path, key);
}

/** A list of non-empty strings; `undefined` when absent and no fallback. */
export function readStringList(o: Record<string, unknown>, path: string, key: string, options: { required: boolean }): string[] | undefined {
  const v = o[key];
  if (v === undefined) {
    if (options.required) throw optionError(`${path}.${key}`, "required: expected a non-empty list of strings");
    return undefined;
  }
  if (!Array.isArray(v) || v.length === 0) throw optionError(`${path}.${key}`, "expected a non-empty list of strings");
  return v.map((s: unknown, i) => {
    if (typeof s !== "string" || s === "") throw optionError(`${path}.${key}[${i}]`, "expected a non-empty string");
    return s;
  });
}

/** A number in [min, max] (integers only with `integer`). */
export function readNumber(o: Record<string, unknown>, path: string, key: string, range: { min: number; max?: number; integer?: boolean; fallback?: number }): number {
  const v = o[key] ?? range.fallback;
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  const ok = typeof v === "number" && Number.isFinite(v) && v >= range.min && v <= max && (range.integer !== true || Number.isSafeInteger(v));
  if (!ok) {
    const kind = range.integer === true ? "an integer" : "a number";
    const bounds = range.max === undefined ? `≥ ${range.min}` : `from ${range.min} to ${range.max}`;
    throw optionError(`${path}.${key}`, `${v === undefined ? "required: " : ""}expected ${kind} ${bounds}`);
  }
  return v;
}

/** One of `choices`. */
export function readChoice<T extends string>(o: Record<string, unknown>, path: string, key: string, choices: readonly T[], fallback?: T): T {
  const v = o[key] ?? fallback;
  if (typeof v !== "string" || !(choices as readonly string[]).includes(v)) {
    throw optionError(`${path}.${key}`, `${v === undefined ? "required: " : ""}expected ${choices.join(" or ")}`);
  }
  return v as T;
}

/** A configured pattern; `maxLength` bounds how much streamed text is held back for it. */
export interface PatternOption {
  re: RegExp;
  maxLength: number | undefined;
}

/**
 * A list of regular expressions: each a pattern string (no flags) or `{ pattern, flags, maxLength }`.
 * @throws ConfigError naming the entry that is not a valid regular expression, or one that matches empty text
 */
export function readPatterns(o: Record<string, unknown>, path: string, key: string, options: { required: boolean }): PatternOption[] | undefined {
  const v = o[key];
  if (v === undefined) {
    if (options.required) throw optionError(`${path}.${key}`, "required: expected a non-empty list of regular expressions");
    return undefined;
  }
  if (!Array.isArray(v) || v.length === 0) throw optionError(`${path}.${key}`, "expected a non-empty list of regular expressions");
  return v.map((entry: unknown, i) => {
    const at = `${path}.${key}[${i}]`;
    let source: unknown = entry;
    let flags: unknown = "";
    let maxLength: number | undefined;
    if (typeof entry === "object" && entry !== null && !Array.isArray(entry)) {
      const e = readOptions(entry, at, ["pattern", "flags", "maxLength"]);
      source = e["pattern"];
      flags = e["flags"] ?? "";
      if (e["maxLength"] !== undefined) maxLength = readNumber(e, at, "maxLength", { min: 1, integer: true });
    }
    if (typeof source !== "string" || source === "") throw optionError(at, "expected a pattern string or { pattern, flags, maxLength }");
    if (typeof flags !== "string" || /[gy]/.test(flags)) throw optionError(`${at}.flags`, "expected regex flags (any of i, m, s, u; g and y are implied)");
    let re: RegExp;
    try {
      re = new RegExp(source, flags);
    } catch (err) {
      throw optionError(at, `not a valid regular expression: ${(err as Error).message}`);
    }
    if (re.test("")) throw optionError(at, "matches empty text; a pattern must match at least one character");
    return { re, maxLength };
  });
}

/** `onMatch`-style options: what a gate does with a call its rule flags. @default "block" */
export function readFlagAction(o: Record<string, unknown>, path: string, key: string): "block" | "ask" {
  const v = o[key] ?? "block";
  if (v !== "block" && v !== "ask") throw optionError(`${path}.${key}`, "expected block or ask (hold the call for a person's approval)");
  return v;
}
