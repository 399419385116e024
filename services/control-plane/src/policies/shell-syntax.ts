/**
 * The shell parser behind `dangerous-commands`: mvdan/sh (the parser of `shfmt`), bash dialect, through the npm
 * package `mvdan-sh`, and its syntax tree turned into plain typed objects the checks can read.
 *
 * Why this parser (measured on the 2-core dev box, Node 20, typical agent commands of 6–900 characters):
 * - `mvdan-sh` 0.10.1 is mvdan/sh's own GopherJS build: a complete bash parser that rejects what bash rejects and
 *   hands over the whole tree (words, quotes, expansions, here-documents, compound commands). ~80 ms to load once,
 *   then 0.11–0.35 ms per parse (the whole check, conversion and analysis included, 0.6–2 ms), synchronous, no
 *   dependencies, no install script. Its JS build is archived upstream in favour of `sh-syntax`, but the parser in
 *   it is the well-kept mvdan/sh (shfmt's), and the package is pinned.
 * - `sh-syntax` 0.7.0 (the maintained WASM build) returns only statement positions (`processor/structs.go` maps
 *   each command to `{Pos, End}`; un-ts/sh-syntax#123), so nothing could be checked with it, and it starts a fresh
 *   Go runtime per call (10–20 ms).
 * - `tree-sitter-bash` 0.25.1 + `web-tree-sitter` is fast (0.03–0.06 ms) but error-tolerant (it always yields a
 *   tree), treats `\r` and `\f` as blanks (so `echo a\r#; rm -rf /` reads as a comment, the very bypass this
 *   replaces) and leaves quote removal to us; `bash-parser` is POSIX-only and unmaintained.
 *
 * Where mvdan/sh reads differently from bash (found by running generated command lines in real bash), the
 * difference is patched: it skips `\r` like a blank (for CRLF files) where bash keeps it in the word, so every
 * `\r` is swapped for {@link CR_MARK}, an ordinary word character to both, before parsing; it takes the program of
 * `coproc rm -r /` for the coprocess's NAME (fixed in the converter). `dangerous-commands.ts` re-reads what it
 * refuses and bash runs (`$((cmd))` that is no arithmetic, `time ! cmd`) and the NAME=value words it misses.
 */

/** What a `\r` is replaced with before parsing (a private-use character: part of a word to mvdan/sh and bash). */
export const CR_MARK = "\uE00D";

export type RedirOp = "<" | ">" | ">>" | "<>" | ">|" | "<&" | ">&" | "&>" | "&>>" | "<<" | "<<-" | "<<<" | "?";
export type BinaryOp = "&&" | "||" | "|" | "|&" | "?";

/** A parsed command line: its statements in order. */
export interface Script {
  stmts: Stmt[];
}

/** A statement: a command with its redirections (`! cmd >x &`). */
export interface Stmt {
  cmd: Command | undefined;
  redirs: Redirect[];
  background: boolean;
}

/**
 * A command. `call` is a simple command; `binary` a list or pipeline (`a && b`, `a | b`); `func` a function
 * definition; everything else (`if`, loops, `case`, `{ }`, `( )`, `[[ ]]`, `(( ))`, `declare`, `time`, `coproc`, ...)
 * is a `compound`: the statements it may run and the words it expands.
 */
export type Command =
  | { type: "call"; assigns: Assign[]; args: Word[] }
  | { type: "binary"; op: BinaryOp; x: Stmt; y: Stmt }
  | { type: "func"; name: string; body: Stmt }
  | { type: "compound"; kind: string; stmts: Stmt[]; words: Word[]; assigns: Assign[] };

export interface Assign {
  name: string | undefined;
  /** `x=value`, or the whole word of a `declare` argument without `=`. */
  value: Word | undefined;
  /** `x=(a b)`, and the words of `x[i]=`. */
  words: Word[];
}

