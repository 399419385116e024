/**
 * `dangerous-commands` against real bash. A grammar of disguises for `rm -rf /` and `rm -rf ~` (quoting, escapes,
 * blanks bash does not treat as blanks, compound commands, redirections, variables and substitutions, wrappers,
 * nested shells, pipes, here-documents, find/xargs, paths that climb) generates command lines; each runs in real
 * bash inside a chroot whose every program (rm, sh, sudo, env, find, xargs, ...) is a fake that records its argv and
 * passes wrapped commands on. Ground truth: bash made the fake rm remove / or HOME recursively (or find delete
 * them). The policy must block every such line; benign lines generated the same way must pass.
 *
 * Needs root (chroot, unshare). Runs: LUTHIEN_BASH_VARIANTS (default 1000) disguises and a third as many benign
 * lines, seeded by LUTHIEN_BASH_SEED (default fixed, so CI runs the same lines).
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import fc from "fast-check";
import { dangerousCommand } from "../src/policies/dangerous-commands";

const RUNS = Number(process.env["LUTHIEN_BASH_VARIANTS"] ?? 1000);
const SEED = Number(process.env["LUTHIEN_BASH_SEED"] ?? 20261125);
const HOME = "/home/u";
const CWD = "/work/proj";

// ---------------------------------------------------------------------------------------------------------------
// The sandbox: a chroot with the real bash and fake programs.

const RECORD = `__rec() { { printf '%s\\0' CALL "\${0##*/}" "$(builtin pwd -P)" "$#"; printf '%s\\0' "$@"; } >> /log; }; __rec "$@"`;

/** Fakes: record, then pass a wrapped command on the way the real program would (never doing anything else). */
const FAKES: Record<string, string> = {
  rm: "",
  shred: "",
  mkfs: "",
  dd: "",
  chmod: "",
  curl: "",
  wget: "",
  git: "",
  ls: "",
  grep: "",
  base64: "",
  ssh: "",
  echo: 'builtin echo "$@"',
  printf: 'builtin printf "$@"',
  true: "exit 0",
  false: "exit 1",
  cat: 'if [[ $# -eq 0 ]]; then while IFS= read -r l || [[ -n $l ]]; do builtin printf "%s\\n" "$l"; done; else for f; do builtin printf "%s" "$(<"$f")"; done; fi',
  sh: 'exec /bin/bash "$@"',
  dash: 'exec /bin/bash "$@"',
  ash: 'exec /bin/bash "$@"',
  sudo: 'while [[ $# -gt 0 ]]; do case $1 in -[ughpCDrtUT]) shift 2;; --) shift; break;; -*) shift;; *) break;; esac; done; exec "$@"',
  doas: 'while [[ $# -gt 0 ]]; do case $1 in -[uC]) shift 2;; --) shift; break;; -*) shift;; *) break;; esac; done; exec "$@"',
  env: 'while [[ $# -gt 0 ]]; do case $1 in -i|-|--ignore-environment) shift;; -[uC]) shift 2;; -S) read -ra sp <<< "$2"; shift 2; set -- "${sp[@]}" "$@"; break;; --) shift; break;; -*) shift;; *=*) export "$1"; shift;; *) break;; esac; done; [[ $# -eq 0 ]] && exit 0; exec "$@"',
  nohup: 'exec "$@"',
  setsid: 'exec "$@"',
  unbuffer: 'exec "$@"',
  timeout: 'while [[ $# -gt 0 ]]; do case $1 in -[sk]) shift 2;; -*) shift;; *) break;; esac; done; shift; exec "$@"',
  nice: 'while [[ $# -gt 0 ]]; do case $1 in -n) shift 2;; -*) shift;; *) break;; esac; done; exec "$@"',
  ionice: 'while [[ $# -gt 0 ]]; do case $1 in -[cnp]) shift 2;; -*) shift;; *) break;; esac; done; exec "$@"',
  stdbuf: 'while [[ $# -gt 0 ]]; do case $1 in -[ioe]) shift 2;; -*) shift;; *) break;; esac; done; exec "$@"',
  time: 'while [[ $# -gt 0 ]]; do case $1 in -[fo]) shift 2;; -*) shift;; *) break;; esac; done; exec "$@"',
  busybox: 'a=$1; shift; exec "$a" "$@"',
  xargs: [
    "nul=; rep=",
    'while [[ $# -gt 0 ]]; do case $1 in -0|--null) nul=1; shift;; -I) rep=$2; shift 2;; -I*) rep=${1#-I}; shift;; -i) rep="{}"; shift;; -[nLPsd]) shift 2;; --) shift; break;; -*) shift;; *) break;; esac; done',
    "[[ $# -eq 0 ]] && set -- echo",
    'if [[ -n $nul ]]; then mapfile -d "" items; elif [[ -n $rep ]]; then mapfile -t items; else read -r -d "" -a items; fi',
    'if [[ -n $rep ]]; then for it in "${items[@]}"; do "${@//"$rep"/"$it"}"; done; else "$@" "${items[@]}"; fi',
  ].join("\n"),
  find: [
    "paths=(); while [[ $# -gt 0 && $1 != -* && $1 != '(' && $1 != '!' ]]; do paths+=(\"$1\"); shift; done",
    "[[ ${#paths[@]} -eq 0 ]] && paths=(.); mindepth=0",
    "while [[ $# -gt 0 ]]; do case $1 in",
    "  -mindepth) mindepth=$2; shift 2;; -maxdepth|-name|-type) shift 2;;",
    "  -exec|-execdir|-ok|-okdir) shift; cmd=(); while [[ $# -gt 0 && $1 != ';' && $1 != '+' ]]; do cmd+=(\"$1\"); shift; done; shift",
    '    for p in "${paths[@]}"; do if [[ $mindepth -ge 1 ]]; then t=("$p"/*); else t=("$p"); fi; run=()',
    '      for w in "${cmd[@]}"; do if [[ $w == "{}" ]]; then run+=("${t[@]}"); else run+=("${w//"{}"/"$p"}"); fi; done; "${run[@]}"; done;;',
    "  *) shift;; esac; done",
  ].join("\n"),
};

