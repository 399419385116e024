import { regexBounds } from "./internal/regex-bounds";
import type { TextStreamTransformer } from "./text-policy";

/** The hold-back for a pattern whose matches have no length bound and no `maxLength`. */
export const DEFAULT_MAX_MATCH_LENGTH = 256;

// Released text kept in front of the buffer so that `\b` and look-behinds at the start of a match see the
// character before it, as they would in the whole text.
const CONTEXT_CHARS = 32;

export interface RegexRule {
  /** The pattern. Its flags are kept (`i`, `m`, `s`, `u`, `v`); `g` and `y` are added or dropped as needed. */
  pattern: RegExp;
  /**
   * What replaces a match: a string (with `$&`, `$1`, `$<name>` as in `String.prototype.replace`) or a function.
   */
  replacement: string | ((match: RegExpExecArray) => string);
  /**
   * The longest text a match can span (look-aheads included). Text that could still be part of a match is held
   * back at most this long; a match longer than this may be missed when it arrives in pieces.
   * @default the pattern's own bound when it has one (`\d{3}-\d{4}` → 8), else {@link DEFAULT_MAX_MATCH_LENGTH}
   */
  maxLength?: number;
  /**
   * Literal texts every match starts with. With them, only text from one of them on is held back (a start split
   * across pieces included); without them, the last `maxLength` characters always are.
   * @default the pattern's literal prefix, when it has one
   */
  starts?: readonly string[];
  /**
   * Matches (from a start to the end of the text seen so far) text that could still grow into a match, so that a
   * start which can no longer match is released at once instead of after `maxLength` characters. Needs `starts`.
   */
  partial?: RegExp;
  /**
   * A match followed by at least one more character is final: later text cannot make it longer or move it (true
   * for patterns that end in a character class run, a literal, `\b` or a lazy quantifier; false for `a.*b`).
   * Takes effect with `starts`; without them the `maxLength` horizon decides.
   * @default false
   */
  settlesWhenFollowed?: boolean;
}

export interface RegexReplacerOptions {
  /** The rules. Where matches overlap, the one starting first wins; at the same position, the earlier rule. */
  rules: readonly RegexRule[];
  /** Called once per match, in text order. */
  onMatch?(rule: number, match: RegExpExecArray): void;
  /** After the first match, drop the rest of the text (its replacement is the last thing released). @default false */
  stopAfterFirst?: boolean;
}

interface CompiledRule {
  rank: number;
  global: RegExp;
  sticky: RegExp;
  maxLength: number;
  starts: readonly string[] | undefined;
  fold: boolean;
  partial: RegExp | undefined;
  settles: boolean;
  replacement: RegexRule["replacement"];
}

/**
 * A streaming regex replace: every match is replaced exactly as in the whole text, however the text is split,
 * as long as matches are no longer than their rule's `maxLength`. Text is held back only while it could still be
 * (the start of) a match; everything before it is released at once.
 *
 * @throws Error when a rule's `maxLength` is not a positive integer
 */
