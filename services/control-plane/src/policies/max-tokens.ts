import type { Policy, PolicyRequest } from "@luthien/policy-sdk";
import { readNumber, readOptions } from "./options";

/** Anthropic's smallest thinking budget: a budget below it is refused, so thinking is turned off instead. */
const MIN_THINKING_BUDGET = 1024;

/**
 * Clamps the request's output-token limit to `limit`, in every format: OpenAI `max_completion_tokens` and the older
 * `max_tokens` (when neither is set, `max_completion_tokens: limit` is added — no limit is more than `limit`);
 * Anthropic `max_tokens` (and, when that was lowered, an enabled thinking budget, which must stay below it: lowered to `limit - 1`, or
 * thinking turned off when that is under Anthropic's 1024 minimum); Responses `max_output_tokens` (added when absent,
 * like OpenAI's). Mode SKIP: the response is not looked at.
 *
 * Options: `limit` (a positive integer, required). Events: `clamped {field, from, to}` per changed field.
 */
export function createMaxTokensPolicy(options: unknown, path: string): Policy {
  const o = readOptions(options, path, ["limit"]);
  const limit = readNumber(o, path, "limit", { min: 1, integer: true });
  return {
    name: "max-tokens",
    mode: "SKIP",
    onRequest(request, ctx): PolicyRequest {
      const changes: { field: string; from: number | null; to: number | string }[] = [];
      const clamp = (field: string, value: unknown): number | undefined => {
        if (typeof value !== "number" || value <= limit) return undefined;
        changes.push({ field, from: value, to: limit });
        return limit;
      };
      let next: PolicyRequest;
      switch (request.format) {
        case "openai": {
          const body = { ...request.body };
          const mct = clamp("max_completion_tokens", body.max_completion_tokens);
          if (mct !== undefined) body.max_completion_tokens = mct;
          const mt = clamp("max_tokens", body.max_tokens);
          if (mt !== undefined) body.max_tokens = mt;
          if ((body.max_completion_tokens ?? null) === null && (body.max_tokens ?? null) === null) {
            body.max_completion_tokens = limit;
            changes.push({ field: "max_completion_tokens", from: null, to: limit });
          }
          next = { format: "openai", body };
          break;
        }
        case "anthropic": {
          const body = { ...request.body };
          const mt = clamp("max_tokens", body.max_tokens);
          if (mt !== undefined) body.max_tokens = mt;
          const thinking = body.thinking;
          // Only a budget this policy made too big is its business; a request that was already invalid stays as sent.
          if (mt !== undefined && thinking?.type === "enabled" && thinking.budget_tokens >= body.max_tokens) {
            const budget = body.max_tokens - 1;
            if (budget >= MIN_THINKING_BUDGET) {
              body.thinking = { ...thinking, budget_tokens: budget };
              changes.push({ field: "thinking.budget_tokens", from: thinking.budget_tokens, to: budget });
            } else {
              body.thinking = { type: "disabled" };
              changes.push({ field: "thinking", from: thinking.budget_tokens, to: "disabled" });
            }
          }
          next = { format: "anthropic", body };
          break;
        }
        case "responses": {
          const body = { ...request.body };
          const mot = clamp("max_output_tokens", body.max_output_tokens);
          if (mot !== undefined) body.max_output_tokens = mot;
          if ((body.max_output_tokens ?? null) === null) {
            body.max_output_tokens = limit;
            changes.push({ field: "max_output_tokens", from: null, to: limit });
          }
          next = { format: "responses", body };
          break;
        }
        default: {
          const unknown: never = request;
          throw new Error(`unknown request format ${JSON.stringify(unknown)}`);
        }
      }
      if (changes.length === 0) return request;
      for (const c of changes) ctx.emit("clamped", c);
      return next;
    },
  };
}
