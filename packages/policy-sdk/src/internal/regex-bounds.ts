/** What a streaming matcher needs to know about a pattern before it has seen the text. */
export interface RegexBounds {
  /** The longest text a match can span, look-aheads included, in UTF-16 units; `Infinity` when unbounded. */
  maxLength: number;
  /** Literal text every match starts with ("" when none is known), lower-cased when the pattern ignores case. */
  prefix: string;
}

/**
 * Reads a pattern's source to bound its matches. Conservative: anything it does not understand (back-references,
 * `\q{...}` in `v` classes) counts as unbounded, and the prefix stops at the first atom that is not a plain literal.
 */
export function regexBounds(re: RegExp): RegexBounds {
  const src = re.source;
  const unicode = re.flags.includes("u") || re.flags.includes("v");
  // With `u`/`v` one atom may match a whole astral code point: two UTF-16 units.
  const unit = unicode ? 2 : 1;
  let i = 0;
  let prefix = "";
  let prefixOpen = true;

  const quantifierMax = (): number | undefined => {
    const c = src[i];
    let max: number | undefined;
    if (c === "*" || c === "+") {
      max = Infinity;
      i++;
    } else if (c === "?") {
      max = 1;
      i++;
    } else if (c === "{") {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(src.slice(i));
      if (m === null) return undefined;
      max = m[2] === undefined ? Number(m[1]) : m[3] === "" ? Infinity : Number(m[3]);
      i += m[0].length;
    }
    if (max !== undefined && src[i] === "?") i++;
    return max;
  };

  /** One atom: its longest match and, when it is one literal character, that character. */
  const atom = (depth: number): { max: number; literal: string | undefined } => {
    const c = src[i] as string;
    if (c === "\\") {
      const e = src[i + 1] ?? "";
      i += 2;
      if (e === "b" || e === "B") return { max: 0, literal: "" };
      if (/[1-9]/.test(e)) {
        while (/\d/.test(src[i] ?? "")) i++;
        return { max: Infinity, literal: undefined };
      }
      if (e === "k" && src[i] === "<") {
        i = src.indexOf(">", i) + 1;
        return { max: Infinity, literal: undefined };
      }
      if (e === "u") {
        if (src[i] === "{") i = src.indexOf("}", i) + 1;
        else i += 4;
        return { max: 2, literal: undefined };
      }
      if (e === "x") {
        i += 2;
        return { max: 1, literal: undefined };
      }
      if (e === "c") {
        i += 1;
        return { max: 1, literal: undefined };
      }
      if ((e === "p" || e === "P") && src[i] === "{") {
        i = src.indexOf("}", i) + 1;
        return { max: unit, literal: undefined };
      }
      // An escaped punctuation character is itself; letters and digits are classes or controls.
      return { max: unit, literal: /[A-Za-z0-9]/.test(e) ? undefined : e };
    }
    if (c === "[") {
      let nested = 0;
      let unbounded = false;
      i++;
      for (; i < src.length; i++) {
        const d = src[i];
        if (d === "\\") {
          if (src[i + 1] === "q") unbounded = true;
          i++;
        } else if (d === "[") nested++;
        else if (d === "]") {
          if (nested === 0) break;
          nested--;
        }
      }
      i++;
      return { max: unbounded ? Infinity : unit, literal: undefined };
    }
    if (c === "(") {
      i++;
      let lookbehind = false;
      if (src[i] === "?") {
        const kind = src.slice(i, i + 3);
        if (kind.startsWith("?<=") || kind.startsWith("?<!")) {
          lookbehind = true;
          i += 3;
        } else if (kind.startsWith("?<")) {
          i = src.indexOf(">", i) + 1;
        } else {
          // (?: (?= (?! and modifier groups (?i: ... ) all end their header at ":" or after "=" / "!".
          const end = /^\?[a-z-]*[:=!]/.exec(src.slice(i));
          i += end === null ? 1 : end[0].length;
        }
      }
      const inner = alternation(depth + 1);
      i++; // ")"
      // A look-behind reads text before the match, which the matcher keeps as context; it adds no length.
      return { max: lookbehind ? 0 : inner, literal: undefined };
    }
    i++;
    if (c === ".") return { max: unit, literal: undefined };
    if (c === "^" || c === "$") return { max: 0, literal: "" };
    return { max: 1, literal: c };
  };

  const alternation = (depth: number): number => {
    let best = 0;
    let current = 0;
    while (i < src.length && src[i] !== ")") {
      if (src[i] === "|") {
        if (depth === 0) {
          prefix = "";
          prefixOpen = false;
        }
        best = Math.max(best, current);
        current = 0;
        i++;
        continue;
      }
      const a = atom(depth);
      const q = quantifierMax();
      if (depth === 0 && prefixOpen) {
        // Zero-width assertions (^, \b) neither add to nor end the prefix.
        if (a.literal === "" && q === undefined) {
          /* keep going */
        } else if (a.literal !== undefined && a.literal !== "" && q === undefined) prefix += a.literal;
        else prefixOpen = false;
      }
      current += q === undefined ? a.max : q === 0 || a.max === 0 ? 0 : a.max * q;
    }
    return Math.max(best, current);
  };

  const maxLength = alternation(0);
  return { maxLength, prefix: re.flags.includes("i") ? prefix.toLowerCase() : prefix };
}
