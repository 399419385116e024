import {
  anthropicRequest,
  anthropicStream,
  createStringReplacer,
  createTextPolicy,
  deny,
  mapText,
  openAIRequest,
  openAIResponse,
  openAIStream,
  respond,
  responsesRequest,
  responsesStream,
  runPolicy,
  type Policy,
} from "@luthien/policy-sdk";

const upper = createTextPolicy({ name: "upper", createTransformer: () => mapText((t) => t.toUpperCase()) });
const replace = (from: string, to: string): Policy<unknown> =>
  createTextPolicy({ name: "replace", createTransformer: () => createStringReplacer({ replacements: [[from, to]] }) }) as Policy<unknown>;

describe("runPolicy", () => {
  it("runs a chain in order, each policy seeing the previous one's output, in every format", async () => {
    for (const [request, stream] of [
      [openAIRequest("hi"), openAIStream({ chunks: ["hel", "lo world"] })],
      [anthropicRequest("hi"), anthropicStream({ chunks: ["hel", "lo world"] })],
      [responsesRequest("hi"), responsesStream({ chunks: ["hel", "lo world"] })],
    ] as const) {
      expect((await runPolicy([upper, replace("HELLO", "HI")], { request, stream })).text).toBe("HI WORLD");
      expect((await runPolicy([replace("hello", "goodbye"), upper], { request, stream })).text).toBe("GOODBYE WORLD");
    }
  });

  it("releases text held at the end through the policies after it", async () => {
    // The replacer holds "hel" until the end; the upper-caser after it still sees it.
    const run = await runPolicy([replace("help", "aid"), upper], { request: openAIRequest("x"), stream: openAIStream({ chunks: ["say hel"] }).slice(0, -2) });
    expect(run.text).toBe("SAY HEL");
  });

  it("stops at a deny or respond, as the engine does", async () => {
    const gate: Policy = { name: "gate", mode: "SKIP", onRequest: () => deny({ message: "no", status: 400, type: "policy_violation" }) };
    const denied = await runPolicy([gate, upper], { request: openAIRequest("x"), response: openAIResponse({ text: "a" }) });
    expect(denied.request).toEqual({ decision: "deny", status: 400, type: "policy_violation", message: "no" });
    expect(denied.response).toBeUndefined();
    const canned: Policy = { name: "canned", mode: "SKIP", onRequest: () => respond(openAIResponse({ text: "cached" })) };
    expect((await runPolicy([canned, upper], { request: openAIRequest("x") })).text).toBe("cached");
  });

  it("leaves the response alone in SKIP and OBSERVE modes, but OBSERVE policies still see it", async () => {
    let seen = 0;
    const observer: Policy = { name: "observer", mode: "OBSERVE", onEvent: (e) => (seen++, []) };
    const stream = openAIStream({ text: "as is" });
    const run = await runPolicy(observer, { request: openAIRequest("x"), stream });
    expect(run.text).toBe("as is");
    expect(seen).toBe(stream.length);
    const skipper: Policy = { name: "skipper", mode: "SKIP", onEvent: () => [] };
    expect((await runPolicy(skipper, { request: openAIRequest("x"), stream })).text).toBe("as is");
  });

  it("builds Responses traffic with sequence numbers from 0, and renumbers output indexes as the gateway does", async () => {
    const stream = responsesStream({ text: "hi", toolCalls: [{ name: "f", input: { a: 1 } }] });
    const seqs = stream.map((e) => (e.format === "responses" ? e.event.sequence_number : -1));
    expect(seqs).toEqual(stream.map((_e, i) => i));
    const run = await runPolicy([], { request: responsesRequest("x"), stream });
    expect(run).toMatchObject({ text: "hi", toolCalls: [{ id: "call_0", name: "f", input: { a: 1 } }], stopReason: "completed" });
    const swapped: Policy = {
      name: "swapper",
      mode: "FULL",
      onEvent: (e) => [e.format === "responses" && e.event.type === "response.output_item.added" ? { ...e, event: { ...e.event, output_index: e.event.output_index + 1 } } : e],
    };
    const renumbered = await runPolicy(swapped, { request: responsesRequest("x"), stream });
    const added = renumbered.delivered.flatMap((e) => (e.format === "responses" && e.event.type === "response.output_item.added" ? [e.event.output_index] : []));
    expect(added).toEqual([0, 1]);
    expect(renumbered).toMatchObject({ text: "hi", toolCalls: [{ id: "call_0", name: "f", input: { a: 1 } }] });
  });

  it("records activity and fails on a stream the gateway would refuse", async () => {
    const noisy: Policy = { name: "noisy", mode: "FULL", onRequest: (r, ctx) => (ctx.emit("seen", { n: 1 }), ctx.keepalive(), r) };
    const run = await runPolicy(noisy, { request: anthropicRequest("x") });
    expect(run.activity).toEqual([{ policy: "noisy", action: "seen", data: { n: 1 } }]);
    expect(run.keepalives).toBe(1);
    const doubler: Policy = { name: "doubler", mode: "FULL", onEvent: (e) => [e, e] };
    await expect(runPolicy(doubler, { request: openAIRequest("x"), stream: openAIStream({ text: "a" }) })).rejects.toThrow(/second role|finish_reason/);
  });
});