export function createRegexReplacer(options: RegexReplacerOptions): TextStreamTransformer {
  const rules = options.rules.map((r, rank) => compile(r, rank));
  // `buf` = up to CONTEXT_CHARS of released text, then the held text from `held` on.
  let buf = "";
  let held = 0;
  let stopped = false;

  const isFinal = (r: CompiledRule, m: RegExpExecArray, end: boolean): boolean => end || (r.settles && m.index + m[0].length < buf.length) || m.index + r.maxLength < buf.length;

  /** The first position ≥ `from` where `r` may still match once more text arrives (Infinity if none). */
  const pendingFrom = (r: CompiledRule, from: number): number => {
    const len = buf.length;
    if (r.starts === undefined) return Math.max(from, len - r.maxLength);
    const hay = r.fold ? buf.toLowerCase() : buf;
    // Lower-casing changed some lengths: positions in `hay` are not positions in `buf`; fall back to the horizon.
    if (hay.length !== len) return Math.max(from, len - r.maxLength);
    let first = Infinity;
    for (const s of r.starts) {
      for (let q = hay.indexOf(s, from); q !== -1 && q < first; q = hay.indexOf(s, q + 1)) {
        if (q + r.maxLength < len) continue;
        r.sticky.lastIndex = q;
        const m = r.sticky.exec(buf);
        if (m !== null && m[0] !== "" && isFinal(r, m, false)) continue;
        if (m === null && r.partial !== undefined) {
          r.partial.lastIndex = q;
          if (r.partial.exec(buf) === null) continue;
        }
        first = q;
        break;
      }
      // The text ends with the beginning of a start: it may complete with the next piece.
      for (let k = Math.min(s.length - 1, len - from); k >= 1; k--) {
        if (hay.endsWith(s.slice(0, k))) {
          first = Math.min(first, len - k);
          break;
        }
      }
    }
    return first;
  };

  const scan = (end: boolean): string => {
    let out = "";
    let pos = held;
    while (!stopped) {
      let best: { r: CompiledRule; m: RegExpExecArray } | undefined;
      for (const r of rules) {
        r.global.lastIndex = pos;
        let m = r.global.exec(buf);
        // An empty match replaces nothing; look for a real one after it.
        while (m !== null && m[0] === "") {
          r.global.lastIndex = m.index + 1;
          m = r.global.exec(buf);
        }
        if (m !== null && (best === undefined || m.index < best.m.index)) best = { r, m };
      }
      // The earliest position where some rule may still match, and whether a rule may yet win over `best`.
      let pending = Infinity;
      let contested = false;
      if (!end) {
        for (const r of rules) {
          const q = pendingFrom(r, pos);
          pending = Math.min(pending, q);
          if (best !== undefined && (q < best.m.index || (q === best.m.index && r.rank < best.r.rank))) contested = true;
        }
      }
      if (best !== undefined && !contested && isFinal(best.r, best.m, end)) {
        const { r, m } = best;
        out += buf.slice(pos, m.index) + replace(r, m);
        options.onMatch?.(r.rank, m);
        pos = m.index + m[0].length;
        if (options.stopAfterFirst === true) stopped = true;
        continue;
      }
      let stop = Math.min(buf.length, pending);
      if (best !== undefined) stop = Math.min(stop, best.m.index);
      out += buf.slice(pos, stop);
      pos = stop;
      break;
    }
    if (stopped || end) {
      buf = "";
      held = 0;
    } else {
      const keep = Math.max(0, pos - CONTEXT_CHARS);
      buf = buf.slice(keep);
      held = pos - keep;
    }
    return out;
  };

  return {
    push(text) {
      if (stopped) return "";
      buf += text;
      return scan(false);
    },
    end() {
      return stopped ? "" : scan(true);
    },
  };
}

function replace(r: CompiledRule, m: RegExpExecArray): string {
  if (typeof r.replacement === "function") return r.replacement(m);
  // Let String.prototype.replace expand $&, $1, $<name> against this one match.
  const one = new RegExp(r.sticky.source, r.sticky.flags.replace("y", ""));
  return m[0].replace(one, r.replacement);
}

function compile(rule: RegexRule, rank: number): CompiledRule {
  const flags = rule.pattern.flags.replace(/[gy]/g, "");
  const bounds = regexBounds(rule.pattern);
  const maxLength = rule.maxLength ?? (Number.isFinite(bounds.maxLength) ? bounds.maxLength : DEFAULT_MAX_MATCH_LENGTH);
  if (!Number.isSafeInteger(maxLength) || maxLength < 1) throw new Error(`maxLength must be a positive integer, got ${maxLength}`);
  const fold = flags.includes("i");
  const starts = rule.starts?.map((s) => (fold ? s.toLowerCase() : s)) ?? (bounds.prefix !== "" ? [bounds.prefix] : undefined);
  const usable = starts !== undefined && starts.every((s) => s !== "") ? starts : undefined;
  return {
    rank,
    global: new RegExp(rule.pattern.source, flags + "g"),
    sticky: new RegExp(rule.pattern.source, flags + "y"),
    // One more character: `\b`, `$` and look-aheads at a match's end depend on the character after it.
    maxLength: maxLength + 1,
    starts: usable,
    fold,
    partial: rule.partial === undefined ? undefined : new RegExp(`(?:${rule.partial.source})$`, rule.partial.flags.replace(/[gym]/g, "") + "y"),
    settles: rule.settlesWhenFollowed ?? false,
    replacement: rule.replacement,
  };
}
