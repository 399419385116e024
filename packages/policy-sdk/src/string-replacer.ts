import type { TextStreamTransformer } from "./text-policy";

export interface StringReplacerOptions {
  /** `[from, to]` pairs. At one position the longest `from` wins. */
  replacements: ReadonlyArray<readonly [string, string]>;
  /**
   * Match regardless of case and give the replacement the match's capitalization: ALL CAPS, all lower, or Title
   * (first letter upper). Mixed case keeps the replacement as written.
   * @default false
   */
  matchCapitalization?: boolean;
}

/**
 * A streaming find-and-replace. It holds back only the tail that could still grow into a match, so a `from` split
 * across pieces is replaced exactly as in the whole text, and everything else is released at once.
 */
export function createStringReplacer(options: StringReplacerOptions): TextStreamTransformer {
  const fold = options.matchCapitalization === true;
  const rules = options.replacements
    .filter(([from]) => from !== "")
    .map(([from, to]) => ({ from: fold ? from.toLowerCase() : from, to }))
    .sort((a, b) => b.from.length - a.from.length);
  let held = "";

  const scan = (text: string, final: boolean): string => {
    const haystack = fold ? text.toLowerCase() : text;
    // toLowerCase can change the length of some characters; fall back to exact matching then.
    const folded = haystack.length === text.length ? haystack : text;
    let out = "";
    let i = 0;
    outer: while (i < text.length) {
      let couldGrow = false;
      for (const rule of rules) {
        // A longer rule that may still complete beats this shorter match: wait for more text.
        if (couldGrow) break;
        if (folded.startsWith(rule.from, i)) {
          const matched = text.slice(i, i + rule.from.length);
          out += fold ? matchCase(matched, rule.to) : rule.to;
          i += rule.from.length;
          continue outer;
        }
        if (!final && !couldGrow && text.length - i < rule.from.length && rule.from.startsWith(folded.slice(i))) {
          couldGrow = true;
        }
      }
      if (couldGrow) {
        held = text.slice(i);
        return out;
      }
      out += text[i];
      i++;
    }
    held = "";
    return out;
  };

  return {
    push: (text) => scan(held + text, false),
    end: () => scan(held, true),
  };
}

function matchCase(matched: string, replacement: string): string {
  const letters = matched.replace(/[^\p{L}]/gu, "");
  if (letters === "") return replacement;
  if (letters === letters.toUpperCase() && letters !== letters.toLowerCase()) return replacement.toUpperCase();
  if (letters === letters.toLowerCase()) return replacement.toLowerCase();
  const first = letters[0] ?? "";
  const rest = letters.slice(1);
  if (first === first.toUpperCase() && rest === rest.toLowerCase()) {
    return replacement.charAt(0).toUpperCase() + replacement.slice(1).toLowerCase();
  }
  return replacement;
}