interface Sandbox {
  root: string;
  run(command: string): { calls: string[][]; cwds: string[]; status: number | null };
}

function buildSandbox(): Sandbox {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "luthien-bash-"));
  const bash = fs.realpathSync("/bin/bash");
  const libs = execFileSync("ldd", [bash], { encoding: "utf8" }).match(/\/\S+/g) ?? [];
  for (const file of ["/bin/bash", ...libs]) {
    fs.mkdirSync(path.join(root, path.dirname(file)), { recursive: true });
    fs.copyFileSync(file === "/bin/bash" ? bash : fs.realpathSync(file), path.join(root, file));
  }
  fs.chmodSync(path.join(root, "bin/bash"), 0o755);
  for (const dir of ["usr/bin", "etc", "tmp", "proc", "dev", "work/proj/build", `${HOME.slice(1)}/x`, "home/v"]) fs.mkdirSync(path.join(root, dir), { recursive: true });
  for (const file of [`${HOME.slice(1)}/a`, `${HOME.slice(1)}/.bashrc`, "work/proj/x.o", "work/proj/build/y.o"]) fs.writeFileSync(path.join(root, file), "");
  // ~root and ~u are both HOME, so every spelling of a home means the same directory.
  fs.writeFileSync(path.join(root, "etc/passwd"), `root:x:0:0:root:${HOME}:/bin/bash\nu:x:1000:1000::${HOME}:/bin/bash\n`);
  try {
    execFileSync("mknod", [path.join(root, "dev/null"), "c", "1", "3"]);
  } catch {
    fs.writeFileSync(path.join(root, "dev/null"), "");
  }
  fs.symlinkSync("/proc/self/fd", path.join(root, "dev/fd"));
  fs.symlinkSync("/proc/self/fd/0", path.join(root, "dev/stdin"));
  fs.writeFileSync(path.join(root, "log"), "");
  for (const [name, body] of Object.entries(FAKES)) {
    for (const dir of ["bin", "usr/bin"]) fs.writeFileSync(path.join(root, dir, name), `#!/bin/bash\n${RECORD}\n${body}\n`, { mode: 0o755 });
  }
  fs.writeFileSync(path.join(root, "run"), `#!/bin/bash\ncd ${CWD} || exit 99\nexec /bin/bash --norc --noprofile -c "$1"\n`, { mode: 0o755 });
  const baseline = new Map(["", "work/proj", HOME.slice(1)].map((d) => [d, new Set(fs.readdirSync(path.join(root, d)))]));
  return {
    root,
    run(command) {
      fs.writeFileSync(path.join(root, "log"), "");
      const r = spawnSync("/usr/bin/unshare", ["--mount", "--pid", "--fork", "--kill-child", `--mount-proc=${path.join(root, "proc")}`, "/usr/sbin/chroot", root, "/run", command], {
        env: { PATH: "/bin:/usr/bin", HOME },
        input: "",
        timeout: 5000,
        killSignal: "SIGKILL",
        encoding: "utf8",
      });
      const fields = fs.readFileSync(path.join(root, "log"), "utf8").split("\0");
      const calls: string[][] = [];
      const cwds: string[] = [];
      for (let i = 0; i < fields.length; i++) {
        if (fields[i] !== "CALL") continue;
        const argc = Number(fields[i + 3]);
        calls.push([fields[i + 1] as string, ...fields.slice(i + 4, i + 4 + argc)]);
        cwds.push(fields[i + 2] as string);
        i += 3 + argc;
      }
      // Undo what redirections created, so the next line globs the same tree.
      for (const [dir, names] of baseline) {
        for (const n of fs.readdirSync(path.join(root, dir))) if (!names.has(n)) fs.rmSync(path.join(root, dir, n), { recursive: true, force: true });
      }
      return { calls, cwds, status: r.status };
    },
  };
}