export interface Redirect {
  op: RedirOp;
  /** The file descriptor before the operator (`2>`), if any. */
  fd: string | undefined;
  word: Word;
  /** A here-document's body. */
  hdoc: Word | undefined;
}

export interface Word {
  parts: WordPart[];
}

/**
 * Part of a word. `lit` is unquoted text as written (backslashes still in it); `sgl` is `'…'` (or `$'…'`, still
 * escaped); `dbl` is `"…"` whose `lit` parts are written text inside double quotes; `param` is `$x`/`${…}` with the
 * words nested in it (`simple`: just a name; `multi`: may give several words even when quoted, `"$@"`, `"${a[@]}"`);
 * `brace` is `{a,b}`/`{1..3}` (only in words that undergo brace expansion).
 */
export type WordPart =
  | { type: "lit"; value: string }
  | { type: "sgl"; value: string; dollar: boolean }
  | { type: "dbl"; parts: WordPart[] }
  | { type: "param"; name: string | undefined; simple: boolean; multi: boolean; words: Word[] }
  | { type: "cmdsubst"; stmts: Stmt[] }
  | { type: "procsubst"; op: "<(" | ">("; stmts: Stmt[] }
  | { type: "arith"; words: Word[] }
  | { type: "extglob"; pattern: string }
  | { type: "brace"; sequence: boolean; elems: Word[] };

/** Thrown by {@link parseShell} when the text is not valid bash; `line` is where the parser gave up (1-based). */
export class ShellSyntaxError extends Error {
  constructor(
    message: string,
    readonly line: number | undefined,
  ) {
    super(message);
    this.name = "ShellSyntaxError";
  }
}

/** The part of mvdan-sh's API used here; its nodes are GopherJS objects read field by field. */
interface MvdanSh {
  syntax: {
    NewParser(...options: unknown[]): { Parse(src: string, name: string): GoNode };
    Variant(lang: unknown): unknown;
    LangBash: unknown;
    NodeType(node: GoNode): string;
    Walk(node: GoNode, visit: (node: GoNode | null) => boolean): void;
    SplitBraces(word: GoNode): GoNode;
  };
}
/** A GopherJS node: read field by field, typed by `NodeType`. */
// biome-ignore lint/suspicious/noExplicitAny: the WASM parser hands out untyped objects; NodeType is what types them
type GoNode = any;

interface Loaded {
  sh: MvdanSh["syntax"];
  parser: { Parse(src: string, name: string): GoNode };
  redirOps: Map<number, RedirOp>;
  binaryOps: Map<number, BinaryOp>;
  procOps: Map<number, "<(" | ">(">;
}

let loaded: Loaded | undefined;

/**
 * Loads the parser (once, ~80 ms) and learns its operator codes by parsing one sample of each, so nothing depends
 * on the numbering inside the build.
 */
export function loadShellParser(): void {
  if (loaded !== undefined) return;
  // A CommonJS build without type declarations.
  const sh = (require("mvdan-sh") as MvdanSh).syntax;
  const parser = sh.NewParser(sh.Variant(sh.LangBash));
  const first = (src: string, type: string, field: (n: GoNode) => number): number => {
    let code: number | undefined;
    sh.Walk(parser.Parse(src, ""), (n) => {
      if (code === undefined && n !== null && sh.NodeType(n) === type) code = field(n);
      return code === undefined;
    });
    if (code === undefined) throw new Error(`mvdan-sh: no ${type} in ${JSON.stringify(src)}`);
    return code;
  };
  const redirSamples: [RedirOp, string][] = [
    ["<", "a <b"],
    [">", "a >b"],
    [">>", "a >>b"],
    ["<>", "a <>b"],
    [">|", "a >|b"],
    ["<&", "a <&b"],
    [">&", "a >&b"],
    ["&>", "a &>b"],
    ["&>>", "a &>>b"],
    ["<<", "a <<E\nx\nE"],
    ["<<-", "a <<-E\nx\nE"],
    ["<<<", "a <<<b"],
  ];
  const redirOps = new Map(redirSamples.map(([op, src]) => [first(src, "Redirect", (n) => n.Op), op]));
  const binarySamples: [BinaryOp, string][] = [
    ["&&", "a && b"],
    ["||", "a || b"],
    ["|", "a | b"],
    ["|&", "a |& b"],
  ];
  const binaryOps = new Map(binarySamples.map(([op, src]) => [first(src, "BinaryCmd", (n) => n.Op), op]));
  const procSamples: ["<(" | ">(", string][] = [
    ["<(", "a <(b)"],
    [">(", "a >(b)"],
  ];
  const procOps = new Map(procSamples.map(([op, src]) => [first(src, "ProcSubst", (n) => n.Op), op]));
  loaded = { sh, parser, redirOps, binaryOps, procOps };
}

