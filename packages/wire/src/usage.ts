/** Token counts of a whole response, whatever its format. */
export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
}

/**
 * The token usage of a whole response in any of the three formats: Chat Completions (`prompt_tokens`,
 * `completion_tokens`), Anthropic Messages and the Responses API (`input_tokens`, `output_tokens`). Undefined when
 * the response carries none.
 */
export function usageOf(body: unknown): TokenUsage | undefined {
  const u = (body as { usage?: Record<string, unknown> | null } | null | undefined)?.usage;
  if (u === undefined || u === null || typeof u !== "object") return undefined;
  const n = (v: unknown): number => (typeof v === "number" ? v : 0);
  if ("prompt_tokens" in u) return { inputTokens: n(u["prompt_tokens"]), outputTokens: n(u["completion_tokens"]) };
  return { inputTokens: n(u["input_tokens"]), outputTokens: n(u["output_tokens"]) };
}