/** Ground truth: rm run recursively on / or HOME (or an ancestor, or on all that is in one), or find deleting them. */
function destroyed(sandbox: Sandbox, calls: string[][], cwds: string[]): boolean {
  const high = (p: string): boolean => p === "/" || p === HOME || HOME.startsWith(`${p}/`);
  const everything = (dir: string, targets: string[]): boolean => {
    const entries = fs.readdirSync(path.join(sandbox.root, dir)).map((n) => path.posix.join(dir, n));
    return entries.length > 0 && entries.every((e) => targets.includes(e));
  };
  return calls.some(([name, ...args], i) => {
    const cwd = cwds[i] as string;
    const dashes = args.indexOf("--");
    const options = dashes === -1 ? args : args.slice(0, dashes);
    const operands = args.filter((a, j) => (dashes !== -1 && j > dashes) || !(a.startsWith("-") && a.length > 1));
    const targets = operands.map((a) => path.posix.resolve(cwd, a));
    if (name === "rm") {
      const recursive = options.some((a) => /^-[^-]*[rR]/.test(a) || (a.length >= 3 && "--recursive".startsWith(a)));
      return recursive && (targets.some(high) || everything("/", targets) || everything(HOME, targets));
    }
    if (name === "find" && args.includes("-delete")) {
      const starts = args.slice(
        0,
        Math.max(
          0,
          args.findIndex((a) => /^[-(!]/.test(a)),
        ),
      );
      return (starts.length === 0 ? [cwd] : starts.map((s) => path.posix.resolve(cwd, s))).some(high);
    }
    return false;
  });
}

// ---------------------------------------------------------------------------------------------------------------
// The grammar of disguises.

const sq = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;
const dq = (s: string): string => `"${s.replace(/[\\"$`]/g, "\\$&")}"`;
const ansi = (s: string): string => `$'${[...s].map((c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`).join("")}'`;

