import { createGlobMatcher, createToolCallGate, type AnyPolicy, type ToolCallDecision } from "@luthien/policy-sdk";
import { readFlagAction, readOptions, readPatterns, readStringList } from "./options";
import {
  HOME_MARK,
  UNKNOWN_FLOW,
  argText,
  classifyPath,
  echoOutput,
  expandSingle,
  expandWord,
  flowText,
  isDownload,
  isUnknown,
  isWild,
  printfOutput,
  redirectInput,
  textArg,
  type Arg,
  type Expander,
  type Flow,
  type PathClass,
} from "./shell";
import { ShellSyntaxError, loadShellParser, parseShell, walkScript, type Command, type Stmt, type Word } from "./shell-syntax";

/** Tool names agents use for running shell commands (Claude Code, Codex, Cursor, Cline, Gemini CLI, ...). */
export const DEFAULT_SHELL_TOOLS: readonly string[] = [
  "Bash",
  "bash",
  "shell",
  "Shell",
  "execute_command",
  "run_terminal_cmd",
  "run_command",
  "run_shell_command",
  "terminal",
  "exec",
  "exec_command",
  "local_shell",
];

/**
 * Input fields that hold the command; arrays (`["bash", "-lc", "..."]`) count too. `commands` is the Responses
 * `shell_call` list of command lines (Codex); `command` also the `local_shell_call` argv.
 */
const COMMAND_FIELDS = ["command", "cmd", "script", "commands"];

/** How deep scripts handed to another shell (`bash -c`, `eval`, `ssh host`, `xargs sh -c`, ...) may nest; deeper is refused. */
const MAX_NESTING = 4;

/** How many commands (wrappers and their readings included) one tool call may make the checker look at. */
const MAX_WORK = 2000;

type CallCommand = Extract<Command, { type: "call" }>;

/**
 * Commands that run the command after their own options: the options that take a value, and how many
 * operands come before the command (`timeout DURATION cmd`, `chroot DIR cmd`).
 */
const WRAPPERS: Readonly<Record<string, { valued: readonly string[]; operands?: number }>> = {
  sudo: {
    valued: [
      "-u",
      "-g",
      "-h",
      "-p",
      "-C",
      "-D",
      "-r",
      "-t",
      "-U",
      "-T",
      "-R",
      "--user",
      "--group",
      "--host",
      "--prompt",
      "--close-from",
      "--chdir",
      "--role",
      "--type",
      "--other-user",
      "--command-timeout",
      "--chroot",
    ],
  },
  doas: { valued: ["-u", "-C"] },
  pkexec: { valued: ["--user"] },
  nohup: { valued: [] },
  setsid: { valued: [] },
  nice: { valued: ["-n", "--adjustment"] },
  ionice: { valued: ["-c", "-n", "-p", "-P", "-u", "--class", "--classdata", "--pid", "--pgid", "--uid"] },
  stdbuf: { valued: ["-i", "-o", "-e", "--input", "--output", "--error"] },
  timeout: { valued: ["-s", "-k", "--signal", "--kill-after"], operands: 1 },
  time: { valued: ["-f", "-o", "--format", "--output"] },
  chroot: { valued: ["--userspec", "--groups"], operands: 1 },
  chrt: { valued: [], operands: 1 },
  taskset: { valued: [], operands: 1 },
  unbuffer: { valued: [] },
  strace: { valued: ["-e", "-o", "-p", "-s", "-u", "-E", "-a", "-b", "-I", "-O", "-P", "-S", "-X"] },
  ltrace: { valued: ["-e", "-o", "-p", "-s", "-u", "-a", "-n", "-l", "-x", "-w", "-D", "-F", "-A"] },
  builtin: { valued: [] },
  exec: { valued: ["-a"] },
  busybox: { valued: [] },
  toybox: { valued: [] },
  firejail: { valued: [] },
  proxychains: { valued: ["-f"] },
  proxychains4: { valued: ["-f"] },
  torsocks: { valued: ["-u", "-p", "-a", "-P"] },
  catchsegv: { valued: [] },
  "xvfb-run": { valued: ["-n", "-s", "-f", "-e", "-p", "--server-num", "--server-args", "--auth-file", "--error-file"] },
  "systemd-run": { valued: ["-p", "-u", "-E", "-M", "--unit", "--property", "--setenv", "--uid", "--gid", "--working-directory", "--machine", "--description", "--slice"] },
  nsenter: { valued: ["-t", "-S", "-G", "-r", "-w", "--target", "--setuid", "--setgid", "--root", "--wd"] },
  unshare: { valued: ["-S", "-G", "-R", "-w", "--map-user", "--map-group", "--setuid", "--setgid", "--propagation", "--root", "--wd"] },
  runuser: { valued: ["-u", "-g", "-G", "-s", "--user", "--group", "--supp-group", "--shell"] },
  command: { valued: [] },
};

/** Shells: `-c SCRIPT`, a script file, or a script on stdin. */
const SHELL = /^(?:ba|da|z|k|mk|lk|pdk|a|ya|po|rba|fi|c|tc)?sh$/;

/** Interpreters whose inline code may start shell commands. */
const INTERPRETER = /^(?:python[0-9.]*|pypy[0-9]*|perl[0-9.]*|ruby[0-9.]*|node|nodejs|deno|bun|php[0-9.]*|lua[0-9.]*|[gmn]?awk|busybox-awk|tclsh|Rscript)$/;

/** Where a disk can be written to as a device. */
const DISK_DEVICE = /^\/dev\/(?:sd|hd|vd|xvd|nvme|mmcblk|disk|rdisk|md|dm-|mapper\/|root|loop|sr)/;

/** Names that make an unreadable command string dangerous: destructive commands and what can hide one. */
const DESTRUCTIVE_NAME = /(?:^|[\s;&|(){}`$=<>!/])(rm|rmdir|unlink|shred|find|mkfs(?:\.\w+)?|mke2fs|dd|chmod|wipefs|eval|exec|xargs|source|sudo|(?:ba|da|z|k|mk|a)?sh)(?=$|[\s;&|()<>`])/;

