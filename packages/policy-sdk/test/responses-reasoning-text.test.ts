import {
  createRegexReplacer,
  createTextPolicy,
  mapText,
  randomPieces,
  responsesRequest,
  responsesStream,
  runPolicy,
  seededRandom,
  type PolicyEvent,
  type PolicyResponse,
} from "@luthien/policy-sdk";
import { createResponsesAccumulator, createResponsesStreamValidator, type ResponsesOutputItem, type ResponsesResponse, type ResponsesStreamEvent } from "@luthien/wire";

/**
 * Responses reasoning (summary parts, `reasoning_text` parts) and the audio transcript go through the text policy's
 * transformer like `output_text`: a secret split anywhere across their deltas reaches the client in no event and not
 * in the final response, and every copy of a text (deltas, done events, part and item events, the final response)
 * says the same.
 */

/** Like secret-redaction's OpenAI key rule: held back from `sk-` on while it can still grow into a key. */
const redact = createTextPolicy({
  name: "redact",
  createTransformer: () =>
    createRegexReplacer({
      rules: [
        { pattern: /\bsk-(?!ant-)[A-Za-z0-9_-]{20,}/, starts: ["sk-"], partial: /\bsk-[A-Za-z0-9_-]*/, maxLength: 512, settlesWhenFollowed: true, replacement: "[REDACTED:openai_key]" },
      ],
    }),
});
/** Like all-caps: no hold-back, every piece on its own. */
const upper = createTextPolicy({ name: "upper", createTransformer: () => mapText((t) => t.toUpperCase()) });

const KEY_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const secretOf = (random: () => number): string => `sk-${Array.from({ length: 24 }, () => KEY_CHARS[Math.floor(random() * KEY_CHARS.length)]).join("")}`;
const ENCRYPTED = "gAAAAABopaque-provider-encryption==";

const CASES = [
  { name: "secret-redaction-like", policy: redact, expected: (text: string, secret: string) => text.replaceAll(secret, "[REDACTED:openai_key]") },
  { name: "all-caps-like", policy: upper, expected: (text: string) => text.toUpperCase() },
] as const;

/** The texts of one reply: reasoning summary parts, reasoning_text parts, the audio transcript. */
interface Texts {
  summaries: string[];
  contents: string[];
  transcript: string;
}

type Shape = "deltas" | "done-only" | "whole-items";

const reasoningItem = (t: Texts): Extract<ResponsesOutputItem, { type: "reasoning" }> => ({
  type: "reasoning",
  id: "rs_1",
  summary: t.summaries.map((text) => ({ type: "summary_text", text })),
  content: t.contents.map((text) => ({ type: "reasoning_text", text })),
  encrypted_content: ENCRYPTED,
  status: "completed",
});

/**
 * A stream of a reasoning item and a message: `deltas` streams each text in `split` pieces; `done-only` streams no
 * delta (the done events carry the text); `whole-items` puts the whole item in its added and done events.
 */