const ROOT_TARGETS = [
  "/",
  "//",
  "/.",
  "/./",
  "///",
  "/tmp/..",
  "/tmp/../",
  "/usr/..",
  '"/"',
  "'/'",
  "\\/",
  "$'/'",
  "$'\\x2f'",
  "$'\\057'",
  '$"/"',
  '"$(echo /)"',
  "`echo /`",
  "$(printf /)",
  "${x:-/}",
  "/{,}",
  "./../..",
  "../../",
  "../../.",
  "/*",
  "/tm?/..",
  "/t*/..",
  "/[t]mp/..",
  '/"."',
  "/.'/'",
  "$(printf '\\057')",
  "\"$(echo -e '\\x2f')\"",
  "~+/../..",
  "$PWD/../..",
  '"${PWD%/*/*}"',
  "$(cd / && pwd)",
  "/@(tmp)/..",
  "{/,/tmp}",
  "/usr/../bin/..",
];
const HOME_TARGETS = [
  "~",
  "~/",
  "~/.",
  "~/x/..",
  '"$HOME"',
  "$HOME",
  "${HOME}",
  '"${HOME}"/',
  "$HOME/",
  "~root",
  "~u",
  "~/..",
  "~/*",
  "${HOME%/}",
  "$(echo ~)",
  '"$(echo $HOME)"',
  "../../home/u",
  "/home/u",
  "/home/*",
  "/home/u/",
  "~/../u",
  "$HOME/x/..",
  "~/.*",
  "${HOME:-/x}",
  '"$(eval echo ~u)"',
  "~u/",
];
const target = fc.constantFrom(...ROOT_TARGETS, ...HOME_TARGETS);
const program = fc.constantFrom(
  "rm",
  "\\rm",
  "r\\m",
  "'rm'",
  '"rm"',
  "r''m",
  "/bin/rm",
  "/usr/bin/rm",
  "$'rm'",
  "$'\\x72m'",
  "$'\\162m'",
  '"$(echo rm)"',
  "`echo rm`",
  "${r:-rm}",
  "r$(:)m",
  "$'r'm",
  "{rm,}",
  "\\r\\m",
  'r"m"',
  "$(printf rm)",
  "$(printf '\\x72m')",
  "$(echo -e '\\x72m')",
  '"${RM:-rm}"',
  "/bin/r?",
  "/usr/bin/[r]m",
  "/bin/../bin/rm",
  "./../../bin/rm",
);
const wrapper = fc.constantFrom(
  "",
  "command ",
  "builtin ",
  "env ",
  "sudo ",
  "sudo -u x ",
  "nohup ",
  "timeout 5 ",
  "nice ",
  "nice -n 5 ",
  "env -i ",
  "exec -a x ",
  "busybox ",
  "time ",
  "time -p ",
  "x=1 ",
  "env A=1 ",
  "stdbuf -o0 ",
  "setsid ",
  "ionice -c3 ",
  "sudo env ",
  "command -p ",
  "\\command ",
  "doas ",
  "/usr/bin/env ",
  "env -- ",
  "sudo -- ",
);
const flags = fc.constantFrom(
  "-rf",
  "-fr",
  "-r -f",
  "-R -f",
  "-Rf",
  "--recursive --force",
  "-r",
  "-R",
  "--rec",
  "--recursive",
  "-rfv",
  "-f -r",
  "$'-rf'",
  '"-rf"',
  "-r''f",
  "-{r,f}",
  "--re --fo",
  "-vrf",
  "-I -r",
  "-\\r\\f",
  "-r --",
  "-d -r",
  "-rf --",
  "-rf --no-preserve-root",
  "--no-preserve-root -r",
  "$(echo -rf)",
  "-$(echo r)f",
);
const blank = fc.constantFrom(" ", "  ", "\t", " \\\n ", "\\\n ");
const glue = fc.constantFrom("", ">x", " 2>/dev/null", " >/dev/null 2>&1", " </dev/null", " &>/dev/null", "2>/dev/null", ">>x");

/** A simple command: the wrapper, program, flags and target in some order, blanks and glued redirections. */
const simple = fc
  .tuple(wrapper, program, flags, target, blank, glue, fc.boolean())
  .map(([w, p, f, t, b, g, after]) => (after ? `${w}${p}${b}${t}${g}${b}${f}` : `${w}${p}${b}${f}${b}${t}${g}`));

