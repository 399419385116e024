import { SECRET_DETECTORS } from "@luthien/events";
import { createRegexReplacer, createTextPolicy, type AnyPolicy, type TextScope } from "@luthien/policy-sdk";
import { readApplyTo, readOptions } from "./options";

/**
 * The secrets recognised, first match wins at one position: one table in `@luthien/events`, which the monitor also
 * applies to the originals it stores, so what this policy keeps off the wire is not kept at rest either.
 */
export const SECRET_KINDS = SECRET_DETECTORS;

/**
 * Replaces secrets in text with `[REDACTED:<kind>]`: provider keys (`sk-ant-…` anthropic_key, `sk-…` openai_key),
 * AWS access key ids (`AKIA…`/`ASIA…` aws_access_key), GitHub tokens (`ghp_…`, `gho_…`, `github_pat_…`
 * github_token), PEM private key blocks (private_key) and JWTs (jwt).
 *
 * Every text carrier of every format is read (the SDK's walkers: `requestText` / `responseText` list them) —
 * message text and tool results in requests; in responses the assistant's text, refusals, provider reasoning
 * (`reasoning_content`), audio transcripts, citations (`cited_text`), web search and fetch results, code execution
 * output; logprobs that spell a secret are dropped. What is only read there (tool-call arguments, names, URLs) is
 * not rewritten: tool calls are a tool-call policy's business.
 *
 * Anthropic thinking is signed (a modified block makes the API refuse the next turn, which breaks a Claude Code
 * session), and a `redacted_thinking` block cannot be forged, so thinking that contains a secret is neither
 * rewritten nor dropped: the call fails (`signed: "fail"`), and the streamed thinking is held back from a
 * possible secret's start on, so the secret itself never reaches the client.
 *
 * Streaming: a secret split across chunks is still redacted. Only text that could still become a secret is held
 * back — from a possible start (`sk-`, `AKIA`, `-----BEGIN`, `eyJ`, ...) for as long as what follows still fits —
 * so ordinary text streams without delay. Bounds: keys 512 characters, JWTs 8 KiB, private key blocks 16 KiB.
 *
 * Options: `applyTo` `request`|`response`|`both` (default `both`: secrets neither reach the provider nor the client).
 * Events: `redacted {side, kinds: {<kind>: count}}` per text that had secrets.
 */
export function createSecretRedactionPolicy(options: unknown, path: string): AnyPolicy {
  const o = readOptions(options, path, ["applyTo"]);
  const applyTo = readApplyTo(o, path, "both");
  return createTextPolicy({
    name: "secret-redaction",
    applyTo,
    action: null,
    signed: "fail",
    createTransformer: (scope: TextScope) => {
      const kinds: Record<string, number> = {};
      const inner = createRegexReplacer({
        rules: SECRET_KINDS.map(({ kind, rule }) => ({ ...rule, replacement: `[REDACTED:${kind}]` })),
        onMatch: (rule) => {
          const kind = SECRET_KINDS[rule]?.kind ?? "secret";
          kinds[kind] = (kinds[kind] ?? 0) + 1;
        },
      });
      return {
        push: (text) => inner.push(text),
        end() {
          const rest = inner.end();
          if (Object.keys(kinds).length > 0) scope.ctx.emit("redacted", { side: scope.side, kinds: { ...kinds } });
          for (const k of Object.keys(kinds)) delete kinds[k];
          return rest;
        },
      };
    },
  });
}
