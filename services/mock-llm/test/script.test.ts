import { DEFAULT_TEXT, parseScript, parseScriptList, resolveScript, ScriptError, splitWords } from "../src/script";
import { pieceLogprobs } from "../src/logprobs";

const resolveOptions = { callId: 7, toolIdPrefix: "call_mock_", requestBytes: 40 };

describe("mock-llm scripts", () => {
  it("splits text into words that keep their leading spaces and join back", () => {
    expect(splitWords(DEFAULT_TEXT)).toEqual(["Hello", " from", " the", " Luthien", " mock", " model."]);
    expect(splitWords("  two  words \n")).toEqual(["  two", "  words \n"]);
    expect(splitWords("   ")).toEqual(["   "]);
    expect(splitWords("")).toEqual([]);
  });

  it("applies the documented defaults", () => {
    const plain = resolveScript({}, resolveOptions);
    expect(plain).toMatchObject({ text: DEFAULT_TEXT, toolCalls: [], thinking: undefined, delayMs: 0, chunkDelayMs: 0, inputTokens: 10 });
    expect(plain.outputTokens).toBeGreaterThan(0);

    const tools = resolveScript(
      {
        toolCalls: [
          { name: "f", arguments: '{"a":1}' },
          { name: "g", arguments: "" },
        ],
      },
      resolveOptions,
    );
    expect(tools.text).toBe("");
    expect(tools.textChunks).toEqual([]);
    expect(tools.toolCalls).toEqual([
      { id: "call_mock_7_0", name: "f", arguments: '{"a":1}', argumentChunks: ['{"a":1}'] },
      { id: "call_mock_7_1", name: "g", arguments: "", argumentChunks: [] },
    ]);

    const chunked = resolveScript({ chunks: ["a", "", "b"], thinking: { text: "x y" }, usage: { outputTokens: 0 } }, resolveOptions);
    expect(chunked).toMatchObject({ text: "ab", textChunks: ["a", "", "b"], outputTokens: 0 });
    expect(chunked.thinking).toEqual({ text: "x y", chunks: ["x", " y"], signature: expect.stringMatching(/.+/) });
  });

  it("names the offending field of a malformed script", () => {
    const message = (value: unknown): string => {
      try {
        parseScriptList(value);
      } catch (err) {
        expect(err).toBeInstanceOf(ScriptError);
        return (err as Error).message;
      }
      throw new Error("expected a ScriptError");
    };
    expect(message({ scripts: [{}, { failafter: 1 }] })).toBe('scripts[1] has unknown field "failafter"');
    expect(message({ scripts: [{ toolCalls: [{ name: "f" }] }] })).toContain("scripts[0].toolCalls[0].arguments is required");
    expect(message({ scripts: [{ toolCalls: [{ name: "f", arguments: "{}", argumentChunks: ["{"] }] }] })).toContain("argumentChunks");
    expect(message({ scripts: [{ error: { status: 200 } }] })).toContain("scripts[0].error.status");
    expect(message({ scripts: [{ hangAfter: -1 }] })).toContain("scripts[0].hangAfter");
    expect(message({ script: [] })).toContain("unknown field");
  });

  it("keeps zero and empty values as given", () => {
    expect(parseScript({ text: "", failAfter: 0, delayMs: 0, usage: { inputTokens: 0 } })).toEqual({
      text: "",
      failAfter: 0,
      delayMs: 0,
      usage: { inputTokens: 0 },
    });
  });
});

describe("mock-llm logprobs", () => {
  it("gives one entry per non-empty piece, fixed numbers, and at most 20 top_logprobs", () => {
    expect(pieceLogprobs("", 0, 5)).toEqual([]);
    const [entry] = pieceLogprobs("é", 1, 50);
    expect(entry).toMatchObject({ token: "é", bytes: [0xc3, 0xa9] });
    expect(entry?.top_logprobs).toHaveLength(20);
    expect(new Set(entry?.top_logprobs.map((t) => t.token)).size).toBe(20);
    expect(pieceLogprobs("é", 1, 50)).toEqual([entry]);
    expect(pieceLogprobs("x", 0, -1)[0]?.top_logprobs).toEqual([]);
  });
});
