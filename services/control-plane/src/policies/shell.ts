/**
 * Shell words as bash expands them, as far as that is known before running anything: brace expansion, tilde
 * expansion, quote removal (`'…'`, `"…"`, `$'…'`, backslashes), command substitutions whose output is known,
 * field splitting of those; what is known only at run time (a variable, an unknown command's output) stays an
 * `unknown` piece, so a check can fail closed on it. Parsing is in `shell-syntax.ts`.
 */
import type { Redirect, Stmt, Word, WordPart } from "./shell-syntax";

/** Stands for `$HOME` inside text that will be read again as a script (a here-document fed to a shell). */
export const HOME_MARK = "\uE0A0";

/**
 * What flows into a command's stdin or out of its stdout, as far as it is known: `text`; `paths` (paths found
 * under directories known not to be / or ~, i.e. `find`'s output); `terminal` (the tool's own stdin); `unknown`
 * (`download`: it comes from curl/wget).
 */
export type Flow = { kind: "text"; text: string } | { kind: "paths" } | { kind: "terminal" } | { kind: "unknown"; download: boolean };

export const UNKNOWN_FLOW: Flow = { kind: "unknown", download: false };

/**
 * A run of an expanded word. `text` is known characters (`quoted` ones never glob, split or start `~`;
 * `expanded` ones came from a substitution, so they are split on blanks unless quoted and never start `~`);
 * `home` is `~`, `~user`, `$HOME`; `unknown` is known only at run time (`splits`: unquoted, so it may become any
 * number of words, options included); `glob` an extended glob; `paths` one of {@link Flow} `paths`; `procsubst`
 * a `<(…)`/`>(…)` (a /dev/fd path to the command's output or input).
 */
export type Piece =
  | { kind: "text"; text: string; quoted: boolean; expanded: boolean }
  | { kind: "home"; user: string | undefined }
  | { kind: "unknown"; splits: boolean; download: boolean }
  | { kind: "glob" }
  | { kind: "paths" }
  | { kind: "procsubst"; op: "<(" | ">("; stmts: Stmt[] };

/** One word of a command after expansion. */
export interface Arg {
  pieces: Piece[];
}

/** How a word's command substitutions are evaluated (the checker knows what `echo`, `printf`, `cat <<EOF` print). */
export interface Expander {
  output(stmts: Stmt[]): Flow;
  /** Set when the script assigns IFS: then no splitting is predictable. */
  ifsChanged: boolean;
}

/** More words than this from brace expansion make the word unknown. */
const MAX_BRACE_WORDS = 256;

/** The words `word` expands to as a command argument (brace expansion and splitting included). */
export function expandWord(word: Word, ex: Expander): Arg[] {
  const out: Arg[] = [];
  const alternatives = expandBraces(word.parts);
  if (alternatives === undefined) return [{ pieces: [{ kind: "unknown", splits: true, download: false }] }];
  for (const parts of alternatives) {
    const pieces = tilde(parts.flatMap((p) => partPieces(p, false, ex)));
    for (const arg of splitFields(pieces, ex)) {
      // An unquoted expansion to nothing is no word at all; "" is one.
      if (arg.pieces.every((p) => p.kind === "text" && p.text === "" && !p.quoted)) continue;
      out.push(arg);
    }
  }
  return out;
}

/** `word` as one string where no splitting happens (assignment values, here-strings, redirect targets). */
export function expandSingle(word: Word, ex: Expander): Arg {
  const pieces = tilde(word.parts.flatMap((p) => partPieces(p, false, ex)));
  return { pieces: pieces.map((p) => (p.kind === "unknown" ? { ...p, splits: false } : p.kind === "text" && p.expanded ? { ...p, quoted: true } : p)) };
}

/** The text of `arg` when all of it is known (`home` excluded). */
export function argText(arg: Arg): string | undefined {
  let s = "";
  for (const p of arg.pieces) {
    if (p.kind !== "text") return undefined;
    s += p.text;
  }
  return s;
}

/** `arg` may become several words or none (an unquoted variable or substitution). */
export function isWild(arg: Arg): boolean {
  return arg.pieces.some((p) => p.kind === "unknown" && p.splits);
}

/** Some of `arg` is known only at run time. */
export function isUnknown(arg: Arg): boolean {
  return arg.pieces.some((p) => p.kind === "unknown");
}

/** Some of `arg` comes from curl/wget output. */
export function isDownload(arg: Arg): boolean {
  return arg.pieces.some((p) => p.kind === "unknown" && p.download);
}