function stream(t: Texts, shape: Shape, split: (text: string) => string[]): PolicyEvent[] {
  const base = responsesStream({ text: "the answer" }).flatMap((e) => (e.format === "responses" ? [e.event] : []));
  const completed = base.at(-1) as Extract<ResponsesStreamEvent, { type: "response.completed" }>;
  const message = completed.response.output[0] as ResponsesOutputItem;
  const item = reasoningItem(t);
  const at = { item_id: "rs_1", output_index: 0, sequence_number: 0 };
  const events: ResponsesStreamEvent[] = [...base.slice(0, 2)];
  if (shape === "whole-items") events.push({ type: "response.output_item.added", ...at, item });
  else {
    events.push({ type: "response.output_item.added", ...at, item: { ...item, summary: [], content: [], status: "in_progress" } });
    t.summaries.forEach((text, summary_index) => {
      const s = { ...at, summary_index };
      events.push({ type: "response.reasoning_summary_part.added", ...s, part: { type: "summary_text", text: "" } });
      if (shape === "deltas") for (const delta of split(text)) events.push({ type: "response.reasoning_summary_text.delta", ...s, delta });
      events.push({ type: "response.reasoning_summary_text.done", ...s, text });
      events.push({ type: "response.reasoning_summary_part.done", ...s, part: { type: "summary_text", text } });
    });
    t.contents.forEach((text, content_index) => {
      const c = { ...at, content_index };
      events.push({ type: "response.content_part.added", ...c, part: { type: "reasoning_text", text: "" } });
      if (shape === "deltas") for (const delta of split(text)) events.push({ type: "response.reasoning_text.delta", ...c, delta });
      events.push({ type: "response.reasoning_text.done", ...c, text });
      events.push({ type: "response.content_part.done", ...c, part: { type: "reasoning_text", text } });
    });
  }
  events.push({ type: "response.output_item.done", ...at, item });
  // The transcript names no item; it comes with the message, the way audio goes with the answer.
  const message_events = base.slice(2, -1).map((e) => ("output_index" in e ? { ...e, output_index: 1 } : e) as ResponsesStreamEvent);
  events.push(...message_events.slice(0, 2));
  for (const delta of split(t.transcript)) events.push({ type: "response.audio.transcript.delta", delta, sequence_number: 0 });
  events.push({ type: "response.audio.transcript.done", sequence_number: 0 });
  events.push(...message_events.slice(2));
  events.push({ ...completed, response: { ...completed.response, output: [item, message] } });
  return events.map((event, i) => ({ format: "responses", event: { ...event, sequence_number: i } as ResponsesStreamEvent }));
}

const ofType = <T extends ResponsesStreamEvent["type"]>(list: ResponsesStreamEvent[], type: T): Extract<ResponsesStreamEvent, { type: T }>[] =>
  list.filter((e): e is Extract<ResponsesStreamEvent, { type: T }> => e.type === type);
const reasoningOf = (items: readonly ResponsesOutputItem[]) => items.flatMap((i) => (i.type === "reasoning" ? [i] : []));
const summaryTexts = (items: readonly ResponsesOutputItem[]): string[] => reasoningOf(items).flatMap((i) => i.summary.map((s) => s.text));
const contentTexts = (items: readonly ResponsesOutputItem[]): string[] => reasoningOf(items).flatMap((i) => (i.content ?? []).map((c) => c.text));

/** Every copy of each text the client gets, by where it is. */
function copies(list: ResponsesStreamEvent[], t: Texts): Record<string, string[]> {
  const completed = ofType(list, "response.completed")[0]?.response;
  const itemDone = ofType(list, "response.output_item.done").map((e) => e.item);
  const accumulator = createResponsesAccumulator();
  for (const e of list) accumulator.push(e);
  const accumulated = accumulator.result() as ResponsesResponse;
  const joined = (deltas: { delta: string; index: number }[], n: number): string[] =>
    Array.from({ length: n }, (_, k) =>
      deltas
        .filter((d) => d.index === k)
        .map((d) => d.delta)
        .join(""),
    );
  const copies: Record<string, string[]> = {
    summaryDone: ofType(list, "response.reasoning_summary_text.done").map((e) => e.text),
    summaryPartDone: ofType(list, "response.reasoning_summary_part.done").map((e) => e.part.text),
    contentDone: ofType(list, "response.reasoning_text.done").map((e) => e.text),
    contentPartDone: ofType(list, "response.content_part.done").flatMap((e) => (e.part.type === "reasoning_text" ? [e.part.text] : [])),
    itemDoneSummary: summaryTexts(itemDone),
    itemDoneContent: contentTexts(itemDone),
    finalSummary: summaryTexts(completed?.output ?? []),
    finalContent: contentTexts(completed?.output ?? []),
    accumulatedSummary: summaryTexts(accumulated.output),
    accumulatedContent: contentTexts(accumulated.output),
    transcript: [
      ofType(list, "response.audio.transcript.delta")
        .map((e) => e.delta)
        .join(""),
    ],
  };
  const summaryDeltas = ofType(list, "response.reasoning_summary_text.delta").map((e) => ({ delta: e.delta, index: e.summary_index }));
  const contentDeltas = ofType(list, "response.reasoning_text.delta").map((e) => ({ delta: e.delta, index: e.content_index }));
  if (summaryDeltas.length > 0) copies.summaryDeltas = joined(summaryDeltas, t.summaries.length);
  if (contentDeltas.length > 0) copies.contentDeltas = joined(contentDeltas, t.contents.length);
  return copies;
}

