import { createRegexReplacer, type RegexReplacerOptions } from "@luthien/policy-sdk";

/** Feeds `pieces` one by one; returns what each push released, then what the end released. */
function feed(options: RegexReplacerOptions, pieces: string[]): string[] {
  const r = createRegexReplacer(options);
  return [...pieces.map((p) => r.push(p)), r.end()];
}

/** Every split of `text` into three pieces gives the same output as the whole text. */
function expectSplitProof(options: RegexReplacerOptions, text: string): string {
  const whole = feed(options, [text]).join("");
  for (let i = 0; i <= text.length; i++) {
    for (let j = i; j <= text.length; j += 3) {
      expect(feed(options, [text.slice(0, i), text.slice(i, j), text.slice(j)]).join("")).toBe(whole);
    }
  }
  return whole;
}

describe("createRegexReplacer", () => {
  it("replaces a bounded pattern however the text is split", () => {
    const options = { rules: [{ pattern: /\b\d{3}-\d{2}-\d{4}\b/, replacement: "[SSN]" }] };
    expect(expectSplitProof(options, "ssn 123-45-6789 and 987-65-4321x and 12-3")).toBe("ssn [SSN] and 987-65-4321x and 12-3");
  });

  it("holds back no more than the longest possible match", () => {
    const out = feed({ rules: [{ pattern: /\d{3}-\d{4}/, replacement: "#" }] }, ["call me at 555-", "1234 now, thanks a lot"]);
    // "at 555-" could be the start of a match: at most 8 characters (+1 to see past the end) are held.
    expect(out[0]).toBe("call m");
    expect(out.join("")).toBe("call me at # now, thanks a lot");
  });

  it("holds text only from a literal start of an unbounded pattern", () => {
    const options = { rules: [{ pattern: /token=\S+/, replacement: "token=***" }] };
    const out = feed(options, ["a long line of text without the marker, ", "then tok", "en=abc123 ", "and more"]);
    expect(out[0]).toBe("a long line of text without the marker, ");
    expect(out[1]).toBe("then ");
    expect(out.join("")).toBe("a long line of text without the marker, then token=*** and more");
    expectSplitProof(options, "x token=abc and token=def! end");
  });

  it("releases a start at once when `partial` says it can no longer match", () => {
    const rule = { pattern: /sk-[A-Za-z0-9]{20,}/, replacement: "[KEY]", starts: ["sk-"], partial: /sk-[A-Za-z0-9]*/, settlesWhenFollowed: true };
    const out = feed({ rules: [rule] }, ["use sk-12", "3 and then more"]);
    expect(out).toEqual(["use ", "sk-123 and then more", ""]);
    const key = "sk-" + "a".repeat(40);
    expect(feed({ rules: [rule] }, [`key ${key.slice(0, 10)}`, `${key.slice(10)} ok`])).toEqual(["key ", "[KEY] ok", ""]);
  });

  it("lets the earlier match win and, at one position, the earlier rule", () => {
    const options = {
      rules: [
        { pattern: /abc/, replacement: "1" },
        { pattern: /ab/, replacement: "2" },
        { pattern: /bcd/, replacement: "3" },
      ],
    };
    expect(expectSplitProof(options, "abcd ab bcd")).toBe("1d 2 3");
  });

  it("expands $& and groups in string replacements, and calls onMatch per match", () => {
    const seen: string[] = [];
    const out = feed({ rules: [{ pattern: /(\w+)@example\.com/, replacement: "<$1>" }], onMatch: (_rule, m) => seen.push(m[0]) }, ["mail bob@exam", "ple.com or eve@example.com"]);
    expect(out.join("")).toBe("mail <bob> or <eve>");
    expect(seen).toEqual(["bob@example.com", "eve@example.com"]);
  });

  it("stops after the first match when asked", () => {
    const out = feed({ rules: [{ pattern: /forbidden/i, replacement: "[BLOCKED]" }], stopAfterFirst: true }, ["this is FORBID", "DEN text", " and more"]);
    expect(out.join("")).toBe("this is [BLOCKED]");
  });

  it("keeps context so \\b sees the character before a held start", () => {
    const options = { rules: [{ pattern: /\bAKIA[0-9A-Z]{16}\b/, replacement: "[AWS]" }] };
    expect(expectSplitProof(options, "id AKIAABCDEFGHIJKLMNOP, not xAKIAABCDEFGHIJKLMNOP")).toBe("id [AWS], not xAKIAABCDEFGHIJKLMNOP");
  });
});