/** An argument made of plain text (used when a checker builds argv itself, e.g. from `xargs` input). */
export function textArg(text: string): Arg {
  return { pieces: [{ kind: "text", text, quoted: true, expanded: false }] };
}

/** Brace expansion: the part lists a word becomes, or undefined if too many. */
function expandBraces(parts: WordPart[]): WordPart[][] | undefined {
  let alternatives: WordPart[][] = [[]];
  for (const part of parts) {
    let options: WordPart[][];
    if (part.type !== "brace") options = [[part]];
    else if (part.sequence) options = sequence(part.elems).map((s) => [{ type: "sgl", value: s, dollar: false }]);
    else {
      options = [];
      for (const elem of part.elems) {
        const inner = expandBraces(elem.parts);
        if (inner === undefined) return undefined;
        options.push(...inner);
      }
    }
    if (alternatives.length * options.length > MAX_BRACE_WORDS) return undefined;
    alternatives = alternatives.flatMap((a) => options.map((o) => [...a, ...o]));
  }
  return alternatives;
}

/** `{1..5}`, `{a..e}`, `{10..1..3}`; anything else stays as written. */
function sequence(elems: Word[]): string[] {
  const texts = elems.map((e) => (e.parts.length === 1 && e.parts[0]?.type === "lit" ? e.parts[0].value : undefined));
  const [from, to, step] = texts;
  const literal = [`{${texts.map((t) => t ?? "?").join("..")}}`];
  if (from === undefined || to === undefined) return literal;
  const inc = step === undefined ? 1 : Math.abs(Number.parseInt(step, 10)) || 1;
  const range = (a: number, b: number): number[] => {
    const out: number[] = [];
    for (let i = a; a <= b ? i <= b : i >= b; i += a <= b ? inc : -inc) {
      out.push(i);
      if (out.length > MAX_BRACE_WORDS) break;
    }
    return out;
  };
  if (/^-?\d+$/.test(from) && /^-?\d+$/.test(to)) return range(Number(from), Number(to)).map(String);
  if (/^[A-Za-z]$/.test(from) && /^[A-Za-z]$/.test(to)) return range(from.charCodeAt(0), to.charCodeAt(0)).map((c) => String.fromCharCode(c));
  return literal;
}

/** The pieces of one part; `quoted`: inside double quotes (or a context without splitting). */
function partPieces(part: WordPart, quoted: boolean, ex: Expander): Piece[] {
  switch (part.type) {
    case "lit":
      return quoted ? [{ kind: "text", text: part.value, quoted: true, expanded: false }] : unescapeUnquoted(part.value);
    case "sgl":
      return [{ kind: "text", text: part.dollar ? decodeAnsiC(part.value) : part.value, quoted: true, expanded: false }];
    case "dbl":
      return part.parts.flatMap((p) => (p.type === "lit" ? [{ kind: "text", text: unescapeDouble(p.value), quoted: true, expanded: false } as const] : partPieces(p, true, ex)));
    case "param":
      if (part.name === "HOME" && part.simple) return [{ kind: "home", user: undefined }];
      return [{ kind: "unknown", splits: !quoted || part.multi, download: false }];
    case "cmdsubst": {
      const out = ex.output(part.stmts);
      if (out.kind === "text") return [{ kind: "text", text: out.text.replace(/\n+$/, ""), quoted, expanded: true }];
      if (out.kind === "paths") return [{ kind: "paths" }];
      return [{ kind: "unknown", splits: !quoted, download: out.kind === "unknown" && out.download }];
    }
    case "procsubst":
      return [{ kind: "procsubst", op: part.op, stmts: part.stmts }];
    case "arith":
      return [{ kind: "unknown", splits: false, download: false }];
    case "extglob":
      return [{ kind: "glob" }];
    case "brace":
      // Only reached where braces do not expand (they were split out of a word that is not an argument).
      return [{ kind: "unknown", splits: !quoted, download: false }];
  }
}

/** Unquoted text as written: a backslash quotes the next character. */
function unescapeUnquoted(raw: string): Piece[] {
  const out: Piece[] = [];
  let plain = "";
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === "\\" && i + 1 < raw.length) {
      if (plain !== "") out.push({ kind: "text", text: plain, quoted: false, expanded: false });
      plain = "";
      out.push({ kind: "text", text: raw[i + 1] as string, quoted: true, expanded: false });
      i++;
    } else plain += raw[i];
  }
  if (plain !== "" || out.length === 0) out.push({ kind: "text", text: plain, quoted: false, expanded: false });
  return out;
}

