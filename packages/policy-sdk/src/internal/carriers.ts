/**
 * The vocabulary the per-format text walkers share (`openai-text.ts`, `anthropic-text.ts`, `responses-request.ts`,
 * `responses-text.ts`): one carrier of text, where it sits, who wrote it, and what a policy may do with it.
 */

/** Who wrote a piece of text (the `role` of `RequestText`). */
export type TextRole = "system" | "user" | "assistant" | "tool";

/**
 * What may be done with a carrier:
 * - `write`: text a text policy rewrites (message text, tool results, refusals, unsigned reasoning, transcripts);
 * - `read`: only read — what a call did or will do (arguments, commands, code), names, descriptions, schemas, URLs;
 *   rewriting it would change a call or break a reference;
 * - `signed`: covered by a signature (Anthropic thinking): a changed block breaks the next turn, so it is never
 *   rewritten (a text policy may refuse the call instead);
 * - `logprobs`: token lists that spell text; never rewritten, only dropped whole.
 */
export type CarrierAccess = "write" | "read" | "signed" | "logprobs";

/** One text carrier. */
export interface Carrier {
  /** A path into the body, e.g. `messages[2].content[1].text`, `choices[0].message.refusal`. */
  where: string;
  role: TextRole;
  text: string;
  access: CarrierAccess;
}

/**
 * Sees one carrier and returns its new text. Walkers use the answer for `write` carriers; for `logprobs`, an answer
 * other than the text drops the token list; `read` and `signed` answers are ignored.
 */
export type VisitCarrier = (carrier: Carrier) => string;

/** What walkers call per carrier: the text to keep (the visitor's for `write`, else the original). */
export type Walk = (text: string, where: string, role: TextRole, access?: CarrierAccess) => string;

/** A walk over one body: `walk` for each carrier; `changed()` says whether any `write` or `logprobs` answer differed. */
export function startWalk(visit: VisitCarrier): { walk: Walk; dropped: (text: string, where: string, role: TextRole) => boolean; changed: () => boolean } {
  let changed = false;
  const walk: Walk = (text, where, role, access = "write") => {
    const next = visit({ where, role, text, access });
    if (access !== "write" || next === text) return text;
    changed = true;
    return next;
  };
  /** A logprobs carrier: true when the visitor would change its text, so the walker drops the token list. */
  const dropped = (text: string, where: string, role: TextRole): boolean => {
    const drop = visit({ where, role, text, access: "logprobs" }) !== text;
    if (drop) changed = true;
    return drop;
  };
  return { walk, dropped, changed: () => changed };
}

/** A value as the text a policy reads (tool inputs, schemas): JSON, or the string itself. */
export function asText(value: unknown): string {
  return typeof value === "string" ? value : (JSON.stringify(value) ?? "");
}

/** The author of a message by its role, in every format (OpenAI `developer` and Responses `developer` are system text). */
export function textRole(role: "system" | "developer" | "user" | "assistant" | "tool" | "function"): TextRole {
  switch (role) {
    case "system":
    case "developer":
      return "system";
    case "user":
      return "user";
    case "assistant":
      return "assistant";
    case "tool":
    case "function":
      return "tool";
    default: {
      const unknown: never = role;
      return unknown;
    }
  }
}
