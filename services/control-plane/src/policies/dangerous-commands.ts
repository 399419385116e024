import { createGlobMatcher, createToolCallGate, type AnyPolicy, type ToolCallDecision } from "@luthien/policy-sdk";
import { readOptions, readPatterns, readStringList } from "./options";
import { splitCommands, unwrap } from "./shell";

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

/** How deep `bash -c "..."` / `eval "..."` / `ssh host "..."` nest before the checker stops looking. */
const MAX_NESTING = 4;

/** Why a simple command (already unwrapped) is dangerous, or undefined. */
function checkCommand(argv: readonly string[], depth: number): string | undefined {
  const [program = "", ...args] = argv;
  switch (program) {
    case "rm":
      return removesRootOrHome(args) ? "rm -rf on / or ~" : undefined;
    case "chmod":
      return opensRootToAll(args) ? "chmod -R 777 /" : undefined;
    case "dd":
      return args.some((a) => /^of=\/dev\/(?:sd|hd|vd|xvd|nvme|mmcblk|disk|rdisk|md|dm-|mapper\/|root)/.test(a)) ? "dd to a device" : undefined;
    case "git":
      return forcePushesMain(args) ? "force-push to main/master" : undefined;
    case "docker":
      return args.includes("compose") && args.includes("down") ? "docker compose down" : undefined;
    case "docker-compose":
      return args.includes("down") ? "docker compose down" : undefined;
    default:
      break;
  }
  if (/^mkfs(?:\.\w+)?$/.test(program)) return "mkfs (formats a filesystem)";
  // Scripts handed to another shell are commands too.
  if (depth < MAX_NESTING) {
    let nested: string | undefined;
    if (/^(?:ba|z|k|da|fi|c|tc)?sh$/.test(program)) {
      const flag = args.findIndex((a) => /^-[a-z]*c[a-z]*$/.test(a));
      if (flag !== -1) nested = args[flag + 1];
    } else if (program === "eval" || program === "ssh" || program === "su") {
      nested = args.filter((a) => !a.startsWith("-")).slice(program === "eval" ? 0 : 1).join(" ");
    }
    if (nested !== undefined && nested !== "") return dangerousCommand(nested, depth + 1);
  }
  return undefined;
}

function shortFlags(args: readonly string[]): string {
  const end = args.indexOf("--");
  return (end === -1 ? args : args.slice(0, end)).filter((a) => /^-[A-Za-z]/.test(a)).join("");
}

/** `rm` with -r/-R/--recursive on /, /*, ~, ~/, $HOME (or anything with --no-preserve-root). */
function removesRootOrHome(args: readonly string[]): boolean {
  if (args.includes("--no-preserve-root")) return true;
  const recursive = /[rR]/.test(shortFlags(args)) || args.includes("--recursive");
  if (!recursive) return false;
  const end = args.indexOf("--");
  const targets = args.filter((a, i) => (end !== -1 && i > end) || !a.startsWith("-"));
  return targets.some(isRootOrHome);
}

/** `/`, `/*`, `//`, `/.`, `~`, `~/`, `~/*`, `$HOME`, `${HOME}/` ... (quotes are already gone). */
function isRootOrHome(path: string): boolean {
  const p = path.replace(/\/+/g, "/").replace(/(?:\/[.*]?)+$/, "");
  return p === "" || p === "~" || p === "$HOME" || p === "${HOME}";
}

/** `chmod -R 777` (or a+rwx) on / or ~. */
function opensRootToAll(args: readonly string[]): boolean {
  const recursive = /R/.test(shortFlags(args)) || args.includes("--recursive");
  const open = args.some((a) => /^0*777$|^(?:a|ugo)\+rwx$/.test(a));
  return recursive && open && args.some((a) => !a.startsWith("-") && !/^0*777$|^(?:a|ugo)\+rwx$/.test(a) && isRootOrHome(a));
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

/** Whole-line checks: what spans several commands (pipes) or is not a command at all (a fork bomb). */
const LINE_CHECKS: readonly { re: RegExp; why: string }[] = [
  { re: /\b(?:curl|wget)\b[^|;&\n]*\|\s*(?:sudo\s+(?:-\S+\s+)*)?(?:ba|z|k|da|fi)?sh\b/, why: "piping a download into a shell" },
  { re: /\b(?:ba|z|k|da)?sh\b[^|;&\n]*(?:\$\(|<\(|`)\s*(?:curl|wget)\b/, why: "running a downloaded script" },
];
const FORK_BOMB = /([\w:.]+)\(\)\{\1\|\1&\};\1/;

/** Why a command line is dangerous, or undefined. */
export function dangerousCommand(line: string, depth = 0): string | undefined {
  if (FORK_BOMB.test(line.replace(/\s+/g, ""))) return "fork bomb";
  for (const { re, why } of LINE_CHECKS) if (re.test(line)) return why;
  for (const words of splitCommands(line)) {
    const why = checkCommand(unwrap(words), depth);
    if (why !== undefined) return why;
  }
  return undefined;
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
 * Blocks shell-like tool calls that run destructive commands: `rm -rf` (any flag spelling) on / or ~, mkfs,
 * `dd of=/dev/<disk>`, `chmod -R 777 /`, a fork bomb, a force-push to main/master, `docker compose down`,
 * `curl … | sh` / `wget … | bash`, plus the `patterns` given. Commands are read like a shell reads them (quotes,
 * `;`/`&&`/`|`, `$(...)`, wrappers such as `sudo`/`env`/`xargs`, scripts passed to `bash -c`/`eval`/`ssh`).
 *
 * Options: `tools` (globs of tool names to check, default {@link DEFAULT_SHELL_TOOLS}); `patterns` (extra regular
 * expressions over the command text, each a string or `{pattern, flags}`). Input fields read: `command`, `cmd`,
 * `script`, `commands` (strings or string arrays), or the whole input when it is a string. Responses clients: the
 * gate names `local_shell_call` items `local_shell` and `shell_call` items `shell`, both on the default list.
 * Events: `blocked {tool, id, reason}`.
 */
export function createDangerousCommandsPolicy(options: unknown, path: string): AnyPolicy {
  const o = readOptions(options, path, ["patterns", "tools"]);
  const patterns = readPatterns(o, path, "patterns", { required: false }) ?? [];
  const isShell = createGlobMatcher(readStringList(o, path, "tools", { required: false }) ?? DEFAULT_SHELL_TOOLS);
  return createToolCallGate({
    name: "dangerous-commands",
    decide(call): ToolCallDecision {
      if (!isShell(call.name)) return { action: "allow" };
      for (const line of commandTexts(call.input)) {
        const why = dangerousCommand(line) ?? patterns.findIndex(({ re }) => re.test(line));
        if (typeof why === "string") return { action: "block", reason: `${why}: ${JSON.stringify(line)}` };
        if (why !== -1) return { action: "block", reason: `matches dangerous pattern ${why}: ${JSON.stringify(line)}` };
      }
      return { action: "allow" };
    },
  });
}
