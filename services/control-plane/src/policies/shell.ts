/**
 * A small shell reader for command checks: enough of POSIX sh to find the simple commands in a command line and
 * their words, not to run anything. Quotes and backslashes are honoured; `;`, `&`, `|`, newlines, parentheses and
 * backticks separate commands (so `echo $(rm -rf /)` yields `rm -rf /` as a command of its own); `#` starts a comment.
 */
export function splitCommands(line: string): string[][] {
  const commands: string[][] = [];
  let words: string[] = [];
  let word: string | undefined;
  const endWord = (): void => {
    if (word !== undefined) words.push(word);
    word = undefined;
  };
  const endCommand = (): void => {
    endWord();
    if (words.length > 0) commands.push(words);
    words = [];
  };
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      word = (word ?? "") + line.slice(i + 1, end === -1 ? undefined : end);
      i = end === -1 ? line.length : end;
    } else if (c === '"') {
      let text = "";
      for (i++; i < line.length && line[i] !== '"'; i++) {
        if (line[i] === "\\" && i + 1 < line.length && '"\\$`'.includes(line[i + 1] as string)) i++;
        text += line[i];
      }
      word = (word ?? "") + text;
    } else if (c === "\\") {
      word = (word ?? "") + (line[i + 1] ?? "");
      i++;
    } else if (c === "#" && word === undefined) {
      const end = line.indexOf("\n", i);
      i = end === -1 ? line.length : end - 1;
    } else if (/\s/.test(c)) {
      if (c === "\n") endCommand();
      else endWord();
    } else if (";&|()`".includes(c)) {
      endCommand();
    } else {
      word = (word ?? "") + c;
    }
  }
  endCommand();
  return commands;
}

/** Commands that run the command after them: their own options (and option arguments) are skipped. */
const WRAPPERS: Readonly<Record<string, readonly string[]>> = {
  sudo: ["-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-U"],
  doas: ["-u", "-C"],
  env: ["-u", "-C", "-S"],
  nohup: [],
  time: [],
  nice: ["-n"],
  ionice: ["-c", "-n"],
  command: [],
  exec: [],
  builtin: [],
  stdbuf: [],
  timeout: ["-s", "-k"],
  xargs: ["-I", "-n", "-P", "-d", "-E", "-L", "-s"],
};

/**
 * The words of a simple command without leading variable assignments and wrappers (`sudo -u x`, `env A=1`,
 * `nohup`, `timeout 5`, `xargs -n1`, ...); the program is reduced to its base name (`/bin/rm` → `rm`).
 */
export function unwrap(words: readonly string[]): string[] {
  let i = 0;
  for (;;) {
    while (i < words.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[i] as string)) i++;
    const program = baseName(words[i] ?? "");
    const takesArg = WRAPPERS[program];
    if (takesArg === undefined) break;
    i++;
    while (i < words.length && (words[i] as string).startsWith("-")) {
      i += takesArg.includes(words[i] as string) ? 2 : 1;
    }
    // timeout's duration comes before the command.
    if (program === "timeout" && /^\d/.test(words[i] ?? "")) i++;
  }
  const rest = words.slice(i);
  if (rest.length > 0) rest[0] = baseName(rest[0] as string);
  return rest;
}

function baseName(program: string): string {
  const slash = program.lastIndexOf("/");
  return slash === -1 ? program : program.slice(slash + 1);
}