/** Checks of a command line that cannot be parsed: what spans commands or is not one. */
const TEXT_CHECKS: readonly { re: RegExp; why: string }[] = [
  { re: /\b(?:curl|wget)\b[^|;&\n]*\|\s*(?:sudo\s+(?:-\S+\s+)*)?(?:ba|z|k|da|fi)?sh\b/, why: "piping a download into a shell" },
  { re: /\b(?:ba|z|k|da)?sh\b[^|;&\n]*(?:\$\(|<\(|`)\s*(?:curl|wget)\b/, why: "running a downloaded script" },
  { re: /\bgit\b.*\bpush\b.*(?:\s-\w*f|--force|\s\+)/, why: "force-push to main/master" },
  { re: /\bdocker(?:-compose|\s+compose)\b.*\bdown\b/, why: "docker compose down" },
];
const FORK_BOMB = /([\w:.]+)\(\)\{\1\|\1&\};\1/;

/** Starts a command line read again (see {@link REREADINGS}), so it is read again once only. */
const REREAD = ": luthien-reread";

/**
 * What bash accepts and mvdan/sh refuses (`when` matches the line or the parse error), with a rewrite that runs the
 * same commands and that mvdan/sh accepts.
 */
const REREADINGS: readonly { when: RegExp; rewrite: (text: string, error: string) => string }[] = [
  // `$((…))` and `((…))` that are not arithmetic are a subshell inside `$(…)` or `(…)` to bash.
  { when: /\(\(/, rewrite: (t) => t.replaceAll("((", "( (") },
  // `time ! cmd`: the negation after `time` does not change what runs.
  { when: /"!" can only be used/, rewrite: (t) => t.replace(/(\btime(?:\s+-p)?\s+)!(?=\s)/g, "$1") },
  // A here-document left open runs to the end of the input (bash warns and runs it).
  { when: /unclosed here-document '/, rewrite: (t, e) => `${t}\n${/unclosed here-document '(.*)'/.exec(e)?.[1] ?? ""}` },
];

const DOWNLOAD_PIPE = "piping a download into a shell";
const DOWNLOAD_RUN = "running a downloaded script";
const UNREADABLE_SCRIPT = "runs a script that cannot be read statically";

function baseName(program: string): string {
  const slash = program.lastIndexOf("/");
  return slash === -1 ? program : program.slice(slash + 1);
}

/** An unquoted glob character or extended glob in `arg` (a program name that is a pattern may match `rm`). */
function hasGlob(arg: Arg): boolean {
  return arg.pieces.some((p) => p.kind === "glob" || (p.kind === "text" && !p.quoted && /[*?[]/.test(p.text)));
}

/**
 * One tool call's check. It reads the command line as bash would (through mvdan/sh), follows what runs what
 * (wrappers, nested shells, pipes, substitutions), and fails closed: whatever it cannot resolve statically where
 * it matters (a destructive command's target, a script handed to a shell, a command name) counts as dangerous.
 */
class Check implements Expander {
  private work = 0;
  private readonly parsed = new Map<string, Stmt[] | ShellSyntaxError>();
  /** Names standing for other programs in this command line (`hash -p /bin/rm x`, `ln -s /bin/rm x`, `alias x=rm`). */
  private readonly renames = new Map<string, string>();
  /** Directories this command line changes into (`cd`, `pushd`): relative paths may be relative to any of them. */
  private readonly cwds: Arg[] = [];
  ifsChanged = false;

  /** Where a path points, relative paths taken from the working directory and from every `cd` target. */
  readonly classify = (a: Arg): PathClass => {
    const here = classifyPath(a);
    const head = a.pieces[0];
    const absolute = head?.kind === "home" || (head?.kind === "text" && (head.text.startsWith("/") || head.text.startsWith(HOME_MARK)));
    if (here !== "elsewhere" || absolute) return here;
    for (const dir of this.cwds) {
      const there = classifyPath({ pieces: [...dir.pieces, { kind: "text", text: "/", quoted: true, expanded: false }, ...a.pieces] });
      if (there !== "elsewhere") return there;
    }
    return "elsewhere";
  };

  /** Why `text`, run by bash with `stdin`, is dangerous, or undefined. */
  script(text: string, depth: number, stdin: Flow): string | undefined {
    if (depth > MAX_NESTING) return `shells nested deeper than ${MAX_NESTING} levels`;
    // bash never sees a NUL: it ends an argv string and is dropped from a file; both readings are checked.
    if (text.includes("\0")) return this.script(text.replaceAll("\0", ""), depth, stdin) ?? this.script(text.slice(0, text.indexOf("\0")), depth, stdin);
    // Any mention of IFS makes word splitting unpredictable (`IFS=,; x=rm,-rf,/; $x`).
    if (/IFS/.test(text)) this.ifsChanged = true;
    // The same script text comes back in other readings of a line (each wrapper option may be the command).
    let parsed = this.parsed.get(text);
    if (parsed === undefined) {
      try {
        parsed = parseShell(text).stmts;
        this.learn(parsed);
      } catch (err) {
        if (!(err instanceof ShellSyntaxError)) throw err;
        parsed = err;
      }
      this.parsed.set(text, parsed);
    }
    return parsed instanceof ShellSyntaxError ? this.unparseable(text, parsed, depth, stdin) : this.stmts(parsed, stdin, depth);
  }

  /**
   * A command line bash would reject: bash still runs the lines before the bad one; the rest is dangerous when
   * it names a destructive command (our parser and bash might disagree about it).
   */
  private unparseable(text: string, err: ShellSyntaxError, depth: number, stdin: Flow): string | undefined {
    // Where mvdan/sh is stricter than bash, the line is read again the way bash reads it.
    if (!text.startsWith(REREAD)) {
      for (const { when, rewrite } of REREADINGS) {
        if (!when.test(text) && !when.test(err.message)) continue;
        const reread = `${REREAD}\n${rewrite(text, err.message)}`;
        try {
          parseShell(reread);
        } catch {
          continue;
        }
        return this.script(reread, depth, stdin);
      }
    }
    if (err.line !== undefined && err.line > 1) {
      const why = this.script(
        text
          .split("\n")
          .slice(0, err.line - 1)
          .join("\n"),
        depth,
        stdin,
      );
      if (why !== undefined) return why;
    }
    const name = DESTRUCTIVE_NAME.exec(text.replace(/["'\\\r]/g, ""))?.[1];
    if (name !== undefined) return `does not parse as shell (${err.message}) and names a destructive command (${name})`;
    if (FORK_BOMB.test(text.replace(/\s+/g, ""))) return "fork bomb";
    return TEXT_CHECKS.find(({ re }) => re.test(text))?.why;
  }

  /**
   * What the whole line does to names and directories, learnt before checking it (in any order: failing closed):
   * names standing for programs, and directories changed into.
   */
  private learn(stmts: Stmt[]): void {
    walkScript(stmts, {
      call: (c) => {
        const words = c.args.map((w) => expandSingle(w, this));
        const start = words.findIndex((w) => !["builtin", "command"].includes(argText(w) ?? ""));
        const dirCommand = argText(words[start] ?? textArg(""));
        if (dirCommand === "cd" || dirCommand === "pushd" || dirCommand === "popd") {
          const operand = words.slice(start + 1).find((w) => !/^-[LPe@]+$/.test(argText(w) ?? "x"));
          const dash = operand !== undefined && argText(operand) === "-";
          this.cwds.push(dirCommand === "popd" || dash ? unknownArg() : (operand ?? { pieces: [{ kind: "home", user: undefined }] }));
        }
        const [program, ...args] = words.map(argText);
        if (program === "hash" && args[0] === "-p" && args[1] !== undefined && args[2] !== undefined) this.renames.set(args[2], baseName(args[1]));
        if ((program === "ln" || program === "cp" || program === "install" || program === "mv") && args.length >= 2) {
          const operands = args.filter((a): a is string => a !== undefined && !a.startsWith("-"));
          const target = operands.at(-1);
          if (target !== undefined) for (const source of operands.slice(0, -1)) this.renames.set(baseName(target), baseName(source));
        }
        if (program === "alias") {
          for (const a of args) {
            const eq = a?.indexOf("=") ?? -1;
            const first = a
              ?.slice(eq + 1)
              .trim()
              .split(/\s+/)[0];
            if (a !== undefined && eq > 0 && first !== undefined && first !== "") this.renames.set(a.slice(0, eq), baseName(first));
          }
        }
      },
    });
  }

  private rename(name: string): string {
    let n = name;
    for (let i = 0; i < 8 && this.renames.has(n); i++) n = this.renames.get(n) as string;
    return n;
  }

  private stmts(list: readonly Stmt[], stdin: Flow, depth: number): string | undefined {
    for (const s of list) {
      const why = this.stmt(s, stdin, depth);
      if (why !== undefined) return why;
    }
    return undefined;
  }

  /** The stdin of `s`: its own here-document, here-string or `<` file, else what it inherits. */
  private stdinOf(s: Stmt, inherited: Flow): Flow {
    let flow = inherited;
    for (const r of s.redirs) flow = redirectInput(r, this) ?? flow;
    return flow;
  }

  private stmt(s: Stmt, inherited: Flow, depth: number): string | undefined {
    const stdin = this.stdinOf(s, inherited);
    for (const r of s.redirs) {
      const why = this.wordCommands(r.word, inherited, depth, s) ?? (r.hdoc === undefined ? undefined : this.wordCommands(r.hdoc, inherited, depth, s));
      if (why !== undefined) return why;
    }
    const c = s.cmd;
    if (c === undefined) return undefined;
    switch (c.type) {
      case "call":
        return this.call(c, stdin, depth);
      case "binary": {
        if (c.op !== "|" && c.op !== "|&") return this.stmt(c.x, stdin, depth) ?? this.stmt(c.y, stdin, depth);
        // A pipeline: each stage reads what the one before it prints.
        const stages = pipelineStages(s);
        let flow = stdin;
        for (const stage of stages) {
          const why = this.stmt(stage, flow, depth);
          if (why !== undefined) return why;
          flow = this.output(stage, flow);
        }
        return undefined;
      }
      case "func":
        return forkBomb(c.name, c.body) ? "fork bomb" : this.stmt(c.body, stdin, depth);
      case "compound":
        for (const w of [...c.words, ...c.assigns.flatMap((a) => [...(a.value === undefined ? [] : [a.value]), ...a.words])]) {
          const why = this.wordCommands(w, stdin, depth);
          if (why !== undefined) return why;
        }
        return this.stmts(c.stmts, stdin, depth);
    }
  }

  private call(c: CallCommand, stdin: Flow, depth: number): string | undefined {
    for (const w of [...c.assigns.flatMap((a) => [...(a.value === undefined ? [] : [a.value]), ...a.words]), ...c.args]) {
      const why = this.wordCommands(w, stdin, depth);
      if (why !== undefined) return why;
    }
    // bash takes leading NAME=value words as assignments even where mvdan/sh does not (`coproc x=1 rm -r /`).
    let first = 0;
    while (first < c.args.length && /^[A-Za-z_][A-Za-z0-9_]*(?:\[[^\]]*\])?\+?=/.test(c.args[first]?.parts[0]?.type === "lit" ? (c.args[first]?.parts[0] as { value: string }).value : ""))
      first++;
    return this.command(
      c.args.slice(first).flatMap((w) => expandWord(w, this)),
      stdin,
      depth,
    );
  }

  /**
   * The commands inside a word: command and process substitutions (they run), and `$(…)` written inside a
   * quoted string (bash may still evaluate it: arithmetic on `a[$(cmd)]`, `PS4`, `[[ -v ]]`, ...).
   */
  private wordCommands(word: Word, stdin: Flow, depth: number, owner?: Stmt): string | undefined {
    let why: string | undefined;
    const visitParts = (parts: Word["parts"]): void => {
      for (const p of parts) {
        if (why !== undefined) return;
        switch (p.type) {
          case "cmdsubst":
            why = this.stmts(p.stmts, stdin, depth);
            break;
          case "procsubst":
            // `>(cmd)` reads what is written to it: the owning command's output, or something unknown.
            why = this.stmts(p.stmts, p.op === ">(" && owner !== undefined ? this.output({ ...owner, redirs: [] }, stdin) : p.op === ">(" ? UNKNOWN_FLOW : stdin, depth);
            break;
          case "dbl":
            visitParts(p.parts);
            break;
          case "param":
          case "arith":
            for (const w of p.words) visitParts(w.parts);
            break;
          case "brace":
            for (const w of p.elems) visitParts(w.parts);
            break;
          case "sgl":
          case "lit":
            if (/\$\(|`/.test(p.value)) why = this.codeInString(p.value, depth);
            break;
          case "extglob":
            break;
        }
      }
    };
    visitParts(word.parts);
    return why;
  }

  /**
   * Substitutions written inside a quoted string, in case bash evaluates the string later. The string is read as
   * the body of a here-document, where exactly `$…`, `` `…` `` and backslashes are special.
   */
  private codeInString(text: string, depth: number): string | undefined {
    if (depth >= MAX_NESTING) return undefined;
    const delimiter = "LUTHIEN_END_OF_STRING";
    let stmts: Stmt[];
    try {
      stmts = parseShell(`: <<${delimiter}\n${text}\n${delimiter}\n`).stmts;
    } catch {
      // Not even bash could evaluate it.
      return undefined;
    }
    let why: string | undefined;
    walkScript(stmts, {
      word: (w) => {
        for (const p of w.parts) {
          if (why === undefined && p.type === "cmdsubst") why = this.stmts(p.stmts, UNKNOWN_FLOW, depth + 1);
        }
      },
    });
    return why;
  }

  /** {@link Expander}: what a command substitution prints, when that is known. */
  output(s: Stmt, stdin: Flow): Flow;
  output(stmts: Stmt[]): Flow;
  output(s: Stmt | Stmt[], inherited: Flow = { kind: "terminal" }): Flow {
    if (Array.isArray(s)) return concatFlows(s.map((x) => this.output(x, inherited)));
    if (s.redirs.some((r) => (r.op === ">" || r.op === ">>" || r.op === ">|" || r.op === "&>" || r.op === "&>>") && (r.fd === undefined || r.fd === "1"))) return { kind: "text", text: "" };
    const stdin = this.stdinOf(s, inherited);
    const c = s.cmd;
    if (c === undefined) return { kind: "text", text: "" };
    if (c.type === "binary") {
      if (c.op !== "|" && c.op !== "|&") return concatFlows([this.output(c.x, stdin), this.output(c.y, stdin)]);
      let flow = stdin;
      for (const stage of pipelineStages(s)) flow = this.output(stage, flow);
      return flow;
    }
    if (c.type === "compound") {
      if (c.kind === "Block" || c.kind === "Subshell") return concatFlows(c.stmts.map((x) => this.output(x, stdin)));
      // A coprocess writes to its own pipe, not to the pipeline.
      return c.kind === "CoprocClause" ? { kind: "text", text: "" } : UNKNOWN_FLOW;
    }
    if (c.type !== "call") return { kind: "text", text: "" };
    return this.callOutput(
      c.args.flatMap((w) => expandWord(w, this)),
      stdin,
    );
  }

  /** What a simple command prints: known for echo, printf, cat of its stdin, true; curl/wget print a download. */
  private callOutput(argv: Arg[], stdin: Flow): Flow {
    // A pattern's text is not what the command receives (`printf '%s\0' /* | xargs -0 rm -rf`).
    const argvText = argv.map((a) => (hasGlob(a) ? undefined : flowText(a)));
    const name = argvText[0] === undefined ? undefined : this.rename(baseName(argvText[0]));
    const args = argvText.slice(1);
    const known = args.every((a): a is string => a !== undefined);
    switch (name) {
      case undefined:
        return UNKNOWN_FLOW;
      case "echo":
        return known ? { kind: "text", text: echoOutput(args) } : UNKNOWN_FLOW;
      case "printf": {
        const text = known ? printfOutput(args) : undefined;
        return text === undefined ? UNKNOWN_FLOW : { kind: "text", text };
      }
      case "cat":
        return args.every((a) => a === "-" || (a !== undefined && a.startsWith("-") && a.length > 1)) ? stdin : UNKNOWN_FLOW;
      case "true":
      case ":":
        return { kind: "text", text: "" };
      case "curl":
      case "wget":
        return { kind: "unknown", download: true };
      case "find":
        return findStarts(argv.slice(1)).every((a) => this.classify(a) === "elsewhere") ? { kind: "paths" } : UNKNOWN_FLOW;
      case "env": {
        const at = argv.findIndex((a, i) => i > 0 && !/^-|^[^=]+=/.test(argText(a) ?? "-"));
        return at === -1 || argv.slice(1, at).some((a) => /^-[uCS]|^--(?:unset|chdir|split)/.test(argText(a) ?? "-")) ? UNKNOWN_FLOW : this.callOutput(argv.slice(at), stdin);
      }
      default: {
        const spec = WRAPPERS[name];
        if (spec === undefined || (name === "command" && args.some((a) => /^-[pvV]*[vV]/.test(a ?? "")))) return UNKNOWN_FLOW;
        const rest = this.afterOptions(argv.slice(1), spec)[0];
        return rest === undefined ? UNKNOWN_FLOW : this.callOutput(rest, stdin);
      }
    }
  }

  /**
   * The readings of a wrapper's argv after its options and operands; a word known only at run time in option
   * position may be an option, an option with its value, or the command, so each is a reading.
   */
  private afterOptions(args: Arg[], spec: { valued: readonly string[]; operands?: number }): Arg[][] {
    let i = 0;
    while (i < args.length) {
      const a = args[i] as Arg;
      const t = argText(a);
      if (t === undefined && !isUnknown(a)) break;
      if (t === undefined) return [args.slice(i), args.slice(i + 1), args.slice(i + 2)].map((r) => r.slice(spec.operands ?? 0));
      if (t === "--") {
        i++;
        break;
      }
      if (!t.startsWith("-") || t === "-") break;
      i++;
      if (t.startsWith("--")) {
        if (spec.valued.includes(t) && !t.includes("=")) i++;
        continue;
      }
      // A cluster of short options; a valued one takes the rest of the cluster or the next word.
      for (let j = 1; j < t.length; j++) {
        if (spec.valued.includes(`-${t[j]}`)) {
          if (j === t.length - 1) i++;
          break;
        }
      }
    }
    return [args.slice(i + (spec.operands ?? 0))];
  }

  /** Why running `argv` (already expanded) is dangerous, or undefined. */
  private command(argv: Arg[], stdin: Flow, depth: number): string | undefined {
    if (++this.work > MAX_WORK) return "too complex to check";
    const [first, ...args] = argv;
    if (first === undefined) return undefined;
    const text = argText(first);
    if (text === undefined || hasGlob(first)) return this.unknownCommand(first, args, stdin, depth);
    // A renamed program is checked under both names: `alias rm=echo` does nothing in a script, `hash -p` does.
    const name = baseName(text);
    const renamed = this.rename(name);
    return this.byName(name, args, stdin, depth) ?? (renamed === name ? undefined : this.byName(renamed, args, stdin, depth));
  }

  private byName(name: string, args: Arg[], stdin: Flow, depth: number): string | undefined {
    const spec = WRAPPERS[name];
    if (spec !== undefined) {
      const firstOperand = args.findIndex((a) => !(argText(a) ?? "").startsWith("-"));
      const leading = args.slice(0, firstOperand === -1 ? args.length : firstOperand).map((a) => argText(a) ?? "");
      // `command -v rm` only prints where rm is.
      if (name === "command" && leading.some((t) => /^-[pvV]*[vV]/.test(t))) return undefined;
      // `sudo -s CMD` and `sudo -i CMD` hand CMD to a shell's -c; `runuser -c CMD` too.
      const viaShell =
        (name === "sudo" && leading.some((t) => /^-[^-]*[si]|^--(?:shell|login)$/.test(t))) || (name === "runuser" && args.some((a) => /^-[^-]*c$|^--command/.test(argText(a) ?? "")));
      if (name === "runuser" && viaShell) return this.scriptOption(name, args, stdin, depth);
      for (const rest of this.afterOptions(args, spec)) {
        const why = viaShell && rest.length > 0 ? this.nested(joinArgs(rest), depth, stdin) : this.command(rest, stdin, depth);
        if (why !== undefined) return why;
      }
      return undefined;
    }
    if (SHELL.test(name)) return this.shell(args, stdin, depth);
    switch (name) {
      case "rm":
        return removes(args, this.classify);
      case "env":
        return this.env(args, stdin, depth);
      case "eval":
        return this.nested(joinArgs(args), depth, stdin);
      case "source":
      case ".":
        return this.scriptOperand(args[0], stdin, depth, false);
      case "alias":
        for (const a of args) {
          const t = flowText(a);
          if (t === undefined) return "an alias whose value is known only at run time";
          const why = t.includes("=") ? this.script(t.slice(t.indexOf("=") + 1), depth + 1, stdin) : undefined;
          if (why !== undefined) return why;
        }
        return undefined;
      case "trap": {
        // trap [-lp] [--] CODE SIGNAL...: with one operand it is a signal being reset.
        let i = 0;
        while (i < args.length && /^-[lp]*$|^--$/.test(argText(args[i] as Arg) ?? "x") && argText(args[i] as Arg) !== "-") i++;
        const code = args[i];
        return args.length - i >= 2 && code !== undefined && argText(code) !== "-" ? this.nested(code, depth, stdin) : undefined;
      }
      case "xargs":
        return this.xargs(args, stdin, depth);
      case "find":
        return this.find(args, depth);
      case "ssh":
        return this.ssh(args, stdin, depth);
      case "watch": {
        const rest = this.afterOptions(args, { valued: ["-n", "--interval", "-q", "--equexit"] })[0] ?? [];
        return args.some((a) => argText(a) === "-x" || argText(a) === "--exec") ? this.command(rest, stdin, depth) : this.nested(joinArgs(rest), depth, stdin);
      }
      case "su":
      case "script":
      case "flock":
        return this.scriptOption(name, args, stdin, depth);
      case "shred":
        return shreds(args, this.classify);
      case "dd":
        return dd(args);
      case "chmod":
        return opensToAll(args, this.classify);
      case "git": {
        // `git -c alias.x='!cmd' x` runs cmd with a shell.
        for (const a of args) {
          const alias = /^alias\.[^=]+=!(.*)$/s.exec(argText(a) ?? "");
          const why = alias === null ? undefined : this.script(alias[1] as string, depth + 1, stdin);
          if (why !== undefined) return why;
        }
        return forcePushesMain(args.map((a) => argText(a) ?? "")) ? "force-push to main/master" : undefined;
      }
      case "docker": {
        const words = args.map((a) => argText(a));
        return words.includes("compose") && words.includes("down") ? "docker compose down" : undefined;
      }
      case "docker-compose":
        return args.some((a) => argText(a) === "down") ? "docker compose down" : undefined;
      default:
        if (/^mkfs(?:\..+)?$|^mke2fs$/.test(name)) return "mkfs (formats a filesystem)";
        return INTERPRETER.test(name) ? this.interpreter(name, args, depth) : undefined;
    }
  }

  /**
   * Inline code of another language that starts processes (`python -c "os.system('rm -rf /')"`, `perl -e`, awk's
   * `system()`): each string literal in it is checked as a shell command. A heuristic, for what bash never parses.
   */
  private interpreter(name: string, args: Arg[], depth: number): string | undefined {
    const texts = args.map((a) => argText(a));
    const flag = texts.findIndex((t) => t !== undefined && /^(?:-[a-zA-Z]*[ceEr]|--eval|--command)$/.test(t));
    const code = /awk$/.test(name) ? texts.find((t, i) => t !== undefined && !t.startsWith("-") && !/^-[fv]$/.test(texts[i - 1] ?? "")) : flag === -1 ? undefined : texts[flag + 1];
    if (code === undefined || !/system|popen|exec|spawn|subprocess|child_process|`|%x|\bopen\s*\(\s*["']\|/.test(code)) return undefined;
    for (const m of code.matchAll(/'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|`((?:[^`\\]|\\.)*)`/g)) {
      const literal = m[1] ?? m[2] ?? m[3] ?? "";
      const why = literal.length < 2 ? undefined : this.script(literal, depth + 1, UNKNOWN_FLOW);
      if (why !== undefined && !why.startsWith("does not parse")) return `${why} (in ${name} code)`;
    }
    return undefined;
  }

  /**
   * A command whose name is known only at run time (`$x`, `$(…)`, `/bin/r?`): it may be rm, a shell or a wrapper.
   * Unquoted, it may even be a whole command (`x='rm -rf /'; $x`).
   */
  private unknownCommand(first: Arg, args: Arg[], stdin: Flow, depth: number): string | undefined {
    if (isWild(first)) return "a command whose name is known only at run time (it could be rm -rf /)";
    const asRm = removes(args, this.classify);
    if (asRm !== undefined) return `${asRm} (by a command whose name is known only at run time)`;
    return this.shell(args, stdin, depth) ?? this.command(args, stdin, depth);
  }

  /** `sh`/`bash`/...: `-c SCRIPT`, a script file (maybe `<(…)` or /dev/stdin), or the script on stdin. */
  private shell(args: Arg[], stdin: Flow, depth: number): string | undefined {
    let dashC = false;
    let readsStdin = false;
    let i = 0;
    for (; i < args.length; i++) {
      const t = argText(args[i] as Arg);
      if (t === undefined && (dashC || !isUnknown(args[i] as Arg))) break;
      // Unknown in option position: it may be -c, making the next word the script.
      if (t === undefined) return isWild(args[i] as Arg) ? "a shell started with arguments known only at run time" : this.nested(args[i + 1] ?? textArg(""), depth, stdin);
      if (t === "--" || t === "-") {
        i++;
        break;
      }
      if (!/^[-+]./.test(t)) break;
      if (t === "--rcfile" || t === "--init-file") i++;
      if (t.startsWith("--")) continue;
      if (t.startsWith("-") && t.includes("c")) dashC = true;
      if (t.startsWith("-") && t.includes("s")) readsStdin = true;
      // -o/+o/-O/+O take the next word.
      i += (t.match(/[oO]/g) ?? []).length;
    }
    if (dashC) return args[i] === undefined ? undefined : this.nested(args[i] as Arg, depth, stdin);
    if (args[i] === undefined || readsStdin) return this.shellInput(stdin, depth, DOWNLOAD_PIPE);
    return this.scriptOperand(args[i], stdin, depth, true);
  }

  /** A script file operand (of a shell, `source` or `.`): a process substitution or /dev/stdin is read; a file is not. */
  private scriptOperand(operand: Arg | undefined, stdin: Flow, depth: number, isShell: boolean): string | undefined {
    if (operand === undefined) return isShell ? this.shellInput(stdin, depth, DOWNLOAD_PIPE) : undefined;
    const proc = operand.pieces.find((p) => p.kind === "procsubst");
    if (proc?.kind === "procsubst") return this.shellInput(this.output(proc.stmts), depth, DOWNLOAD_RUN);
    if (isWild(operand)) return "a shell started with arguments known only at run time";
    const t = argText(operand);
    if (t === "/dev/stdin" || t === "/dev/fd/0" || t === "/proc/self/fd/0" || t === "-") return this.shellInput(stdin, depth, DOWNLOAD_PIPE);
    return undefined;
  }

  /** A shell reading its script from `flow`. */
  private shellInput(flow: Flow, depth: number, download: string): string | undefined {
    switch (flow.kind) {
      case "terminal":
        return undefined;
      case "text":
        return this.script(flow.text, depth + 1, { kind: "terminal" });
      case "paths":
        return "a shell reading a script that cannot be read statically";
      case "unknown":
        return flow.download ? download : "a shell reading a script that cannot be read statically";
    }
  }

  /** A script given as an argument (`sh -c`, `eval`, `ssh host`, `trap`, ...). */
  private nested(script: Arg, depth: number, stdin: Flow): string | undefined {
    const text = flowText(script);
    if (text === undefined) return isDownload(script) ? DOWNLOAD_RUN : UNREADABLE_SCRIPT;
    return this.script(text, depth + 1, stdin);
  }

  /** `su -c`, `script -c`, `flock -c` run a script; `flock FILE cmd` runs a command. */
  private scriptOption(name: string, args: Arg[], stdin: Flow, depth: number): string | undefined {
    const c = args.findIndex((a) => /^(?:-c|--command|-[a-z]*c)$/.test(argText(a) ?? "") || (argText(a) ?? "").startsWith("--command="));
    if (c !== -1) {
      const t = argText(args[c] as Arg) ?? "";
      return this.nested(t.startsWith("--command=") ? textArg(t.slice("--command=".length)) : (args[c + 1] ?? textArg("")), depth, stdin);
    }
    if (name !== "flock") return undefined;
    const rest = this.afterOptions(args, { valued: ["-w", "--timeout", "-E", "--conflict-exit-code"], operands: 1 })[0] ?? [];
    return this.command(rest, stdin, depth);
  }

  /** `env [-i] [-u NAME] [-C DIR] [-S STRING] [NAME=VALUE...] [command]`. */
  private env(args: Arg[], stdin: Flow, depth: number): string | undefined {
    for (let i = 0; i < args.length; i++) {
      const a = args[i] as Arg;
      const t = argText(a);
      if (t === undefined) return this.command(args.slice(i), stdin, depth) ?? this.command(args.slice(i + 1), stdin, depth);
      const split = /^(?:-S|--split-string=?)(.*)$/.exec(t);
      if (split !== null) {
        // -S splits one string into the command and its arguments (shell-like quoting).
        const value = split[1] !== "" ? split[1] : argText(args[i + 1] ?? textArg(""));
        if (value === undefined) return "a command whose name is known only at run time (it could be rm -rf /)";
        const after = args.slice(split[1] !== "" ? i + 1 : i + 2);
        let words: Arg[];
        try {
          const first = parseShell(value).stmts[0]?.cmd;
          words = first?.type === "call" ? first.args.flatMap((w) => expandWord(w, this)) : [];
        } catch {
          return `env -S with a string that does not parse`;
        }
        return this.command([...words, ...after], stdin, depth);
      }
      if (t === "-u" || t === "-C" || t === "--unset" || t === "--chdir") i++;
      else if (t === "--") return this.command(args.slice(i + 1), stdin, depth);
      else if (!t.startsWith("-") && !/^[^=]+=/.test(t)) return this.command(args.slice(i), stdin, depth);
    }
    return undefined;
  }

  /** `xargs [options] [command [initial-args]]`: the command runs with words read from stdin. */
  private xargs(args: Arg[], stdin: Flow, depth: number): string | undefined {
    let replace: string | undefined;
    let fromFile = false;
    let delimiter: string | undefined;
    const valued = ["-a", "-d", "-E", "-I", "-L", "-n", "-P", "-s"];
    let i = 0;
    for (; i < args.length; i++) {
      const t = argText(args[i] as Arg);
      if (t === undefined) return this.command(args.slice(i), UNKNOWN_FLOW, depth) ?? this.command([...args.slice(i + 1), unknownArg()], UNKNOWN_FLOW, depth);
      if (t === "--") {
        i++;
        break;
      }
      if (!t.startsWith("-") || t === "-") break;
      const long = /^--([a-z-]+)(?:=(.*))?$/.exec(t);
      if (long !== null) {
        const [, opt, value] = long;
        if (opt === "replace") replace = value ?? "{}";
        if (opt === "arg-file") fromFile = true;
        if (opt === "null") delimiter = "\0";
        if (opt === "delimiter") delimiter = value;
        if (value === undefined && ["arg-file", "delimiter", "eof", "max-lines", "max-args", "max-procs", "max-chars", "process-slot-var"].includes(opt ?? "")) i++;
        continue;
      }
      const flag = t.slice(0, 2);
      const glued = t.slice(2);
      if (flag === "-0") delimiter = "\0";
      if (flag === "-i") replace = glued === "" ? "{}" : glued;
      if (valued.includes(flag)) {
        const value = glued !== "" ? glued : argText(args[++i] ?? textArg(""));
        if (flag === "-I") replace = value;
        if (flag === "-a") fromFile = true;
        if (flag === "-d") delimiter = value;
      }
    }
    const command = args.length > i ? args.slice(i) : [textArg("echo")];
    const input: Flow = fromFile ? UNKNOWN_FLOW : stdin;
    if (input.kind !== "text") {
      const piece: Arg = input.kind === "paths" ? { pieces: [{ kind: "paths" }] } : unknownArg(input.kind === "unknown" && input.download);
      const argv =
        replace === undefined
          ? [...command, piece]
          : command.map((a) => (argText(a)?.includes(replace as string) === true ? { pieces: piece.pieces.map((p) => (p.kind === "unknown" ? { ...p, splits: false } : p)) } : a));
      return this.command(argv, UNKNOWN_FLOW, depth);
    }
    if (replace !== undefined) {
      for (const line of input.text.split("\n").slice(0, 64)) {
        const value = line.replace(/^[ \t]+/, "");
        if (value === "") continue;
        const why = this.command(
          command.map((a) => {
            const t = argText(a);
            return t?.includes(replace as string) === true ? textArg(t.replaceAll(replace as string, value)) : a;
          }),
          UNKNOWN_FLOW,
          depth,
        );
        if (why !== undefined) return why;
      }
      return undefined;
    }
    const words = delimiter === undefined ? xargsWords(input.text) : input.text.split(delimiter).filter((w) => w !== "");
    return words === undefined ? this.command([...command, unknownArg()], UNKNOWN_FLOW, depth) : this.command([...command, ...words.map(textArg)], UNKNOWN_FLOW, depth);
  }

  /** `find PATHS EXPRESSION`: `-delete`, and `-exec`/`-execdir`/`-ok`/`-okdir` commands, whose `{}` is each path found. */
  private find(args: Arg[], depth: number): string | undefined {
    const starts = findStarts(args);
    const roots = starts.length > 0 ? starts : [textArg(".")];
    for (let i = 0; i < args.length; i++) {
      const t = argText(args[i] as Arg);
      if (t === "-delete") {
        const classes = roots.map((r) => this.classify(r));
        if (classes.includes("root-or-home")) return "find -delete on / or ~";
        if (classes.includes("unresolved")) return "find -delete under a path that cannot be resolved statically";
      }
      if (t === "-exec" || t === "-execdir" || t === "-ok" || t === "-okdir") {
        const end = args.findIndex((a, j) => j > i && (argText(a) === ";" || argText(a) === "+"));
        const sub = args.slice(i + 1, end === -1 ? undefined : end);
        // The start paths are among what find hands to the command.
        for (const root of roots) {
          const rootText = argText(root);
          const argv = sub.map((a) => {
            const at = argText(a);
            if (at === "{}") return root;
            if (at?.includes("{}") === true) return rootText === undefined ? unknownArg() : textArg(at.replaceAll("{}", rootText));
            return a;
          });
          const why = this.command(argv, UNKNOWN_FLOW, depth);
          if (why !== undefined) return why;
        }
        if (end !== -1) i = end;
      }
    }
    return undefined;
  }

  /** `ssh [options] host [command...]`: the command is a script for the remote shell. */
  private ssh(args: Arg[], stdin: Flow, depth: number): string | undefined {
    const valued = ["-b", "-c", "-D", "-E", "-e", "-F", "-I", "-i", "-J", "-L", "-l", "-m", "-O", "-o", "-p", "-Q", "-R", "-S", "-W", "-w", "-B"];
    const rest = this.afterOptions(args, { valued, operands: 1 })[0] ?? [];
    return rest.length === 0 ? undefined : this.nested(joinArgs(rest), depth, stdin);
  }
}

function unknownArg(download = false): Arg {
  return { pieces: [{ kind: "unknown", splits: true, download }] };
}

/** Arguments joined by spaces, as `eval` and `ssh` do before reading them as a script. */
function joinArgs(args: readonly Arg[]): Arg {
  const pieces = args.flatMap((a, i) => (i === 0 ? a.pieces : [{ kind: "text", text: " ", quoted: true, expanded: false } as const, ...a.pieces]));
  return { pieces };
}

/** The stages of a pipeline statement, left to right (a stage with its own redirections is one stage). */
function pipelineStages(s: Stmt): Stmt[] {
  const c = s.cmd;
  if (c?.type !== "binary" || (c.op !== "|" && c.op !== "|&")) return [s];
  const inner = (x: Stmt): Stmt[] => (x.redirs.length > 0 ? [x] : pipelineStages(x));
  return [...inner(c.x), ...inner(c.y)];
}

/** Flows one after the other (a list's output). */
function concatFlows(flows: readonly Flow[]): Flow {
  const printing = flows.filter((f) => !(f.kind === "text" && f.text === ""));
  if (printing.length === 1) return printing[0] as Flow;
  let text = "";
  for (const f of flows) {
    if (f.kind === "unknown") return { kind: "unknown", download: flows.some((x) => x.kind === "unknown" && x.download) };
    if (f.kind !== "text") return UNKNOWN_FLOW;
    text += f.text;
  }
  return { kind: "text", text };
}

/** find's start paths: its first arguments, before the expression (`-name`, `(`, `!`). */
function findStarts(args: readonly Arg[]): Arg[] {
  const out: Arg[] = [];
  let i = 0;
  // Global options come first: -H -L -P, -D debugopts, -Olevel.
  while (i < args.length && /^-(?:[HLP]|D|O\d*)$/.test(argText(args[i] as Arg) ?? "")) i += argText(args[i] as Arg) === "-D" ? 2 : 1;
  for (; i < args.length; i++) {
    const t = argText(args[i] as Arg);
    if (t !== undefined && (/^[-(!)]/.test(t) || t === ",")) break;
    out.push(args[i] as Arg);
  }
  return out;
}

/** Words of xargs input: blank-separated, with its own quotes and backslashes; undefined if the quotes do not close. */
function xargsWords(text: string): string[] | undefined {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end === -1) return undefined;
      word = (word ?? "") + text.slice(i + 1, end);
      i = end;
    } else if (c === "\\" && i + 1 < text.length) word = (word ?? "") + text[++i];
    else if (c === " " || c === "\t" || c === "\n") {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else word = (word ?? "") + c;
  }
  if (word !== undefined) words.push(word);
  return words;
}