/** Text inside double quotes: a backslash escapes only `$`, `` ` ``, `"`, `\` and a newline. */
export function unescapeDouble(raw: string): string {
  return raw.replace(/\\([$`"\\\n])/g, (_m, c: string) => (c === "\n" ? "" : c));
}

/** Tilde expansion: `~` or `~user` at the start of a word, written unquoted, up to the first `/`. */
function tilde(pieces: Piece[]): Piece[] {
  const first = pieces[0];
  if (first?.kind !== "text" || first.quoted || first.expanded || !first.text.startsWith("~")) return pieces;
  const slash = first.text.indexOf("/");
  const prefix = first.text.slice(1, slash === -1 ? undefined : slash);
  // The prefix must end the unquoted run (`~"root"` and `~$USER` are not expanded).
  const next = pieces[1];
  if (slash === -1 && next !== undefined && !(next.kind === "text" && !next.quoted && next.text.startsWith("/"))) return pieces;
  const rest: Piece[] = slash === -1 ? pieces.slice(1) : [{ ...first, text: first.text.slice(slash) }, ...pieces.slice(1)];
  if (prefix === "") return [{ kind: "home", user: undefined }, ...rest];
  if (prefix === "+" || prefix === "-" || /^[+-]?\d+$/.test(prefix)) return [{ kind: "unknown", splits: false, download: false }, ...rest];
  if (/^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$/.test(prefix)) return [{ kind: "home", user: prefix }, ...rest];
  return pieces;
}

/** Word splitting of unquoted substitution output on blanks (IFS's default). */
function splitFields(pieces: Piece[], ex: Expander): Arg[] {
  if (!pieces.some((p) => p.kind === "text" && p.expanded && !p.quoted)) return [{ pieces }];
  if (ex.ifsChanged) return [{ pieces: pieces.map((p) => (p.kind === "text" && p.expanded && !p.quoted ? { kind: "unknown", splits: true, download: false } : p)) }];
  const args: Arg[] = [];
  let current: Piece[] = [];
  for (const p of pieces) {
    if (p.kind !== "text" || !p.expanded || p.quoted) {
      current.push(p);
      continue;
    }
    const fields = p.text.split(/[ \t\n]+/);
    fields.forEach((f, i) => {
      if (i > 0) {
        if (current.length > 0) args.push({ pieces: current });
        current = [];
      }
      if (f !== "") current.push({ ...p, text: f });
    });
  }
  if (current.length > 0) args.push({ pieces: current });
  return args;
}

/** Decodes the escapes of `$'…'` (also `echo -e` and `printf`, with `echoStyle` for `\0nnn` and `\c`). */
export function decodeAnsiC(s: string, echoStyle = false): string {
  const simple: Record<string, string> = { a: "\x07", b: "\b", e: "\x1b", E: "\x1b", f: "\f", n: "\n", r: "\r", t: "\t", v: "\v", "\\": "\\", "'": "'", '"': '"', "?": "?" };
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (c !== "\\" || i + 1 >= s.length) {
      out += c;
      continue;
    }
    const n = s[i + 1] as string;
    const hex = (max: number, from: number): [string, number] => {
      const m = new RegExp(`^[0-9A-Fa-f]{1,${max}}`).exec(s.slice(from));
      return m === null ? ["", 0] : [m[0], m[0].length];
    };
    if (simple[n] !== undefined && !(echoStyle && (n === "'" || n === '"' || n === "?"))) {
      out += simple[n];
      i++;
    } else if (/[0-7]/.test(n) || (echoStyle && n === "0")) {
      const from = echoStyle && n === "0" ? i + 2 : i + 1;
      const m = /^[0-7]{1,3}/.exec(s.slice(from));
      out += String.fromCharCode(Number.parseInt(m?.[0] ?? "0", 8) & 0xff);
      i = from + (m?.[0].length ?? 0) - 1;
    } else if (n === "x" || n === "u" || n === "U") {
      const [digits, len] = hex(n === "x" ? 2 : n === "u" ? 4 : 8, i + 2);
      if (len === 0) out += `\\${n}`;
      else out += String.fromCodePoint(Math.min(Number.parseInt(digits, 16), 0x10ffff));
      i += 1 + len;
    } else if (n === "c" && !echoStyle && i + 2 < s.length) {
      out += String.fromCharCode((s.charCodeAt(i + 2) & 0x1f) >>> 0);
      i += 2;
    } else {
      out += `\\${n}`;
      i++;
    }
  }
  return out;
}

/** What `echo ARGS` prints (bash's builtin: `-n`, `-e`, `-E`; `\c` under -e stops the output). */
export function echoOutput(args: readonly string[]): string {
  let i = 0;
  let newline = true;
  let escapes = false;
  for (; i < args.length && /^-[neE]+$/.test(args[i] as string); i++) {
    for (const f of (args[i] as string).slice(1)) {
      if (f === "n") newline = false;
      else escapes = f === "e";
    }
  }
  let text = args.slice(i).join(" ");
  if (escapes) {
    const stop = text.indexOf("\\c");
    if (stop !== -1) return decodeAnsiC(text.slice(0, stop), true);
    text = decodeAnsiC(text, true);
  }
  return newline ? `${text}\n` : text;
}

/** What `printf FORMAT ARGS` prints, for `%s`, `%b`, `%c`, `%%` and escapes; undefined for anything else. */
export function printfOutput(args: readonly string[]): string | undefined {
  let rest = [...args];
  if (rest[0] === "--") rest = rest.slice(1);
  const [format, ...values] = rest;
  if (format === undefined || format.startsWith("-")) return undefined;
  let out = "";
  let used = 0;
  // The format is reused while arguments remain (and applied once when there are none).
  do {
    let consumed = false;
    for (let i = 0; i < format.length; i++) {
      const c = format[i] as string;
      if (c === "\\") {
        const m = /^\\(?:[0-7]{1,3}|x[0-9A-Fa-f]{1,2}|u[0-9A-Fa-f]{1,4}|U[0-9A-Fa-f]{1,8}|.)/s.exec(format.slice(i));
        const esc = m?.[0] ?? "\\";
        out += decodeAnsiC(esc);
        i += esc.length - 1;
      } else if (c === "%") {
        const conv = format[i + 1];
        i++;
        if (conv === "%") out += "%";
        else if (conv === "s" || conv === "b" || conv === "c") {
          const v = values[used++] ?? "";
          consumed = true;
          out += conv === "s" ? v : conv === "b" ? decodeAnsiC(v, true) : v.slice(0, 1);
        } else return undefined;
      } else out += c;
    }
    if (!consumed) break;
  } while (used < values.length);
  return out;
}

/** The text a here-document or here-string feeds to a command, when it is known. */
export function redirectInput(r: Redirect, ex: Expander): Flow | undefined {
  if (r.op === "<<<") {
    const text = flowText(expandSingle(r.word, ex));
    return text === undefined ? { kind: "unknown", download: isDownload(expandSingle(r.word, ex)) } : { kind: "text", text: `${text}\n` };
  }
  if ((r.op === "<<" || r.op === "<<-") && r.hdoc !== undefined) {
    // A quoted delimiter (`<<'EOF'`, `<<"EOF"`, `<<\EOF`) makes the body literal; otherwise it is expanded.
    const quoted = r.word.parts.some((p) => p.type !== "lit" || p.value.includes("\\"));
    if (quoted) return { kind: "text", text: r.hdoc.parts.map((p) => (p.type === "lit" ? p.value : "")).join("") };
    let text = "";
    for (const p of r.hdoc.parts) {
      if (p.type === "lit") text += p.value.replace(/\\([$`\\\n])/g, (_m, c: string) => (c === "\n" ? "" : c));
      else {
        const pieces = partPieces(p, true, ex);
        const t = flowText({ pieces });
        if (t === undefined) return { kind: "unknown", download: isDownload({ pieces }) };
        text += t;
      }
    }
    return { kind: "text", text };
  }
  if (r.op === "<" || r.op === "<>") {
    const target = argText(expandSingle(r.word, ex));
    return target === "/dev/null" ? { kind: "text", text: "" } : UNKNOWN_FLOW;
  }
  return undefined;
}

