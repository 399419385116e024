import {
  anthropicRequest,
  anthropicStream,
  createStringReplacer,
  createTextPolicy,
  createToolCallGate,
  mapText,
  openAIRequest,
  openAIResponse,
  openAIStream,
  responsesStream,
  runPolicy,
  startCallRun,
  type AnyPolicy,
  type CallInfo,
  type EventOutcome,
  type Policy,
  type PolicyEvent,
} from "@luthien/policy-sdk";

const info = (format: CallInfo["format"]): CallInfo => ({ callId: "c", format, stream: true, keyId: "", owner: "", userId: "", sessionId: "", model: "m" });
const hooks = { emit: () => undefined, keepalive: () => undefined };
const upper = createTextPolicy({ name: "upper", createTransformer: () => mapText((t) => t.toUpperCase()) });

/** Every event of `stream` through a fresh run of `policies`, then the run's end. */
async function outcomes(policies: readonly AnyPolicy[], stream: readonly PolicyEvent[]): Promise<{ each: EventOutcome[]; end: PolicyEvent[] }> {
  const run = startCallRun(policies, info(stream[0]?.format ?? "openai"), hooks);
  const each: EventOutcome[] = [];
  for (const e of stream) each.push(await run.onEvent(e));
  return { each, end: await run.onStreamEnd() };
}

const textOf = (events: readonly PolicyEvent[]): string =>
  events
    .map((e) =>
      e.format === "openai"
        ? (e.chunk.choices[0]?.delta.content ?? "")
        : e.format === "anthropic" && e.event.type === "content_block_delta" && e.event.delta.type === "text_delta"
          ? e.event.delta.text
          : "",
    )
    .join("");