/**
 * `rm`: recursive (`-r`, `-R`, `--recursive`, any abbreviation) on / or ~ (see `classifyPath`), or `--no-preserve-root`;
 * recursive or forced on a target known only at run time. Options may come after operands (GNU getopt permutes).
 * A word known only at run time may be an option or an operand (`"$x"`), an unquoted one several of each (`$x`),
 * one with known text around it only an operand (`"$dir/x"`).
 */
function removes(args: readonly Arg[], classify: (a: Arg) => PathClass): string | undefined {
  let recursive = false;
  let forced = false;
  let wild = false;
  let bare = 0;
  let unknownPaths = 0;
  let high = false;
  let afterDashes = false;
  for (const a of args) {
    const t = argText(a);
    if (!afterDashes && t === "--") {
      afterDashes = true;
      continue;
    }
    if (isUnknown(a)) {
      if (isWild(a)) wild = true;
      else if (!afterDashes && a.pieces.every((p) => p.kind === "unknown")) bare++;
      else unknownPaths++;
      continue;
    }
    if (t !== undefined && !afterDashes && t.startsWith("--") && t.length > 2) {
      const opt = t.split("=")[0] as string;
      if (opt.length >= 3 && "--recursive".startsWith(opt)) recursive = true;
      if (opt.length >= 3 && "--force".startsWith(opt)) forced = true;
      if (opt.length >= 4 && "--no-preserve-root".startsWith(opt)) return "rm -rf on / or ~";
      continue;
    }
    if (t !== undefined && !afterDashes && /^-[^-]/.test(t)) {
      recursive ||= /[rR]/.test(t);
      forced ||= t.includes("f");
      continue;
    }
    const where = classify(a);
    high ||= where === "root-or-home";
    if (where === "unresolved") unknownPaths++;
  }
  if (high && (recursive || wild || bare > 0)) return "rm -rf on / or ~";
  const unknownTarget = wild || bare > 0 || unknownPaths > 0;
  // Without -r/-f written out, one unknown word must be the option and another (or the same, unquoted) a target.
  if (((recursive || forced) && unknownTarget) || wild || bare >= 2 || (bare >= 1 && unknownPaths >= 1)) {
    return "rm -rf on a path that cannot be resolved statically";
  }
  return undefined;
}

