import { createStringReplacer } from "@luthien/policy-sdk";

/** Feeds `pieces` one by one and returns what came out of each push, plus the end. */
function run(pieces: string[], replacements: [string, string][], matchCapitalization = false): string[] {
  const r = createStringReplacer({ replacements, matchCapitalization });
  return [...pieces.map((p) => r.push(p)), r.end()];
}

describe("createStringReplacer", () => {
  it("replaces a match split across every possible boundary exactly as in the whole text", () => {
    const text = "say foobar and foo, then fo";
    const whole = run(
      [text],
      [
        ["foobar", "X"],
        ["foo", "Y"],
      ],
    ).join("");
    expect(whole).toBe("say X and Y, then fo");
    for (let i = 1; i < text.length; i++) {
      for (let j = i; j < text.length; j++) {
        expect(
          run(
            [text.slice(0, i), text.slice(i, j), text.slice(j)],
            [
              ["foobar", "X"],
              ["foo", "Y"],
            ],
          ).join(""),
        ).toBe(whole);
      }
    }
  });

  it("holds back only what could still become a match", () => {
    const out = run(["hello wor", "ld, world"], [["world", "earth"]]);
    expect(out).toEqual(["hello ", "earth, earth", ""]);
  });

  it("matches capitalization when asked", () => {
    expect(run(["Cat CAT cat cAt"], [["cat", "dog"]], true).join("")).toBe("Dog DOG dog dog");
    expect(run(["Cat cat"], [["cat", "dog"]]).join("")).toBe("Cat dog");
  });
});