describe("startCallRun: events no policy changed", () => {
  it("are unchanged when every policy returns the event it got, as is or re-wrapped", async () => {
    const same: Policy = { name: "same", mode: "FULL", onEvent: (e) => [e] };
    const rewrap: Policy = { name: "rewrap", mode: "FULL", onEvent: (e) => [{ ...e }] };
    const silent: Policy = { name: "silent", mode: "FULL" };
    for (const stream of [openAIStream({ text: "hello" }), anthropicStream({ text: "hello" }), responsesStream({ text: "hello" })]) {
      const { each, end } = await outcomes([same, rewrap, silent], stream);
      expect(each).toEqual(stream.map(() => "unchanged"));
      expect(end).toEqual([]);
    }
  });

  it("are unchanged for a tool-call gate's OpenAI text, which it lets through as it came", async () => {
    const gate = createToolCallGate({ name: "gate", decide: () => ({ action: "allow" }) });
    // (Its Anthropic events carry block indices it renumbers, so they are new events there.)
    const stream = openAIStream({ chunks: ["plain ", "text"] });
    expect((await outcomes([gate], stream)).each).toEqual(stream.map(() => "unchanged"));
  });

  it("are real events when a policy rewrote, copied, split or dropped them", async () => {
    const stream = openAIStream({ chunks: ["abc", "def"] });
    const copy: Policy = { name: "copy", mode: "FULL", onEvent: (e) => [structuredClone(e)] };
    const split: Policy = { name: "split", mode: "FULL", onEvent: (e) => [e, e] };
    const drop: Policy = { name: "drop", mode: "FULL", onEvent: () => [] };
    const caps = await outcomes([upper], stream);
    expect(caps.each.some((o) => o === "unchanged")).toBe(false);
    expect(textOf(caps.each.flatMap((o) => (o === "unchanged" ? [] : o)))).toBe("ABCDEF");
    for (const p of [copy, split, drop]) expect((await outcomes([p], stream)).each.some((o) => o === "unchanged")).toBe(false);
  });

  it("are never unchanged while a text policy holds text back, nor when it releases it", async () => {
    // "abc" may be the start of "abcd": the replacer holds it until the next delta says it is not.
    const replace = createTextPolicy({ name: "replace", createTransformer: () => createStringReplacer({ replacements: [["abcd", "X"]] }) });
    for (const stream of [openAIStream({ chunks: ["xx abc", "d yy abc", "e"] }), anthropicStream({ chunks: ["xx abc", "d yy abc", "e"] })]) {
      const { each, end } = await outcomes([replace], stream);
      // Every event carrying text had some of it held or released: none went as it came.
      const texts = stream.flatMap((e, i) => (textOf([e]) !== "" ? [each[i]] : []));
      expect(texts).toHaveLength(3);
      expect(texts.some((o) => o === "unchanged")).toBe(false);
      // What the client gets: the originals where unchanged, the emitted events elsewhere.
      expect(textOf([...each.flatMap((o, i) => (o === "unchanged" ? [stream[i] as PolicyEvent] : o)), ...end])).toBe("xx X yy abce");
    }
  });

  it("OBSERVE: policies see every event, what they return is ignored (unchanged), the end releases nothing", async () => {
    let seen = 0;
    const observer: Policy = { name: "observer", mode: "OBSERVE", onEvent: (e) => (seen++, [structuredClone(e), e]), onStreamEnd: () => openAIStream({ text: "late" }) };
    const stream = openAIStream({ text: "hello" });
    const { each, end } = await outcomes([observer], stream);
    expect(seen).toBe(stream.length);
    expect(each).toEqual(stream.map(() => "unchanged"));
    expect(end).toEqual([]);
    const run = startCallRun([observer], info("openai"), hooks);
    const response = openAIResponse({ text: "as is" });
    expect(await run.onResponse(response)).toBe(response);
  });

  it("SKIP: policies see nothing after the request", async () => {
    let called = 0;
    const skipper: Policy = { name: "skipper", mode: "SKIP", onEvent: () => (called++, []), onResponse: (r) => (called++, r), onStreamEnd: () => (called++, []) };
    const run = startCallRun([skipper], info("openai"), hooks);
    expect(run.mode).toBe("SKIP");
    const [first] = openAIStream({ text: "x" });
    expect(await run.onEvent(first as PolicyEvent)).toBe("unchanged");
    const response = openAIResponse({ text: "x" });
    expect(await run.onResponse(response)).toBe(response);
    expect(await run.onStreamEnd()).toEqual([]);
    expect(called).toBe(0);
  });

  it("takes the strongest mode of its chain", () => {
    const of = (mode: Policy["mode"]): Policy => ({ name: mode, mode });
    expect(startCallRun([of("SKIP"), of("OBSERVE")], info("openai"), hooks).mode).toBe("OBSERVE");
    expect(startCallRun([of("OBSERVE"), of("FULL"), of("SKIP")], info("openai"), hooks).mode).toBe("FULL");
    expect(startCallRun([], info("openai"), hooks).mode).toBe("SKIP");
  });
});

describe("runPolicy and the engine's run", () => {
  it("fails a policy that changes an event in place (the engine would send the original)", async () => {
    const inPlace: Policy = {
      name: "in-place",
      mode: "FULL",
      onEvent: (e) => {
        if (e.format === "openai" && e.chunk.choices[0] !== undefined) e.chunk.choices[0].delta.content = "changed";
        return [e];
      },
    };
    await expect(runPolicy(inPlace, { request: openAIRequest("x"), stream: openAIStream({ text: "hello" }) })).rejects.toThrow(TypeError);
  });

  it("fails a policy that changes the request in place", async () => {
    const inPlace: Policy = {
      name: "in-place",
      mode: "SKIP",
      onRequest: (r) => {
        (r.body as { model: string }).model = "other";
        return r;
      },
    };
    await expect(runPolicy(inPlace, { request: anthropicRequest("x") })).rejects.toThrow(TypeError);
  });

  it("delivers exactly the events an unchanged run passes", async () => {
    const same: Policy = { name: "same", mode: "FULL", onEvent: (e) => [e] };
    const stream = openAIStream({ text: "hello there" });
    const run = await runPolicy(same, { request: openAIRequest("x"), stream });
    expect(run.events).toEqual(stream);
    expect(run.events.every((e, i) => e === stream[i])).toBe(true);
  });
});