/** `shred` on a disk, on / or ~, or on a target known only at run time. */
function shreds(args: readonly Arg[], classify: (a: Arg) => PathClass): string | undefined {
  for (const a of args) {
    const t = argText(a);
    if (t?.startsWith("-") === true) continue;
    if (t !== undefined && DISK_DEVICE.test(t)) return "shred on a disk";
    const where = classify(a);
    if (where === "root-or-home") return "shred on / or ~";
    if (where === "unresolved") return "shred on a path that cannot be resolved statically";
  }
  return undefined;
}

/** `dd of=/dev/<disk>`, or an output known only at run time. */
function dd(args: readonly Arg[]): string | undefined {
  for (const a of args) {
    const t = argText(a);
    if (t === undefined) {
      const head = a.pieces[0];
      if (isWild(a) || (head?.kind === "text" && head.text.startsWith("of="))) return "dd to a target that cannot be resolved statically";
      continue;
    }
    if (t.startsWith("of=") && DISK_DEVICE.test(t.slice(3))) return "dd to a device";
  }
  return undefined;
}

/** `chmod -R 777` (or a+rwx) on / or ~, or on a target known only at run time. */
function opensToAll(args: readonly Arg[], classify: (a: Arg) => PathClass): string | undefined {
  const texts = args.map(argText);
  const recursive = texts.some((t) => t !== undefined && (/^-[^-]*R/.test(t) || t === "--recursive"));
  const isOpen = (t: string | undefined): boolean => t !== undefined && /^0*777$|^(?:a|ugo)\+rwx$/.test(t);
  if (!recursive || !texts.some(isOpen)) return undefined;
  const targets = args.filter((a, i) => !isOpen(texts[i]) && !(texts[i]?.startsWith("-") ?? false));
  const classes = targets.map(classify);
  if (classes.includes("root-or-home")) return "chmod -R 777 /";
  if (classes.includes("unresolved")) return "chmod -R 777 on a path that cannot be resolved statically";
  return undefined;
}