function expectedCopies(copiesOf: Record<string, string[]>, t: Texts, shape: Shape): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const key of Object.keys(copiesOf)) {
    if (key === "transcript") out[key] = [t.transcript];
    else if (key.toLowerCase().includes("summary")) out[key] = t.summaries;
    else out[key] = t.contents;
    // Whole items stream no part events.
    if (shape === "whole-items" && /Done$/.test(key) && !key.startsWith("item")) out[key] = [];
  }
  if (shape === "deltas") {
    // Deltas must be there: a policy that swallowed them would pass the comparison above.
    expect(Object.keys(out)).toEqual(expect.arrayContaining(["summaryDeltas", "contentDeltas"]));
  }
  return out;
}

/** No delta of a part comes after the part's done event (held text is released before it). */
function expectReleasedBeforeDone(list: ResponsesStreamEvent[]): void {
  const done = new Set<string>();
  for (const e of list) {
    if (e.type === "response.reasoning_summary_text.done") done.add(`s${e.summary_index}`);
    if (e.type === "response.reasoning_text.done") done.add(`c${e.content_index}`);
    if (e.type === "response.audio.transcript.done") done.add("t");
    if (e.type === "response.reasoning_summary_text.delta") expect(done.has(`s${e.summary_index}`)).toBe(false);
    if (e.type === "response.reasoning_text.delta") expect(done.has(`c${e.content_index}`)).toBe(false);
    if (e.type === "response.audio.transcript.delta") expect(done.has("t")).toBe(false);
  }
}

