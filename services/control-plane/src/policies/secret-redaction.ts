import { createRegexReplacer, createTextPolicy, type AnyPolicy, type RegexRule, type TextScope } from "@luthien/policy-sdk";
import { readApplyTo, readOptions } from "./options";

/** One kind of secret: how to find it, and how it can begin (so only text that may become one is held back). */
interface SecretKind {
  kind: string;
  rule: Omit<RegexRule, "replacement">;
}

/**
 * The secrets recognised, first match wins at one position. Key-like tokens end at the first character outside
 * their alphabet, so a match followed by any other character is final (`settlesWhenFollowed`); `\b` keeps words
 * that merely contain a prefix (`task-management-...`) out.
 */
export const SECRET_KINDS: readonly SecretKind[] = [
  {
    kind: "anthropic_key",
    rule: { pattern: /\bsk-ant-[A-Za-z0-9_-]{20,}/, starts: ["sk-ant-"], partial: /\bsk-ant-[A-Za-z0-9_-]*/, maxLength: 512, settlesWhenFollowed: true },
  },
  {
    kind: "openai_key",
    rule: { pattern: /\bsk-(?!ant-)[A-Za-z0-9_-]{20,}/, starts: ["sk-"], partial: /\bsk-[A-Za-z0-9_-]*/, maxLength: 512, settlesWhenFollowed: true },
  },
  {
    kind: "aws_access_key",
    rule: { pattern: /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/, starts: ["AKIA", "ASIA"], partial: /\bA[KS]IA[0-9A-Z]{0,16}/, settlesWhenFollowed: true },
  },
  {
    kind: "github_token",
    rule: {
      pattern: /\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b/,
      starts: ["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"],
      partial: /\b(?:gh[pousr]_[A-Za-z0-9]*|github_pat_[A-Za-z0-9_]*)/,
      settlesWhenFollowed: true,
    },
  },
  {
    kind: "private_key",
    rule: {
      pattern: /-----BEGIN[A-Z ]*PRIVATE KEY-----[\s\S]*?-----END[A-Z ]*PRIVATE KEY-----/,
      starts: ["-----BEGIN"],
      // Still inside the BEGIN line, or anywhere after it until the END line is complete.
      partial: /-----BEGIN[A-Z ]*(?:PRIVATE KEY-{0,4}|PRIVATE KEY-----[\s\S]*)?/,
      maxLength: 16384,
      settlesWhenFollowed: true,
    },
  },
  {
    kind: "jwt",
    rule: {
      pattern: /\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}/,
      starts: ["eyJ"],
      partial: /\beyJ[A-Za-z0-9_-]*(?:\.(?:e(?:y(?:J[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*)?)?)?)?)?/,
      maxLength: 8192,
      settlesWhenFollowed: true,
    },
  },
];

/**
 * Replaces secrets in text with `[REDACTED:<kind>]`: provider keys (`sk-ant-…` anthropic_key, `sk-…` openai_key),
 * AWS access key ids (`AKIA…`/`ASIA…` aws_access_key), GitHub tokens (`ghp_…`, `gho_…`, `github_pat_…`
 * github_token), PEM private key blocks (private_key) and JWTs (jwt).
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