/** `git push` forced (-f, --force, --force-with-lease, a `+` refspec) onto main or master. */
function forcePushesMain(args: readonly string[]): boolean {
  const push = args.indexOf("push");
  if (push === -1) return false;
  const rest = args.slice(push + 1);
  const flags = rest.filter((a) => a.startsWith("-"));
  const positional = rest.filter((a) => !a.startsWith("-"));
  const refspecs = positional.slice(1);
  const forced = flags.some((f) => f === "--force" || f.startsWith("--force-with-lease") || /^-[a-z]*f[a-z]*$/.test(f)) || refspecs.some((r) => r.startsWith("+"));
  return forced && refspecs.some((r) => /^(?:refs\/heads\/)?(?:main|master)$/.test(r.replace(/^\+/, "").split(":").at(-1) ?? ""));
}

/** A function that calls itself twice, or in a pipeline or in the background: `:(){ :|:& };:`. */
function forkBomb(name: string, body: Stmt): boolean {
  let calls = 0;
  let spawned = false;
  const visit = (s: Stmt, parallel: boolean): void => {
    const c = s.cmd;
    const p = parallel || s.background;
    if (c?.type === "call") {
      if (c.args[0]?.parts.length === 1 && c.args[0].parts[0]?.type === "lit" && c.args[0].parts[0].value === name) {
        calls++;
        spawned ||= p;
      }
    } else if (c?.type === "binary") {
      visit(c.x, p || c.op === "|" || c.op === "|&");
      visit(c.y, p || c.op === "|" || c.op === "|&");
    } else if (c?.type === "compound") c.stmts.forEach((x) => visit(x, p));
  };
  visit(body, false);
  return calls >= 2 || (calls >= 1 && spawned);
}