/**
 * Parses `text` as bash.
 * @throws ShellSyntaxError when it is not valid bash (an unterminated quote, a stray `fi`, ...)
 */
export function parseShell(text: string): Script {
  loadShellParser();
  const l = loaded as Loaded;
  let file: GoNode;
  try {
    file = l.parser.Parse(text.replaceAll("\r", CR_MARK), "");
  } catch (err) {
    const e = err as GoNode;
    if (typeof e?.Error !== "function") throw err;
    const line: unknown = typeof e.Pos?.Line === "function" ? e.Pos.Line() : undefined;
    throw new ShellSyntaxError(String(e.Error()).replaceAll(CR_MARK, "\\r"), typeof line === "number" && line > 0 ? line : undefined);
  }
  // Every simple command in the tree must be converted: a node kind this file does not know would otherwise hide
  // the commands inside it. (Counted first: SplitBraces rewrites words in place, and Walk rejects the result.)
  let calls = 0;
  l.sh.Walk(file, (n) => {
    if (n !== null && l.sh.NodeType(n) === "CallExpr") calls++;
    return true;
  });
  const converter = new Converter(l);
  let script: Script;
  try {
    script = { stmts: converter.stmts(file.Stmts) };
  } catch (err) {
    throw new ShellSyntaxError(`parser failure: ${String((err as Error).message ?? err)}`, undefined);
  }
  if (calls !== converter.calls) throw new ShellSyntaxError(`unsupported construct (${calls - converter.calls} commands not read)`, undefined);
  return script;
}

/** Turns GopherJS nodes into {@link Script} objects (each field access on them allocates, so each is read once). */
class Converter {
  calls = 0;
  constructor(private readonly l: Loaded) {}

  private type(n: GoNode): string {
    return this.l.sh.NodeType(n);
  }

  stmts(list: GoNode[] | null): Stmt[] {
    return (list ?? []).map((s) => this.stmt(s));
  }

  stmt(s: GoNode): Stmt {
    const cmd: GoNode = s.Cmd;
    return {
      cmd: cmd === null ? undefined : this.command(cmd),
      redirs: (s.Redirs as GoNode[]).map((r) => this.redirect(r)),
      background: s.Background === true || s.Coprocess === true,
    };
  }

  private redirect(r: GoNode): Redirect {
    const n: GoNode = r.N;
    const hdoc: GoNode = r.Hdoc;
    return {
      op: this.l.redirOps.get(r.Op as number) ?? "?",
      fd: n === null ? undefined : String(n.Value),
      word: this.word(r.Word, false),
      hdoc: hdoc === null ? undefined : this.word(hdoc, false),
    };
  }

  private compound(kind: string, stmts: Stmt[], words: Word[] = [], assigns: Assign[] = []): Command {
    return { type: "compound", kind, stmts, words, assigns };
  }

