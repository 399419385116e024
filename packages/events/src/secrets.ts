/**
 * The secret detectors: one table of what counts as a secret, shared by the `secret-redaction` policy (which keeps
 * them off the wire, streaming) and the monitor (which keeps them out of what it stores). It lives here because
 * both already depend on this package and it depends on nothing of ours; the rules are plain data.
 */

/**
 * How to find one kind of secret. The fields beyond `pattern` serve streaming matchers (the policy SDK's
 * `createRegexReplacer` takes them as they are): where a match can begin, what could still grow into one, and
 * whether a match followed by another character is final.
 */
export interface SecretRule {
  /** A whole secret (no `g`/`y` flag, no capture groups needed). */
  pattern: RegExp;
  /** Literal texts every match starts with. */
  starts: readonly string[];
  /** Matches text from a start that could still become a secret. */
  partial: RegExp;
  /** The longest match, in characters, when the pattern itself has no bound. */
  maxLength?: number;
  /** A match followed by any other character cannot grow (the pattern ends in a character-class run or `\b`). */
  settlesWhenFollowed: boolean;
}

/** One kind of secret: its name in redaction markers and events (`anthropic_key`, ...) and its rule. */
export interface SecretDetector {
  kind: string;
  rule: SecretRule;
}

/**
 * The secrets recognised, first match wins at one position. Key-like tokens end at the first character outside
 * their alphabet, so a match followed by any other character is final (`settlesWhenFollowed`); `\b` keeps words
 * that merely contain a prefix (`task-management-...`) out.
 */
export const SECRET_DETECTORS: readonly SecretDetector[] = [
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
    // Luthien's own virtual gateway keys (packages/keys): `lk_`, the key id's 12 hex digits, 43 base64url characters.
    kind: "luthien_key",
    rule: { pattern: /\blk_[0-9a-f]{12}[A-Za-z0-9_-]{43}/, starts: ["lk_"], partial: /\blk_[0-9a-f]{0,12}[A-Za-z0-9_-]{0,43}/, settlesWhenFollowed: true },
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

/** What {@link redactSecrets} and {@link redactSecretsInJson} did. */
export interface SecretRedaction<T> {
  value: T;
  /** Secrets replaced, by kind; empty when there were none. */
  counts: Record<string, number>;
}

/** `[REDACTED:<kind>]`, the marker the `secret-redaction` policy writes. */
export const defaultSecretMarker = (kind: string): string => `[REDACTED:${kind}]`;

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

interface Compiled {
  kind: string;
  global: RegExp;
}

const compiled: readonly Compiled[] = SECRET_DETECTORS.map(({ kind, rule }) => ({
  kind,
  global: new RegExp(rule.pattern.source, rule.pattern.flags.replace(/[gy]/g, "") + "g"),
}));
// Every secret starts with one of these: text without any is returned untouched, cheaply.
const anyStart = new RegExp(
  SECRET_DETECTORS.flatMap((d) => d.rule.starts)
    .map(escapeRegExp)
    .join("|"),
);

/**
 * Replaces every secret in a whole text (not a stream), with the same rules and precedence as the
 * `secret-redaction` policy: where matches overlap, the one starting first wins; at the same position, the
 * earlier detector.
 * @param marker what replaces a secret of `kind` @default {@link defaultSecretMarker}
 */
export function redactSecrets(text: string, marker: (kind: string) => string = defaultSecretMarker): SecretRedaction<string> {
  const counts: Record<string, number> = {};
  if (!anyStart.test(text)) return { value: text, counts };
  let out = "";
  let pos = 0;
  for (;;) {
    let best: { index: number; length: number; kind: string } | undefined;
    for (const c of compiled) {
      c.global.lastIndex = pos;
      const m = c.global.exec(text);
      if (m !== null && (best === undefined || m.index < best.index)) best = { index: m.index, length: m[0].length, kind: c.kind };
    }
    if (best === undefined) break;
    out += text.slice(pos, best.index) + marker(best.kind);
    counts[best.kind] = (counts[best.kind] ?? 0) + 1;
    pos = best.index + Math.max(best.length, 1);
  }
  return { value: out + text.slice(pos), counts };
}

/**
 * {@link redactSecrets} on every string value of a JSON value (object keys are left as they are). Returns the
 * same value when it held no secret, a redacted copy otherwise.
 */
export function redactSecretsInJson<T>(value: T, marker: (kind: string) => string = defaultSecretMarker): SecretRedaction<T> {
  const counts: Record<string, number> = {};
  const visit = (v: unknown): unknown => {
    if (typeof v === "string") {
      const r = redactSecrets(v, marker);
      for (const [k, n] of Object.entries(r.counts)) counts[k] = (counts[k] ?? 0) + n;
      return r.value;
    }
    if (Array.isArray(v)) {
      let changed = false;
      const out = v.map((x) => {
        const y = visit(x);
        if (y !== x) changed = true;
        return y;
      });
      return changed ? out : v;
    }
    if (typeof v === "object" && v !== null) {
      let changed = false;
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        const y = visit(x);
        if (y !== x) changed = true;
        out[k] = y;
      }
      return changed ? out : v;
    }
    return v;
  };
  return { value: visit(value) as T, counts };
}
