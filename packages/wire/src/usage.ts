/** Token counts of a whole response, whatever its format. */
export interface TokenUsage {
  /** Every prompt token, cached ones included (Anthropic's cache reads and writes are added to its `input_tokens`). */
  inputTokens: number;
  outputTokens: number;
  /** Prompt tokens read from the provider's cache (part of `inputTokens`), when reported. */
  cacheReadTokens?: number;
  /** Prompt tokens written to the provider's cache (part of `inputTokens`; Anthropic only), when reported. */
  cacheWriteTokens?: number;
}

/**
 * The token usage of a whole response in any of the three formats: Chat Completions (`prompt_tokens`,
 * `completion_tokens`, `prompt_tokens_details.cached_tokens`), the Responses API (`input_tokens`, `output_tokens`,
 * `input_tokens_details.cached_tokens`) and Anthropic Messages (`input_tokens` plus `cache_read_input_tokens` and
 * `cache_creation_input_tokens`, which it counts apart). Undefined when the response carries none.
 */
export function usageOf(body: unknown): TokenUsage | undefined {
  const u = (body as { usage?: Record<string, unknown> | null } | null | undefined)?.usage;
  if (u === undefined || u === null || typeof u !== "object") return undefined;
  const n = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) && v > 0 ? v : 0);
  const cached = (details: unknown): number => n((details as { cached_tokens?: unknown } | null | undefined)?.cached_tokens);
  const withCache = (usage: TokenUsage, read: number, write: number): TokenUsage => ({
    ...usage,
    ...(read > 0 ? { cacheReadTokens: read } : {}),
    ...(write > 0 ? { cacheWriteTokens: write } : {}),
  });
  if ("prompt_tokens" in u) return withCache({ inputTokens: n(u["prompt_tokens"]), outputTokens: n(u["completion_tokens"]) }, cached(u["prompt_tokens_details"]), 0);
  if ("input_tokens_details" in u) return withCache({ inputTokens: n(u["input_tokens"]), outputTokens: n(u["output_tokens"]) }, cached(u["input_tokens_details"]), 0);
  const read = n(u["cache_read_input_tokens"]);
  const write = n(u["cache_creation_input_tokens"]);
  return withCache({ inputTokens: n(u["input_tokens"]) + read + write, outputTokens: n(u["output_tokens"]) }, read, write);
}