/** The target reached other ways: find, xargs, variables, word splitting. */
const indirect = target.chain((t) =>
  fc.constantFrom(
    `echo ${t} | xargs rm -rf`,
    `xargs rm -rf <<< ${t}`,
    `printf '%s\\0' ${t} | xargs -0 rm -rf`,
    `echo ${t} | xargs -I{} rm -rf {}`,
    `find ${t} -maxdepth 0 -exec rm -rf {} +`,
    `find ${t} -maxdepth 0 -exec rm -rf {} \\;`,
    `find ${t} -mindepth 1 -exec rm -rf {} +`,
    `find ${t} -delete`,
    `find ${t} -name '*' -delete`,
    `x=${t}; rm -rf $x`,
    `x=${t}; rm -rf "$x"`,
    `set -- ${t}; rm -rf "$1"`,
    `a=(${t}); rm -rf "\${a[@]}"`,
    `read -r x <<< ${t}; rm -rf "$x"`,
    `declare x=${t}; rm -rf $x`,
    `p=rm; $p -rf ${t}`,
    `f=-rf; rm $f ${t}`,
    `r=r; \${r}m -rf ${t}`,
    `x="rm -rf ${t}"; $x`,
    `a=(rm -rf ${t}); "\${a[@]}"`,
    `IFS=,; x=rm,-rf,${t}; $x`,
    `rm -rf $(echo ${t})`,
    `cd ${t} && rm -rf .`,
    `cd / && rm -rf ${t}`,
    `hash -p /bin/rm del; del -rf ${t}`,
    `alias del=rm; shopt -s expand_aliases\ndel -rf ${t}`,
    `del() { rm "$@"; }; del -rf ${t}`,
    `printf -v x %s ${t}; rm -rf "$x"`,
    `echo ${t} | xargs -n1 rm -rf`,
    `echo ${t} | xargs -- rm -rf`,
    `xargs rm -rf <<EOF\n${t}\nEOF\n:`,
    `find ${t} -maxdepth 0 -execdir rm -rf {} \\;`,
    `find ${t} -maxdepth 0 -ok rm -rf {} \\;`,
    `a=(${t}); rm -rf \${a[0]}`,
    `y=${t}; x=y; rm -rf \${!x}`,
    `rm -rf $(cat <(echo ${t}))`,
    `exec rm -rf ${t}`,
    `command -- rm -rf ${t}`,
    `ls() { rm -rf ${t}; }; ls`,
    `$(echo rm -rf ${t})`,
    `$(echo rm) -rf ${t}`,
    `sh <<-EOF\n\trm -rf ${t}\n\tEOF\n:`,
    `rm -rf ${t} 2>&1 | tee /dev/null`,
  ),
);

/** Ways to wrap a command line in another: compound commands, lists, pipes, substitutions. */
const compound = fc.constantFrom(
  (c: string) => `{ ${c}; }`,
  (c: string) => `{ ${c};}`,
  (c: string) => `( ${c} )`,
  (c: string) => `(${c})`,
  (c: string) => `if true; then ${c}; fi`,
  (c: string) => `if false; then :; else ${c}; fi`,
  (c: string) => `while true; do ${c}; break; done`,
  (c: string) => `until false; do ${c}; break; done`,
  (c: string) => `for i in 1; do ${c}; done`,
  (c: string) => `for ((i=0;i<1;i++)); do ${c}; done`,
  (c: string) => `case x in x) ${c};; esac`,
  (c: string) => `f() { ${c}; }; f`,
  (c: string) => `function f { ${c}; }; f`,
  (c: string) => `f() (${c}); f`,
  (c: string) => `! ${c}`,
  (c: string) => `time ${c}`,
  (c: string) => `true && ${c}`,
  (c: string) => `false || ${c}`,
  (c: string) => `${c}; true`,
  (c: string) => `true; ${c}`,
  (c: string) => `true\n${c}`,
  (c: string) => `: | ${c}`,
  (c: string) => `${c} | cat`,
  (c: string) => `${c} &\nwait`,
  (c: string) => `coproc ${c}\nwait`,
  (c: string) => `[[ 1 ]] && ${c}`,
  (c: string) => `(( 1 )) && ${c}`,
  (c: string) => `{ ${c}; } 2>/dev/null`,
  (c: string) => `x=$(${c})`,
  (c: string) => `echo "$(${c})"`,
  (c: string) => `: $(${c})`,
  (c: string) => `cat <(${c})`,
  (c: string) => `echo hi > >(${c})`,
  (c: string) => `trap ${sq(c)} EXIT`,
);