/**
 * Why a command line is dangerous, or undefined. It is read as bash reads it: compound commands, quoting of every
 * kind, expansions, redirections, here-documents, pipes into shells, wrappers (`sudo`, `env`, `xargs`, `find -exec`,
 * ...), and scripts handed to other shells, `MAX_NESTING` deep. What cannot be resolved statically where it decides
 * the matter is dangerous, and so is a line that does not parse and names a destructive command.
 */
export function dangerousCommand(line: string): string | undefined {
  try {
    return new Check().script(line, 0, { kind: "terminal" });
  } catch (err) {
    // A failure inside the parser is no reason to let the command through.
    return `could not be checked (${(err as Error).message})`;
  }
}

/** The command texts of a tool input: the input itself if it is a string, else its command fields. */
function commandTexts(input: unknown): string[] {
  if (typeof input === "string") return [input];
  if (typeof input !== "object" || input === null) return [];
  const out: string[] = [];
  for (const field of COMMAND_FIELDS) {
    const v = (input as Record<string, unknown>)[field];
    if (typeof v === "string") out.push(v);
    else if (Array.isArray(v) && v.every((s): s is string => typeof s === "string")) {
      // ["bash", "-lc", "rm -rf /"]: as one line (quoting each word) and each word on its own.
      out.push(v.map((s) => `'${s.replace(/'/g, "'\\''")}'`).join(" "), ...v);
    }
  }
  return out;
}

