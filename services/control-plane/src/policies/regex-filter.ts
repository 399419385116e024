import { createRegexReplacer, createTextPolicy, deny, requestText, type AnyPolicy, type TextScope, type TextStreamTransformer } from "@luthien/policy-sdk";
import { readApplyTo, readChoice, readOptionalString, readOptions, readPatterns, type PatternOption } from "./options";

/** The status and error type a request-side block answers with (Anthropic clients see `invalid_request_error`). */
export const POLICY_VIOLATION = { status: 400, type: "policy_violation" } as const;

const DEFAULT_NOTICE = "⛔ BLOCKED by regex-filter: the response matched a blocked pattern and was cut here.";

/**
 * Regular expressions over text, in either direction.
 *
 * Options: `patterns` (required; each a pattern string or `{pattern, flags, maxLength}`), `action` `block`|`redact`
 * (default `block`), `applyTo` `request`|`response`|`both` (default `both`), `replacement` (redact: the text
 * replacing each match, `$&`/`$1` expand, default `[REDACTED]`; block: the notice, default a BLOCKED line).
 *
 * - block, request side: a request with a match in any text carrier `requestText` yields is refused with 400
 *   `policy_violation` before the provider is called — what a text policy rewrites (system, user, assistant turns,
 *   tool results, documents, prediction) and what it only reads: earlier calls' arguments and inputs, thinking,
 *   message names, tool definitions (descriptions, schemas), in every format. Event
 *   `blocked {side: "request", pattern, where}`.
 * - block, response side: the text from the first match on is replaced by the notice (text before it has already
 *   streamed), in every text carrier (content, refusals, reasoning, transcripts, citations, server tool output).
 *   Event `blocked {side: "response", pattern}`.
 * - redact: every match is replaced, on the chosen sides. Event `redacted {side, count}` per text that changed.
 * - Anthropic thinking (signed: a rewritten block breaks the next turn) that matches fails the call instead, the
 *   match held back so it never reaches the client.
 *
 * Streaming: text that could still be part of a match is held back — from a literal prefix of the pattern on when
 * it has one, else the last N characters, N being the pattern's longest match (`\d{3}-\d{4}` → 8) or, for
 * unbounded patterns (`\S+`), the entry's `maxLength` (default 256): a longer match split across chunks may be
 * missed. A pattern with a literal start (`token=\S+`) holds text only from that start on.
 * Tool calls in a response are not text: use a tool-call policy for those.
 */
export function createRegexFilterPolicy(options: unknown, path: string): AnyPolicy {
  const o = readOptions(options, path, ["patterns", "action", "applyTo", "replacement"]);
  const patterns = readPatterns(o, path, "patterns", { required: true }) as PatternOption[];
  const action = readChoice(o, path, "action", ["block", "redact"] as const, "block");
  const applyTo = readApplyTo(o, path, "both");
  const replacement = readOptionalString(o, path, "replacement") ?? (action === "block" ? DEFAULT_NOTICE : "[REDACTED]");

  const transformer = (scope: TextScope): TextStreamTransformer => {
    let count = 0;
    const inner = createRegexReplacer({
      rules: patterns.map(({ re, maxLength }) => ({ pattern: re, replacement, ...(maxLength !== undefined ? { maxLength } : {}) })),
      stopAfterFirst: action === "block",
      onMatch(rule) {
        count++;
        if (action === "block") scope.ctx.emit("blocked", { side: scope.side, pattern: rule });
      },
    });
    return {
      push: (text) => inner.push(text),
      end() {
        const rest = inner.end();
        if (action === "redact" && count > 0) scope.ctx.emit("redacted", { side: scope.side, count });
        count = 0;
        return rest;
      },
    };
  };
  // Blocking a request refuses it whole (below); only redaction rewrites request text.
  const textSide = action === "block" ? (applyTo === "request" ? undefined : "response") : applyTo;
  const text = textSide === undefined ? undefined : createTextPolicy({ name: "regex-filter", applyTo: textSide, action: null, signed: "fail", createTransformer: transformer });

  return {
    name: "regex-filter",
    mode: text?.mode ?? "SKIP",
    ...(text !== undefined ? { createState: text.createState, onResponse: text.onResponse, onEvent: text.onEvent, onStreamEnd: text.onStreamEnd } : {}),
    onRequest(request, ctx) {
      if (action === "redact") return text?.onRequest?.(request, ctx) ?? request;
      if (applyTo === "response") return request;
      for (const { where, text: t } of requestText(request)) {
        const pattern = patterns.findIndex(({ re }) => re.test(t));
        if (pattern === -1) continue;
        ctx.emit("blocked", { side: "request", pattern, where });
        return deny({ ...POLICY_VIOLATION, message: `regex-filter: the request matched blocked pattern ${pattern} (at ${where})` });
      }
      return request;
    },
  };
}