describe("the text policy on Responses reasoning and transcripts (generated splits)", () => {
  const sentence = (k: number, secret: string, what: string) => `${what} ${k}: the key is ${secret}, so I keep ${secret} out of it.`;

  it.each(CASES)("$name: a secret split across summary, reasoning text and transcript deltas never reaches the client, streamed (60 variants) and whole", async ({ policy, expected }) => {
    const random = seededRandom(11);
    let splitInside = 0;
    for (let k = 0; k < 60; k++) {
      const secret = secretOf(random);
      const texts: Texts = {
        summaries: [sentence(k, secret, "**Plan**"), `then ${secret}`, ""],
        contents: [sentence(k, secret, "raw")],
        transcript: sentence(k, secret, "said"),
      };
      const want: Texts = {
        summaries: texts.summaries.map((s) => expected(s, secret)),
        contents: texts.contents.map((s) => expected(s, secret)),
        transcript: expected(texts.transcript, secret),
      };
      const split = (text: string): string[] => {
        const pieces = randomPieces(random, text, 10);
        let from = 0;
        for (const p of pieces.slice(0, -1)) {
          from += p.length;
          const at = text.indexOf(secret);
          if (at !== -1 && from > at && from < at + secret.length) splitInside++;
        }
        return pieces;
      };
      for (const shape of ["deltas", "done-only", "whole-items"] as const) {
        const run = await runPolicy(policy, { request: responsesRequest("x"), stream: stream(texts, shape, split) });
        const list = run.delivered.flatMap((e) => (e.format === "responses" ? [e.event] : []));
        const validator = createResponsesStreamValidator();
        for (const e of list) validator.check(e);
        validator.end();
        const got = copies(list, texts);
        expect([shape, got]).toEqual([shape, expectedCopies(got, want, shape)]);
        expectReleasedBeforeDone(list);
        if (policy === redact) {
          expect(JSON.stringify(list)).not.toContain(secret);
          expect(JSON.stringify(run.response)).not.toContain(secret);
        }
        // The provider's encrypted reasoning goes back to it untouched (see mapItemText).
        for (const item of [...reasoningOf(ofType(list, "response.output_item.done").map((e) => e.item)), ...reasoningOf((run.response as { body: ResponsesResponse }).body.output)]) {
          expect(item.encrypted_content).toBe(ENCRYPTED);
        }
      }
      // Not streamed.
      const response: PolicyResponse = {
        format: "responses",
        body: {
          ...(ofType(
            stream(texts, "deltas", split).map((e) => (e as { event: ResponsesStreamEvent }).event),
            "response.completed",
          )[0]?.response as ResponsesResponse),
        },
      };
      const whole = await runPolicy(policy, { request: responsesRequest("x"), response });
      const out = (whole.response as { body: ResponsesResponse }).body.output;
      expect([summaryTexts(out), contentTexts(out)]).toEqual([want.summaries, want.contents]);
      expect(reasoningOf(out)[0]?.encrypted_content).toBe(ENCRYPTED);
      if (policy === redact) expect(JSON.stringify(whole.response)).not.toContain(secret);
    }
    // The splits did cut through secrets, many times.
    expect(splitInside).toBeGreaterThan(100);
  });

  it("holds a possible secret's start back until the summary part's done event, then releases it unchanged", async () => {
    const texts: Texts = { summaries: ["ends with sk-"], contents: [], transcript: "" };
    const run = await runPolicy(redact, { request: responsesRequest("x"), stream: stream(texts, "deltas", (t) => (t === "" ? [] : [t])) });
    const list = run.delivered.flatMap((e) => (e.format === "responses" ? [e.event] : []));
    expect(ofType(list, "response.reasoning_summary_text.delta").map((e) => e.delta)).toEqual(["ends with ", "sk-"]);
    const types = list.map((e) => e.type);
    expect(types.lastIndexOf("response.reasoning_summary_text.delta")).toBeLessThan(types.indexOf("response.reasoning_summary_text.done"));
    expect(ofType(list, "response.reasoning_summary_text.done")[0]?.text).toBe("ends with sk-");
  });

  it("reports the change once, and leaves an unchanged reasoning item as it came", async () => {
    const secret = "sk-abcdefghijklmnopqrstuvwx";
    const changed = await runPolicy(redact, {
      request: responsesRequest("x"),
      stream: stream({ summaries: [`a ${secret}`], contents: [], transcript: "" }, "deltas", (t) => (t === "" ? [] : [t.slice(0, 5), t.slice(5)])),
    });
    expect(changed.activity.filter((a) => a.policy === "redact").map((a) => a.action)).toEqual(["response_modified"]);
    const texts: Texts = { summaries: ["nothing to hide"], contents: ["plain"], transcript: "hello" };
    const events = stream(texts, "deltas", (t) => (t === "" ? [] : [t]));
    const run = await runPolicy(redact, { request: responsesRequest("x"), stream: events });
    expect(run.activity.filter((a) => a.policy === "redact")).toEqual([]);
    const itemDone = (list: readonly PolicyEvent[]) =>
      list.flatMap((e) => (e.format === "responses" && e.event.type === "response.output_item.done" && e.event.item.type === "reasoning" ? [e.event.item] : []));
    expect(itemDone(run.delivered)).toEqual(itemDone(events));
  });

  it("fails closed on reasoning text for a part after its done event", async () => {
    const events = stream({ summaries: ["done"], contents: [], transcript: "" }, "deltas", (t) => (t === "" ? [] : [t]));
    const at = events.findIndex((e) => e.format === "responses" && e.event.type === "response.reasoning_summary_part.done");
    const late: PolicyEvent = {
      format: "responses",
      event: { type: "response.reasoning_summary_text.delta", item_id: "rs_1", output_index: 0, summary_index: 0, delta: "more", sequence_number: 0 },
    };
    await expect(runPolicy(redact, { request: responsesRequest("x"), stream: [...events.slice(0, at + 1), late, ...events.slice(at + 1)] })).rejects.toThrow(/after its done event/);
  });
});