/**
 * Blocks shell-like tool calls that run destructive commands: `rm -rf` (any flag spelling) on / or ~ (and what
 * resolves there: `/tmp/..`, `~/..`, `$HOME`, `~root`, `/*`, ...), mkfs, `dd of=/dev/<disk>`, `chmod -R 777 /`,
 * `shred` of a disk, `find / -delete`, a fork bomb, a force-push to main/master, `docker compose down`,
 * `curl … | sh` / `wget … | bash`, plus the `patterns` given. Commands are parsed as bash parses them (see
 * {@link dangerousCommand}); a destructive command whose target is known only at run time is blocked too.
 *
 * Options: `tools` (globs of tool names to check, default {@link DEFAULT_SHELL_TOOLS}); `patterns` (extra regular
 * expressions over the command text, each a string or `{pattern, flags}`). Input fields read: `command`, `cmd`,
 * `script`, `commands` (strings or string arrays), or the whole input when it is a string. Responses clients: the
 * gate names `local_shell_call` items `local_shell` and `shell_call` items `shell`, both on the default list.
 * `onMatch`: `block` (default) or `ask` — hold a matching call for a person's approval instead.
 * Events: `blocked {tool, id, reason}`; with `ask`, `held` and `approved`.
 */
export function createDangerousCommandsPolicy(options: unknown, path: string): AnyPolicy {
  const o = readOptions(options, path, ["patterns", "tools", "onMatch"]);
  const onMatch = readFlagAction(o, path, "onMatch");
  const patterns = readPatterns(o, path, "patterns", { required: false }) ?? [];
  const isShell = createGlobMatcher(readStringList(o, path, "tools", { required: false }) ?? DEFAULT_SHELL_TOOLS);
  // Load the parser (and let the JIT see the checker once) with the config, not on the first tool call.
  loadShellParser();
  dangerousCommand("cd /tmp && echo 'rm -rf ./build' | sh -c \"$(cat)\" 2>/dev/null");
  return createToolCallGate({
    name: "dangerous-commands",
    decide(call): ToolCallDecision {
      if (!isShell(call.name)) return { action: "allow" };
      for (const line of commandTexts(call.input)) {
        const why = dangerousCommand(line) ?? patterns.findIndex(({ re }) => re.test(line));
        if (typeof why === "string") return { action: onMatch, reason: `${why}: ${JSON.stringify(line)}` };
        if (why !== -1) return { action: onMatch, reason: `matches dangerous pattern ${why}: ${JSON.stringify(line)}` };
      }
      return { action: "allow" };
    },
  });
}
