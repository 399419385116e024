/**
 * PostgreSQL refuses U+0000 in `text` and `jsonb`, and a lone UTF-16 surrogate cannot be encoded as UTF-8 at all
 * (node-postgres would silently turn it into U+FFFD). Prompts and model output contain both. Rather than lose the
 * event (or retry it for ever), such characters are written out as their escape text: U+0000 becomes the six
 * characters `\u0000`, a lone surrogate U+D83D becomes `\ud83d`. Keys are treated like values. Valid surrogate
 * pairs (emoji) are untouched.
 */

// A high surrogate not followed by a low one, or a low one not preceded by a high one.
const BAD_CHARS = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const HAS_BAD = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** `s` with U+0000 and lone surrogates replaced by their `\uXXXX` escape text (the same string when there are none). */
export function escapeString(s: string): string {
  if (!HAS_BAD.test(s)) return s;
  return s.replace(BAD_CHARS, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
}

/** A deep copy of a JSON value with every string and key passed through {@link escapeString}. */
export function escapeJson<T>(value: T): T {
  return walk(value) as T;
}

function walk(v: unknown): unknown {
  if (typeof v === "string") return escapeString(v);
  if (Array.isArray(v)) return v.map(walk);
  if (typeof v === "object" && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[escapeString(k)] = walk(x);
    return out;
  }
  return v;
}

// In raw JSON text a NUL or a lone surrogate appears either as itself or as a \u escape; a text without any of
// these needs no walk (the common case, and cheaper than walking every event).
const RAW_SUSPECT = /\\u0000|\\u[dD][89a-fA-F][0-9a-fA-F]{2}|[\u0000\ud800-\udfff]/;

/** Whether JSON text could hold something {@link escapeJson} would change. */
export function mayNeedEscaping(jsonText: string): boolean {
  return RAW_SUSPECT.test(jsonText);
}
