/** Thrown at start-up when configuration is missing or malformed; the message names the variable or field. */
export class ConfigError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConfigError";
  }
}

type Env = Record<string, string | undefined>;

/** A string variable; empty counts as unset. */
export function envString(name: string, fallback: string, env: Env = process.env): string {
  const v = env[name];
  return v === undefined || v === "" ? fallback : v;
}

/** A non-negative integer variable. @throws ConfigError when set but not an integer */
export function envInt(name: string, fallback: number, env: Env = process.env): number {
  const v = env[name];
  if (v === undefined || v === "") return fallback;
  if (!/^\d+$/.test(v.trim())) throw new ConfigError(`${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return Number(v.trim());
}

/** A comma-separated list; blanks are dropped. */
export function envList(name: string, env: Env = process.env): string[] {
  return (env[name] ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/** One of a fixed set of values. @throws ConfigError when set to anything else */
export function envEnum<T extends string>(name: string, values: readonly T[], fallback: T, env: Env = process.env): T {
  const v = env[name];
  if (v === undefined || v === "") return fallback;
  if (!(values as readonly string[]).includes(v)) {
    throw new ConfigError(`${name} must be one of ${values.join("|")}, got ${JSON.stringify(v)}`);
  }
  return v as T;
}