/** An argument as text to be read again as a script: `$HOME`, `~`, `~user` become {@link HOME_MARK}. */
export function flowText(arg: Arg): string | undefined {
  let s = "";
  for (const p of arg.pieces) {
    if (p.kind === "text") s += p.text;
    else if (p.kind === "home") s += HOME_MARK;
    else return undefined;
  }
  return s;
}

/**
 * Where a path argument points, for a destructive command: `root-or-home` when it is or may be `/`, a home
 * directory, a directory holding homes, or all that is in one of those (`/`, `//`, `/.`, `/tmp/..`, `/*`, `~`,
 * `~/`, `~/..`, `~root`, `$HOME`, `/home/*`, `/root`, `./../..` (some ancestor of the working directory), ...);
 * `unresolved` when it depends on something known only at run time; `elsewhere` otherwise.
 */
export type PathClass = "root-or-home" | "unresolved" | "elsewhere";

/** Directories that hold homes, as the first component under / (`/home/u`, `/Users/u`) or as one (`/root`). */
const HOME_PARENTS = new Set(["home", "Users"]);
const TOP_LEVEL_HOMES = new Set(["root", "home", "Users"]);

interface Component {
  name: string;
  glob: boolean;
  /** A pattern that may match `.` or `..` (it starts with a literal dot, `.*`, or is an extended glob). */
  mayBeDots: boolean;
}

