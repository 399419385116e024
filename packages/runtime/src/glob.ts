/**
 * A matcher for shell-style globs: `*` is any run of characters (including none), `?` one character; everything
 * else is literal and the whole name must match (`gpt-4o*` matches `gpt-4o-mini`, not `my-gpt-4o`).
 */
export function createGlobMatcher(patterns: string | readonly string[]): (name: string) => boolean {
  const list = typeof patterns === "string" ? [patterns] : patterns;
  const res = list.map(
    (p) =>
      new RegExp(
        `^${p
          .replace(/[.+^${}()|[\]\\]/g, "\\$&")
          .replace(/\*/g, "[\\s\\S]*")
          .replace(/\?/g, "[\\s\\S]")}$`,
      ),
  );
  return (name) => res.some((re) => re.test(name));
}