/** Text before the command that a reader unlike bash would take for a comment start or a blank. */
const prefix = fc.constantFrom(
  (c: string) => `echo a\r#; ${c}`,
  (c: string) => `echo a\u00a0#; ${c}`,
  (c: string) => `echo a\u3000#; ${c}`,
  (c: string) => `echo a\f#; ${c}`,
  (c: string) => `echo a\v#; ${c}`,
  (c: string) => `: x#; ${c}`,
  (c: string) => `echo \\#; ${c}`,
  (c: string) => `echo a#b; ${c}`,
  (c: string) => `echo x\\\r\n${c}`,
  (c: string) => `echo a\r\n${c}`,
  (c: string) => `#!/bin/bash\n${c}`,
);

/** Handing the command to another shell. */
const nested = fc.constantFrom(
  (c: string) => `sh -c ${sq(c)}`,
  (c: string) => `bash -c ${dq(c)}`,
  (c: string) => `bash -lc ${sq(c)}`,
  (c: string) => `bash -c ${sq(c)} x`,
  (c: string) => `sh -ec ${sq(c)}`,
  (c: string) => `eval ${sq(c)}`,
  (c: string) => `eval ${dq(c)}`,
  (c: string) => `eval ${ansi(c)}`,
  (c: string) => `bash <<< ${sq(c)}`,
  (c: string) => `sh <<< ${ansi(c)}`,
  (c: string) => `bash <<'EOF'\n${c}\nEOF\n:`,
  (c: string) => `sh <<EOF\n${c.replace(/[\\$`]/g, "\\$&")}\nEOF\n:`,
  (c: string) => `echo ${sq(c)} | sh`,
  (c: string) => `printf '%s\\n' ${sq(c)} | bash`,
  (c: string) => `echo ${sq(c)} | env sh`,
  (c: string) => `echo ${sq(c)} | /bin/sh`,
  (c: string) => `echo ${sq(c)} | busybox sh`,
  (c: string) => `echo ${sq(c)} | sh -s`,
  (c: string) => `cat <<'EOF' | sh\n${c}\nEOF\n:`,
  (c: string) => `bash <(echo ${sq(c)})`,
  (c: string) => `source <(echo ${sq(c)})`,
  (c: string) => `. /dev/stdin <<< ${sq(c)}`,
  (c: string) => `sudo sh -c ${sq(c)}`,
  (c: string) => `env -i bash -c ${sq(c)}`,
  (c: string) => `printf '%s' ${sq(c)} | xargs -0 bash -c`,
  (c: string) => `shopt -s expand_aliases\nalias x=${sq(c)}\nx`,
  (c: string) => `command eval ${sq(c)}`,
  (c: string) => `builtin eval ${sq(c)}`,
  (c: string) => `x=${sq(c)}; eval "$x"`,
  (c: string) => `bash -c "$(echo ${sq(c)})"`,
);

const layer = fc.oneof({ weight: 3, arbitrary: compound }, { weight: 2, arbitrary: prefix }, { weight: 2, arbitrary: nested });

/** For benign lines: every layer but the ones whose script is known only at run time (refused by design). */
const readableLayer = layer.filter((wrap) => !wrap("X").includes('eval "$x"'));

/** A disguised `rm -rf /` or `rm -rf ~`: a core command inside up to three layers. */
const disguise = fc
  .tuple(fc.oneof({ weight: 3, arbitrary: simple }, { weight: 2, arbitrary: indirect }), fc.array(layer, { maxLength: 3 }))
  .map(([core, layers]) => layers.reduce((c, wrap) => wrap(c), core));

/** Benign commands, wrapped the same ways (but only in layers that keep them readable). */
const BENIGN_CORES = [
  "ls -la",
  "rm -rf ./build",
  "rm -rf node_modules",
  "rm -rf /tmp/build-123",
  "git status",
  "git push origin feature",
  'echo "rm -rf /"',
  'grep -r "rm -rf /" .',
  "cat ~/.bashrc",
  "find . -name '*.o' -delete",
  "rm -rf build/*.o",
  "rm -f x.o",
  "rm ~/notes.txt",
  "rm -rf ~/x/cache",
  "rm -rf $HOME/.cache/luthien",
  "rm -rf ../build",
  "find . -name '*.o' | xargs rm -f",
  "find build -type f -exec rm -f {} +",
  "echo 'rm -rf ~' > notes.txt",
  "printf '%s\\n' 'rm -rf /'",
  "rm -rf -- ./-weird",
];
const benign = fc
  .tuple(fc.constantFrom(...BENIGN_CORES), fc.constantFrom("", "sudo ", "env ", "nohup ", "timeout 5 ", "nice ", "command "), fc.array(readableLayer, { maxLength: 2 }))
  .map(([core, w, layers]) => layers.reduce((c, wrap) => wrap(c), `${w}${core}`));

// ---------------------------------------------------------------------------------------------------------------

const canSandbox = process.getuid?.() === 0 && fs.existsSync("/usr/sbin/chroot") && fs.existsSync("/usr/bin/unshare");

(canSandbox ? describe : describe.skip)("dangerous-commands against real bash", () => {
  let sandbox: Sandbox;
  beforeAll(() => {
    sandbox = buildSandbox();
  });
  afterAll(() => {
    fs.rmSync(sandbox.root, { recursive: true, force: true });
  });

  it("the sandbox's bash runs rm -rf / and rm -rf ~ through the fakes, and not ls", () => {
    const root = sandbox.run("rm -rf /");
    expect(destroyed(sandbox, root.calls, root.cwds)).toBe(true);
    const home = sandbox.run("sudo env -i sh -c 'rm -rf ~'");
    expect(home.calls.map((c) => c[0])).toEqual(["sudo", "env", "sh", "rm"]);
    expect(destroyed(sandbox, home.calls, home.cwds)).toBe(true);
    const ls = sandbox.run("ls -la; rm -rf ./build");
    expect(destroyed(sandbox, ls.calls, ls.cwds)).toBe(false);
  });

  it("blocks every generated disguise that bash really ran", () => {
    const stats = { generated: 0, syntaxErrors: 0, ranDestructively: 0, blocked: 0, blockedAnyway: 0, policyMsTotal: 0, policyMsMax: 0, bashMsTotal: 0, slowest: "" };
    const missed: string[] = [];
    for (const line of fc.sample(disguise, { numRuns: RUNS, seed: SEED })) {
      stats.generated++;
      if (spawnSync("/bin/bash", ["-n", "-c", line], { encoding: "utf8" }).status !== 0) stats.syntaxErrors++;
      const t0 = performance.now();
      const run = sandbox.run(line);
      const t1 = performance.now();
      const why = dangerousCommand(line);
      const ms = performance.now() - t1;
      stats.bashMsTotal += t1 - t0;
      stats.policyMsTotal += ms;
      if (ms > stats.policyMsMax) Object.assign(stats, { policyMsMax: ms, slowest: line });
      if (why !== undefined) stats.blocked++;
      if (!destroyed(sandbox, run.calls, run.cwds)) {
        if (why !== undefined) stats.blockedAnyway++;
        continue;
      }
      stats.ranDestructively++;
      if (why === undefined) missed.push(line);
    }
    console.log(`disguises: ${JSON.stringify(stats)}`);
    expect(missed).toEqual([]);
    // The grammar must mostly produce lines bash really runs destructively, or the test proves little.
    expect(stats.ranDestructively).toBeGreaterThan(RUNS * 0.6);
  }, 600_000);

  it("allows every generated benign command (and bash agrees it is harmless)", () => {
    // Only lines bash accepts: one that does not parse and names rm is refused by design.
    const lines = fc.sample(benign, { numRuns: Math.ceil(RUNS / 3), seed: SEED }).filter((line) => spawnSync("/bin/bash", ["-n", "-c", line]).status === 0);
    const refused = lines.filter((line) => dangerousCommand(line) !== undefined).map((line) => ({ line, why: dangerousCommand(line) }));
    const harmful = lines.filter((line) => {
      const run = sandbox.run(line);
      return destroyed(sandbox, run.calls, run.cwds);
    });
    console.log(`benign: ${lines.length} generated (bash accepts them), ${lines.length - refused.length} allowed`);
    expect(harmful).toEqual([]);
    expect(refused).toEqual([]);
  }, 600_000);
});