/** Classifies a path argument (see {@link PathClass}); a glob counts as every name it could match. */
export function classifyPath(arg: Arg): PathClass {
  const pieces = [...arg.pieces];
  if (pieces.some((p) => p.kind === "paths" || p.kind === "procsubst")) return "elsewhere";
  if (pieces.some((p) => p.kind === "unknown")) return "unresolved";
  let base: "root" | "home" | "cwd" = "cwd";
  const head = pieces[0];
  if (head?.kind === "home") {
    base = "home";
    pieces.shift();
  } else if (head?.kind === "text" && head.text.startsWith(HOME_MARK)) {
    base = "home";
    pieces[0] = { ...head, text: head.text.slice(HOME_MARK.length) };
  }
  // Characters with their globbing; `\0` stands for an extended-glob part.
  const chars: { c: string; glob: boolean }[] = [];
  for (const p of pieces) {
    if (p.kind === "home") return "unresolved";
    if (p.kind === "glob") chars.push({ c: "\0", glob: true });
    else if (p.kind === "text") {
      if (p.text.includes(HOME_MARK)) return "unresolved";
      for (const c of p.text) chars.push({ c, glob: !p.quoted && (c === "*" || c === "?" || c === "[") });
    }
  }
  if (base === "cwd" && chars[0]?.c === "/") base = "root";
  const components: Component[] = [];
  let current: { c: string; glob: boolean }[] = [];
  const flush = (): void => {
    if (current.length > 0) {
      const name = current.map((x) => x.c).join("");
      const glob = current.some((x) => x.glob);
      components.push({ name, glob, mayBeDots: glob && (name.startsWith(".") || name.includes("\0")) });
    }
    current = [];
  };
  for (const ch of chars) {
    if (ch.c === "/") flush();
    else current.push(ch);
  }
  flush();
  // Each pattern that may match `.`/`..` is tried both ways; a path with many of them is not worth resolving.
  const uncertain = components.filter((c) => c.mayBeDots);
  if (uncertain.length > 4) return "root-or-home";
  for (let mask = 0; mask < 1 << uncertain.length; mask++) {
    const resolved = components.map((c) => {
      const i = uncertain.indexOf(c);
      return i !== -1 && (mask & (1 << i)) !== 0 ? { ...c, name: "..", glob: false } : c;
    });
    if (pointsHigh(base, resolved)) return "root-or-home";
  }
  return "elsewhere";
}

/** Whether a normalised path from `base` reaches /, a home, a holder of homes, or all that is in one. */
function pointsHigh(base: "root" | "home" | "cwd", components: readonly Component[]): boolean {
  const stack: Component[] = [];
  let ups = 0;
  for (const c of components) {
    if (!c.glob && c.name === ".") continue;
    if (!c.glob && c.name === "..") {
      if (stack.length > 0) stack.pop();
      else if (base !== "root") ups++;
      continue;
    }
    stack.push(c);
  }
  const [first, second] = stack;
  switch (base) {
    case "root":
      if (first === undefined) return true;
      if (stack.length === 1) return first.glob || TOP_LEVEL_HOMES.has(first.name);
      return stack.length === 2 && second !== undefined && (first.glob || HOME_PARENTS.has(first.name));
    case "home":
      // ~ itself or all in it; above it, any path no deeper than where it climbed (~/.. is /home, ~/../x a home).
      if (ups === 0) return first === undefined || (stack.length === 1 && first.glob);
      return stack.length <= ups || stack.slice(0, ups).some((c) => c.glob);
    case "cwd":
      // Above the working directory anything may be ~ or /: an ancestor, a name no deeper than the climb
      // (../../x may be /home/x), a pattern, or a path into a holder of homes (../../home/u). A name beside
      // the working directory (../build) is taken to be just that.
      if (ups === 0) return false;
      return first === undefined || first.glob || stack.length < ups || TOP_LEVEL_HOMES.has(first.name);
  }
}