  private command(c: GoNode): Command {
    const type = this.type(c);
    switch (type) {
      case "CallExpr":
        this.calls++;
        return { type: "call", assigns: (c.Assigns as GoNode[]).map((a) => this.assign(a)), args: (c.Args as GoNode[]).map((w) => this.word(w, true)) };
      case "BinaryCmd":
        return { type: "binary", op: this.l.binaryOps.get(c.Op as number) ?? "?", x: this.stmt(c.X), y: this.stmt(c.Y) };
      case "FuncDecl":
        return { type: "func", name: c.Name === null ? "" : String(c.Name.Value), body: this.stmt(c.Body) };
      case "Block":
      case "Subshell":
        return this.compound(type, this.stmts(c.Stmts));
      case "IfClause": {
        const stmts: Stmt[] = [];
        for (let clause: GoNode = c; clause !== null; clause = clause.Else) stmts.push(...this.stmts(clause.Cond), ...this.stmts(clause.Then));
        return this.compound(type, stmts);
      }
      case "WhileClause":
        return this.compound(type, [...this.stmts(c.Cond), ...this.stmts(c.Do)]);
      case "ForClause": {
        const loop: GoNode = c.Loop;
        const words = this.type(loop) === "WordIter" ? (loop.Items as GoNode[]).map((w) => this.word(w, true)) : this.wordsIn(loop);
        return this.compound(type, this.stmts(c.Do), words);
      }
      case "CaseClause": {
        const items = c.Items as GoNode[];
        const words = [this.word(c.Word, false), ...items.flatMap((i) => (i.Patterns as GoNode[]).map((w) => this.word(w, false)))];
        return this.compound(
          type,
          items.flatMap((i) => this.stmts(i.Stmts)),
          words,
        );
      }
      case "TimeClause":
        return this.compound(type, c.Stmt === null ? [] : [this.stmt(c.Stmt)]);
      case "CoprocClause": {
        const stmt = this.stmt(c.Stmt);
        // bash takes `coproc NAME` only before a compound command; mvdan/sh also before a simple one, where
        // NAME is in fact the program (`coproc rm -r /`).
        let first: Stmt = stmt;
        while (first.cmd?.type === "binary") first = first.cmd.x;
        if (c.Name !== null && first.cmd?.type === "call") first.cmd.args.unshift(this.word(c.Name, true));
        else if (c.Name !== null && first.cmd === undefined) first.cmd = { type: "call", assigns: [], args: [this.word(c.Name, true)] };
        return this.compound(type, [stmt]);
      }
      case "DeclClause":
        return this.compound(
          type,
          [],
          [],
          (c.Args as GoNode[]).map((a) => this.assign(a)),
        );
      case "ArithmCmd":
      case "TestClause":
      case "LetClause":
        return this.compound(type, [], this.wordsIn(c));
      case "TestDecl":
        return this.compound(type, [this.stmt(c.Body)], c.Description === null ? [] : [this.word(c.Description, false)]);
      default:
        // Unknown to this file: its commands are not counted, so parseShell refuses the script.
        return this.compound(type, []);
    }
  }

  private assign(a: GoNode): Assign {
    const index: GoNode = a.Index;
    const array: GoNode = a.Array;
    const words = [...(index === null ? [] : this.wordsIn(index))];
    if (array !== null) {
      for (const e of array.Elems as GoNode[]) {
        if (e.Index !== null) words.push(...this.wordsIn(e.Index));
        if (e.Value !== null) words.push(this.word(e.Value, true));
      }
    }
    return { name: a.Name === null ? undefined : String(a.Name.Value), value: a.Value === null ? undefined : this.word(a.Value, false), words };
  }

  /** The outermost words inside an arithmetic or test expression (or any other node). */
  private wordsIn(node: GoNode): Word[] {
    const out: Word[] = [];
    if (node === null || node === undefined) return out;
    this.l.sh.Walk(node, (n) => {
      if (n === null) return false;
      if (this.type(n) !== "Word") return true;
      out.push(this.word(n, false));
      return false;
    });
    return out;
  }

