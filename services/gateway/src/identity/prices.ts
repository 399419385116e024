import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { ConfigError, createGlobMatcher } from "@luthien/runtime";
import type { TokenUsage } from "@luthien/wire";

/** USD per million tokens of one model (glob); cache prices default to the input price. */
export interface ModelPrice {
  model: string;
  input: number;
  output: number;
  cacheRead?: number;
  cacheWrite?: number;
}

/**
 * List prices (USD per million tokens) of current OpenAI and Anthropic models, as published by the providers at the
 * time of writing. Dated model ids match their family's glob. Operators put their own (negotiated prices, other
 * models) in PRICES_FILE, which are looked up first.
 */
export const DEFAULT_PRICES: readonly ModelPrice[] = [
  { model: "gpt-5-nano*", input: 0.05, output: 0.4, cacheRead: 0.005 },
  { model: "gpt-5-mini*", input: 0.25, output: 2, cacheRead: 0.025 },
  { model: "gpt-5*", input: 1.25, output: 10, cacheRead: 0.125 },
  { model: "gpt-4.1-nano*", input: 0.1, output: 0.4, cacheRead: 0.025 },
  { model: "gpt-4.1-mini*", input: 0.4, output: 1.6, cacheRead: 0.1 },
  { model: "gpt-4.1*", input: 2, output: 8, cacheRead: 0.5 },
  { model: "gpt-4o-mini*", input: 0.15, output: 0.6, cacheRead: 0.075 },
  { model: "gpt-4o*", input: 2.5, output: 10, cacheRead: 1.25 },
  { model: "o4-mini*", input: 1.1, output: 4.4, cacheRead: 0.275 },
  { model: "o3-mini*", input: 1.1, output: 4.4, cacheRead: 0.55 },
  { model: "o3*", input: 2, output: 8, cacheRead: 0.5 },
  { model: "o1*", input: 15, output: 60, cacheRead: 7.5 },
  { model: "claude-opus-4-5*", input: 5, output: 25, cacheRead: 0.5, cacheWrite: 6.25 },
  { model: "claude-*opus*", input: 15, output: 75, cacheRead: 1.5, cacheWrite: 18.75 },
  { model: "claude-*sonnet*", input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75 },
  { model: "claude-haiku-4*", input: 1, output: 5, cacheRead: 0.1, cacheWrite: 1.25 },
  { model: "claude-3-5-haiku*", input: 0.8, output: 4, cacheRead: 0.08, cacheWrite: 1 },
  { model: "claude-*haiku*", input: 0.8, output: 4, cacheRead: 0.08, cacheWrite: 1 },
];

/** The price table: first matching glob wins. */
export interface PriceTable {
  /** The call's cost in USD, or undefined when its model has no price. */
  cost(model: string, usage: TokenUsage): number | undefined;
  has(model: string): boolean;
}

export function createPriceTable(prices: readonly ModelPrice[]): PriceTable {
  const table = prices.map((p) => ({ price: p, matches: createGlobMatcher(p.model) }));
  const find = (model: string): ModelPrice | undefined => table.find((t) => t.matches(model))?.price;
  return {
    has: (model) => find(model) !== undefined,
    cost(model, usage) {
      const p = find(model);
      if (p === undefined) return undefined;
      const read = usage.cacheReadTokens ?? 0;
      const write = usage.cacheWriteTokens ?? 0;
      const fresh = Math.max(0, usage.inputTokens - read - write);
      const micro = fresh * p.input + read * (p.cacheRead ?? p.input) + write * (p.cacheWrite ?? p.input) + usage.outputTokens * p.output;
      return micro / 1_000_000;
    },
  };
}

/**
 * PRICES_FILE (YAML: `prices: [{model, input, output, cacheRead?, cacheWrite?}]`, USD per million tokens) in front of
 * {@link DEFAULT_PRICES}.
 * @throws ConfigError naming the bad entry
 */
export function readPrices(env: Record<string, string | undefined> = process.env): PriceTable {
  const file = env["PRICES_FILE"];
  if (file === undefined || file === "") return createPriceTable(DEFAULT_PRICES);
  let doc: unknown;
  try {
    doc = parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new ConfigError(`PRICES_FILE ${file}: ${(err as Error).message}`);
  }
  const list = (doc as { prices?: unknown } | null)?.prices;
  if (!Array.isArray(list)) throw new ConfigError(`PRICES_FILE ${file}: expected a top-level "prices" list`);
  const own = list.map((e, i): ModelPrice => {
    const at = `PRICES_FILE prices[${i}]`;
    const o = (typeof e === "object" && e !== null ? e : {}) as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!["model", "input", "output", "cacheRead", "cacheWrite"].includes(k)) throw new ConfigError(`${at}: unknown field ${JSON.stringify(k)}`);
    if (typeof o["model"] !== "string" || o["model"] === "") throw new ConfigError(`${at}.model must be a model glob`);
    const price: ModelPrice = { model: o["model"], input: usd(o["input"], `${at}.input`), output: usd(o["output"], `${at}.output`) };
    if (o["cacheRead"] !== undefined) price.cacheRead = usd(o["cacheRead"], `${at}.cacheRead`);
    if (o["cacheWrite"] !== undefined) price.cacheWrite = usd(o["cacheWrite"], `${at}.cacheWrite`);
    return price;
  });
  return createPriceTable([...own, ...DEFAULT_PRICES]);
}

function usd(v: unknown, at: string): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new ConfigError(`${at} must be a price in USD per million tokens (a number ≥ 0)`);
  return v;
}
