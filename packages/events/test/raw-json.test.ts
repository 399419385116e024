import { RawJson } from "../src";
import { encodeEvent } from "../src/raw-json";

/** Values whose JSON text is spliced in must encode as if they had been encoded with the rest. */
const SAMPLES: unknown[] = [
  { model: "m", messages: [{ role: "user", content: 'hi \u0000 "quoted" \\ \u2028 😀' }] },
  [1, 2.5, -0, null, true, "x"],
  "a string",
  42,
  null,
  { nested: { deeper: [{ "\u0000luthien.raw.0000000000000000.0": "a forged mark" }] } },
];

describe("RawJson", () => {
  it("splices raw text so the event parses as the values would have encoded, however many and wherever", () => {
    for (const [i, sample] of SAMPLES.entries()) {
      // Pretty-printed on purpose: the raw text goes in as it is, whitespace and all.
      const raw = new RawJson(JSON.stringify(sample, null, i % 2 === 0 ? 2 : undefined));
      const event = { id: `e${i}`, data: { body: raw, again: raw, list: [raw, { inner: raw }], text: "\u0000luthien.raw.x.0" } };
      const expected = { id: `e${i}`, data: { body: sample, again: sample, list: [sample, { inner: sample }], text: "\u0000luthien.raw.x.0" } };
      expect(JSON.parse(encodeEvent(event))).toEqual(JSON.parse(JSON.stringify(expected)));
      // Outside the publisher's encoder it is the value it stands for.
      expect(JSON.parse(JSON.stringify(event))).toEqual(JSON.parse(JSON.stringify(expected)));
    }
  });

  it("a string in the data that looks like a splice mark stays a string", () => {
    const event = { data: { a: new RawJson("1"), b: "\u0000luthien.raw.deadbeefdeadbeef.0" } };
    expect(JSON.parse(encodeEvent(event))).toEqual({ data: { a: 1, b: "\u0000luthien.raw.deadbeefdeadbeef.0" } });
  });
});
