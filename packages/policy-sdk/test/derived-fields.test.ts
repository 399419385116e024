import type { ResponsesResponse } from "@luthien/wire";
import { createTextPolicy, mapText, startChainRun, type PolicyEvent } from "../src";

/**
 * A provider can put text in a Responses body's `output_text` that no policy reads (policies read the items), and the
 * SDK keeps a wire `output_text` as it came: after the chain it always says what the items say.
 */
// A FULL policy that changes nothing: the items pass as they are, so only the chain can fix a stale output_text.
const same = createTextPolicy({ name: "same", createTransformer: () => mapText((t) => t) });
const run = () =>
  startChainRun(
    [same],
    { callId: "c", format: "responses", stream: false, keyId: "", owner: "", userId: "", sessionId: "", model: "m" },
    { emit: () => undefined, keepalive: () => undefined },
  );

function body(itemText: string, outputText: string): ResponsesResponse {
  return {
    id: "resp_1",
    object: "response",
    created_at: 1,
    status: "completed",
    model: "m",
    output: [{ type: "message", id: "msg_1", role: "assistant", status: "completed", content: [{ type: "output_text", text: itemText, annotations: [] }] }],
    output_text: outputText,
    error: null,
    incomplete_details: null,
    instructions: null,
    metadata: {},
    parallel_tool_calls: true,
    temperature: null,
    tool_choice: "auto",
    tools: [],
    top_p: null,
  } as ResponsesResponse;
}

describe("derived fields after the chain", () => {
  it.each([
    ["a secret only in output_text", "all clear", "sk-proj-abcdefghijklmnopqrstuvwxyz0123"],
    ["lower-case text only in output_text", "fine", "lower case that no policy saw"],
  ])("whole responses: %s is replaced by the items' text", async (_what, itemText, outputText) => {
    const out = await run().onResponse({ format: "responses", body: body(itemText, outputText) });
    if (!("format" in out) || out.format !== "responses") throw new Error("expected a response");
    expect(out.body.output_text).toBe(itemText);
  });

  it("stream terminal events: response.completed's output_text is recomputed", async () => {
    const event: PolicyEvent = { format: "responses", event: { type: "response.completed", sequence_number: 9, response: body("ok", "sk-proj-abcdefghijklmnopqrstuvwxyz0123") } };
    const [out] = await run().onEvent(event);
    if (out?.format !== "responses" || out.event.type !== "response.completed") throw new Error("expected response.completed");
    expect(out.event.response.output_text).toBe("ok");
  });
});