  /** A word; `braces`: split brace expressions out first (only arguments and list items undergo brace expansion). */
  word(w: GoNode, braces: boolean): Word {
    const split: GoNode = braces ? this.l.sh.SplitBraces(w) : w;
    return { parts: (split.Parts as GoNode[]).map((p) => this.part(p)) };
  }

  private part(p: GoNode): WordPart {
    const type = this.type(p);
    switch (type) {
      case "Lit":
        return { type: "lit", value: unmark(String(p.Value)) };
      case "SglQuoted":
        return { type: "sgl", value: unmark(String(p.Value)), dollar: p.Dollar === true };
      case "DblQuoted":
        return { type: "dbl", parts: (p.Parts as GoNode[]).map((q) => this.part(q)) };
      case "ParamExp": {
        const param: GoNode = p.Param;
        const name = param === null ? undefined : String(param.Value);
        const index: GoNode = p.Index;
        const simple = index === null && p.Excl !== true && p.Length !== true && p.Width !== true && p.Slice === null && p.Repl === null && p.Exp === null && !(p.Names > 0);
        const indexLit = index !== null && this.type(index) === "Word" ? String(index.Lit()) : "";
        const multi = name === "@" || name === "*" || indexLit === "@" || indexLit === "*" || p.Names > 0;
        return { type: "param", name, simple, multi, words: this.wordsIn(p).filter((w) => w.parts.length > 0) };
      }
      case "CmdSubst":
        return { type: "cmdsubst", stmts: this.stmts(p.Stmts) };
      case "ProcSubst":
        return { type: "procsubst", op: this.l.procOps.get(p.Op as number) ?? "<(", stmts: this.stmts(p.Stmts) };
      case "ArithmExp":
        return { type: "arith", words: this.wordsIn(p.X) };
      case "ExtGlob":
        return { type: "extglob", pattern: unmark(String(p.Pattern?.Value ?? "")) };
      case "BraceExp":
        return { type: "brace", sequence: p.Sequence === true, elems: (p.Elems as GoNode[]).map((w) => this.word(w, false)) };
      default:
        return { type: "param", name: undefined, simple: false, multi: true, words: this.wordsIn(p) };
    }
  }
}

function unmark(s: string): string {
  return s.replaceAll(CR_MARK, "\r");
}

/** Every word and every simple command of `stmts`, nested ones included (substitutions, bodies, conditions). */
export function walkScript(stmts: readonly Stmt[], visit: { word?(w: Word): void; call?(c: Extract<Command, { type: "call" }>): void }): void {
  const words = (ws: readonly Word[]): void => {
    for (const w of ws) {
      visit.word?.(w);
      parts(w.parts);
    }
  };
  const parts = (ps: readonly WordPart[]): void => {
    for (const p of ps) {
      if (p.type === "dbl") parts(p.parts);
      else if (p.type === "param" || p.type === "arith") words(p.words);
      else if (p.type === "brace") words(p.elems);
      else if (p.type === "cmdsubst" || p.type === "procsubst") p.stmts.forEach(stmt);
    }
  };
  const assigns = (as: readonly Assign[]): void => {
    for (const a of as) words([...(a.value === undefined ? [] : [a.value]), ...a.words]);
  };
  const stmt = (s: Stmt): void => {
    for (const r of s.redirs) words([r.word, ...(r.hdoc === undefined ? [] : [r.hdoc])]);
    const c = s.cmd;
    if (c === undefined) return;
    if (c.type === "call") {
      visit.call?.(c);
      assigns(c.assigns);
      words(c.args);
    } else if (c.type === "binary") {
      stmt(c.x);
      stmt(c.y);
    } else if (c.type === "func") stmt(c.body);
    else {
      assigns(c.assigns);
      words(c.words);
      c.stmts.forEach(stmt);
    }
  };
  stmts.forEach(stmt);
}
