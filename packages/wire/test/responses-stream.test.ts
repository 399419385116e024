import {
  StreamProtocolError,
  createResponsesAccumulator,
  createResponsesStreamBuilder,
  createResponsesStreamValidator,
  responseToEvents,
  type ResponsesResponse,
  type ResponsesStreamEvent,
} from "../src";
import { startSdkHarness, type SdkHarness } from "./fixtures";
import { renumber, response, responsesSse, richResponse, rng, sdkAccumulate, sdkFinalResponse, validateResponses } from "./responses-fixtures";

let sdk: SdkHarness;
beforeAll(async () => {
  sdk = await startSdkHarness();
});
afterAll(() => sdk.close());

const textResponse = (text: string, over: Partial<ResponsesResponse> = {}): ResponsesResponse =>
  response([{ id: "msg_1", type: "message", role: "assistant", status: "completed", content: [{ type: "output_text", text, annotations: [] }] }], {
    output_text: text,
    ...over,
  });

/** The rich response with the id `responseToEvents` gives its function call. */
const richWithIds = (): ResponsesResponse => {
  const r = richResponse();
  return { ...r, output: r.output.map((item) => (item.type === "function_call" ? { ...item, id: "fc_call_1" } : item)) };
};

const types = (events: readonly ResponsesStreamEvent[]): string[] => events.map((e) => e.type);

/** Pushes every event through a builder, ends it, checks the output with the validator, and returns it. */
function build(events: readonly ResponsesStreamEvent[]): ResponsesStreamEvent[] {
  const builder = createResponsesStreamBuilder();
  const out = [...events.flatMap((e) => builder.push(e)), ...builder.end()];
  validateResponses(out);
  return out;
}

describe("responseToEvents", () => {
  it("streams a text answer the way OpenAI does", () => {
    const events = responseToEvents(textResponse("Hello"));
    expect(types(events)).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.completed",
    ]);
    expect(events.map((e) => e.sequence_number)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    const [created] = events;
    expect(created).toMatchObject({ response: { status: "in_progress", output: [], output_text: "", id: "resp_1" } });
    expect(created?.type === "response.created" && created.response.usage).toBeUndefined();
    expect(events[2]).toMatchObject({ output_index: 0, item: { id: "msg_1", status: "in_progress", content: [] } });
    expect(events[4]).toMatchObject({ item_id: "msg_1", output_index: 0, content_index: 0, delta: "Hello" });
    expect(events.at(-1)).toEqual({ type: "response.completed", sequence_number: 8, response: textResponse("Hello") });
  });

  it("streams every kind of item, passes the validator and rebuilds the response in the SDK's accumulator", () => {
    const events = responseToEvents(richResponse());
    validateResponses(events);
    expect(types(events)).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.reasoning_summary_part.added",
      "response.reasoning_summary_text.delta",
      "response.reasoning_summary_text.done",
      "response.reasoning_summary_part.done",
      "response.reasoning_summary_part.added",
      "response.reasoning_summary_text.done",
      "response.reasoning_summary_part.done",
      "response.content_part.added",
      "response.reasoning_text.delta",
      "response.reasoning_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
      "response.output_text.annotation.added",
      "response.output_text.done",
      "response.content_part.done",
      "response.content_part.added",
      "response.refusal.delta",
      "response.refusal.done",
      "response.content_part.done",
      "response.content_part.added",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.output_item.added",
      "response.function_call_arguments.delta",
      "response.function_call_arguments.done",
      "response.output_item.done",
      "response.output_item.added",
      "response.output_item.done",
      "response.completed",
    ]);
    expect(sdkAccumulate(events)).toEqual(richWithIds());
  });

  it("gives a function call without an id `fc_` + its call_id, in the items and the terminal response", () => {
    const events = responseToEvents(richResponse());
    const added = events.find((e) => e.type === "response.output_item.added" && e.item.type === "function_call");
    expect(added).toMatchObject({ item: { id: "fc_call_1", arguments: "", status: "in_progress" } });
    expect(events.at(-1)).toMatchObject({ response: richWithIds() });
  });

  it.each<[ResponsesResponse["status"], string]>([
    ["completed", "response.completed"],
    ["incomplete", "response.incomplete"],
    ["failed", "response.failed"],
    ["cancelled", "response.failed"],
    [undefined, "response.completed"],
  ])("ends a %s response with %s", (status, type) => {
    const whole = textResponse("x");
    if (status === undefined) delete whole.status;
    else whole.status = status;
    const events = responseToEvents(whole);
    validateResponses(events);
    expect(events.at(-1)?.type).toBe(type);
  });

  it("streams an empty response: created, in_progress, completed", () => {
    expect(types(responseToEvents(response([])))).toEqual(["response.created", "response.in_progress", "response.completed"]);
  });

  it("is what the official client accepts: finalResponse is the response", async () => {
    expect(await sdkFinalResponse(sdk, responsesSse(responseToEvents(richResponse())))).toEqual(richWithIds());
  });
});

describe("createResponsesStreamValidator", () => {
  const valid = (): ResponsesStreamEvent[] => responseToEvents(richResponse());
  /** The valid stream with the event at `i` changed by `change`. */
  const mutate = (i: number, change: (e: ResponsesStreamEvent) => ResponsesStreamEvent): ResponsesStreamEvent[] => valid().map((e, j) => (j === i ? change(e) : e));
  const indexOf = (type: string, nth = 0): number =>
    valid()
      .map((e, i) => [e.type, i] as const)
      .filter(([t]) => t === type)[nth]?.[1] ?? -1;

  it.each<[string, () => ResponsesStreamEvent[], RegExp]>([
    ["an event before response.created", () => valid().slice(1), /before response.created/],
    ["a second response.created", () => renumber([...valid().slice(0, 2), valid()[0] as ResponsesStreamEvent, ...valid().slice(2)]), /second response.created/],
    [
      "response.created carrying output",
      () => mutate(0, (e) => (e.type === "response.created" ? { ...e, response: { ...e.response, output: richResponse().output } } : e)),
      /carries output/,
    ],
    ["a sequence_number that repeats", () => mutate(3, (e) => ({ ...e, sequence_number: 2 })), /not after 2/],
    ["a sequence_number that goes back", () => mutate(5, (e) => ({ ...e, sequence_number: 1 })), /not after 4/],
    ["a missing sequence_number", () => mutate(3, (e) => ({ ...e, sequence_number: undefined as unknown as number })), /without a sequence_number/],
    ["another response id", () => mutate(1, (e) => (e.type === "response.in_progress" ? { ...e, response: { ...e.response, id: "resp_other" } } : e)), /response resp_other/],
    ["an output_index out of order", () => mutate(indexOf("response.output_item.added", 1), (e) => ({ ...e, output_index: 2 }) as ResponsesStreamEvent), /output_index 2, expected 1/],
    [
      "a reused item id",
      () => mutate(indexOf("response.output_item.added", 1), (e) => (e.type === "response.output_item.added" ? { ...e, item: { ...e.item, id: "rs_1" } } : e)),
      /reuses item id rs_1/,
    ],
    [
      "an item without id",
      () => mutate(indexOf("response.output_item.added", 3), (e) => (e.type === "response.output_item.added" ? { ...e, item: { ...e.item, id: "" } } : e)),
      /has no item id/,
    ],
    [
      "an item_id that disagrees with output_index",
      () => mutate(indexOf("response.output_text.delta"), (e) => ({ ...e, item_id: "rs_1" }) as ResponsesStreamEvent),
      /is not the item at output_index 1/,
    ],
    ["an output_index never added", () => mutate(indexOf("response.output_text.delta"), (e) => ({ ...e, output_index: 7 }) as ResponsesStreamEvent), /output_index 7, which was never added/],
    ["a content_index never added", () => mutate(indexOf("response.output_text.delta"), (e) => ({ ...e, content_index: 4 }) as ResponsesStreamEvent), /content_index 4 .* never added/],
    [
      "a content part out of order",
      () => mutate(indexOf("response.content_part.added", 1), (e) => ({ ...e, content_index: 1 }) as ResponsesStreamEvent),
      /index 1 for item msg_1, expected 0/,
    ],
    [
      "response.in_progress after an item",
      () => renumber([valid()[0] as ResponsesStreamEvent, ...valid().slice(2, 4), valid()[1] as ResponsesStreamEvent, ...valid().slice(4)]),
      /response.in_progress after output_item.added/,
    ],
    [
      "an output_text delta into a refusal part",
      () => mutate(indexOf("response.refusal.delta"), (e) => ({ ...e, type: "response.output_text.delta", logprobs: [] }) as ResponsesStreamEvent),
      /a refusal part/,
    ],
    [
      "function-call arguments for a message",
      () => mutate(indexOf("response.output_text.delta"), (e) => ({ ...e, type: "response.function_call_arguments.delta" }) as ResponsesStreamEvent),
      /a message item/,
    ],
    [
      "output_item.done as another kind",
      () => mutate(indexOf("response.output_item.done", 3), (e) => (e.type === "response.output_item.done" ? { ...e, item: { ...e.item, type: "file_search_call" } as typeof e.item } : e)),
      /carries a file_search_call/,
    ],
    [
      "an item done before its parts",
      () =>
        valid()
          .filter((_, i) => i !== indexOf("response.content_part.done", 3))
          .map((e, i) => ({ ...e, sequence_number: i })),
      /while one of its parts is open/,
    ],
    ["response.completed while an item is open", () => renumber(valid().filter((_, i) => i !== indexOf("response.output_item.done", 3))), /response.completed while item ws_1/],
    ["an event after the terminal event", () => renumber([...valid(), valid()[4] as ResponsesStreamEvent]), /after response.completed/],
    [
      "an event after error",
      () => renumber([...valid().slice(0, 3), { type: "error", code: null, message: "x", param: null, sequence_number: 0 }, valid()[3] as ResponsesStreamEvent]),
      /after error/,
    ],
  ])("rejects %s", (_name, events, message) => {
    expect(() => validateResponses(events())).toThrow(StreamProtocolError);
    expect(() => validateResponses(events())).toThrow(message);
  });

  it("accepts response.failed that cuts an item short, and an error event as the end", () => {
    const failed = textResponse("", { status: "failed" });
    const cut = renumber([...responseToEvents(failed).slice(0, 4), { type: "response.failed", response: failed, sequence_number: 0 }]);
    expect(() => validateResponses(cut)).not.toThrow();
    const error = renumber([...responseToEvents(failed).slice(0, 2), { type: "error", code: "server_error", message: "boom", param: null, sequence_number: 0 }]);
    expect(() => validateResponses(error)).not.toThrow();
  });

  it("accepts gaps in sequence numbers, response.queued, and unknown events that name no item", () => {
    const events = valid().map((e) => ({ ...e, sequence_number: e.sequence_number * 3 + 10 }));
    const queued = { type: "response.queued", response: (events[0] as ResponsesStreamEvent & { type: "response.created" }).response, sequence_number: 11 } as ResponsesStreamEvent;
    const keepalive = { type: "keepalive", sequence_number: 12 } as unknown as ResponsesStreamEvent;
    expect(() => validateResponses([events[0] as ResponsesStreamEvent, queued, keepalive, ...events.slice(1)])).not.toThrow();
  });

  it("checks unknown events that name an item like known ones", () => {
    const events = valid();
    const itemDone = indexOf("response.output_item.done", 1);
    const late = { type: "response.future_thing.delta", item_id: "msg_1", output_index: 1, sequence_number: 0 } as unknown as ResponsesStreamEvent;
    expect(() => validateResponses(renumber([...events.slice(0, itemDone), late, ...events.slice(itemDone)]))).not.toThrow();
    expect(() => validateResponses(renumber([...events.slice(0, itemDone + 1), late, ...events.slice(itemDone + 1)]))).toThrow(/after its output_item.done/);
  });

  it("end() rejects a stream without a terminal event", () => {
    const validator = createResponsesStreamValidator();
    for (const e of valid().slice(0, -1)) validator.check(e);
    expect(() => validator.end()).toThrow(/without response.completed/);
    expect(() => createResponsesStreamValidator().end()).toThrow(/before response.created/);
  });

  // Events that may come once per stream, item, part or text: a copy of one must be refused; a copy of a delta,
  // an annotation or a lifecycle progress event is a valid (if odd) stream.
  const once = new Set([
    "response.created",
    "response.completed",
    "response.output_item.added",
    "response.output_item.done",
    "response.content_part.added",
    "response.content_part.done",
    "response.output_text.done",
    "response.refusal.done",
    "response.reasoning_text.done",
    "response.reasoning_summary_part.added",
    "response.reasoning_summary_part.done",
    "response.reasoning_summary_text.done",
    "response.function_call_arguments.done",
  ]);

  it.each(valid().map((e, i) => [i, e.type] as const))("a duplicate of event %i (%s) is refused exactly when it may come once", (i, type) => {
    const events = valid();
    const duplicated = renumber([...events.slice(0, i + 1), events[i] as ResponsesStreamEvent, ...events.slice(i + 1)]);
    if (once.has(type)) expect(() => validateResponses(duplicated)).toThrow(StreamProtocolError);
    else expect(() => validateResponses(duplicated)).not.toThrow();
  });

  it("accepts only mutated streams that the SDK's accumulator also takes, and refuses most (500 random drops, copies, swaps, moves)", () => {
    const random = rng(7);
    let refused = 0;
    for (let n = 0; n < 500; n++) {
      const events = valid();
      const i = random.int(events.length);
      const j = random.int(events.length);
      const [event] = events.splice(i, 1) as [ResponsesStreamEvent];
      switch (random.int(4)) {
        case 0:
          break; // dropped
        case 1:
          events.splice(i, 0, event, event);
          break;
        case 2:
          events.splice(Math.min(i + 1, events.length), 0, event);
          break;
        default:
          events.splice(j, 0, event);
      }
      const mutated = renumber(events);
      let accepted = true;
      try {
        validateResponses(mutated);
      } catch (err) {
        expect(err).toBeInstanceOf(StreamProtocolError);
        accepted = false;
        refused++;
      }
      if (accepted) expect(() => sdkAccumulate(mutated)).not.toThrow();
    }
    expect(refused).toBeGreaterThan(250);
  });
});

describe("createResponsesStreamBuilder", () => {
  it("passes a valid stream through unchanged", () => {
    const events = responseToEvents(richResponse());
    expect(build(events)).toEqual(events);
  });

  it("renumbers sequence numbers consecutively from the first event's when a policy drops and adds events", () => {
    const events = responseToEvents(textResponse("Hello")).map((e) => ({ ...e, sequence_number: e.sequence_number + 5 }));
    const delta = events[4] as ResponsesStreamEvent & { type: "response.output_text.delta" };
    const policyOutput = [...events.slice(0, 4), { ...delta, delta: "Hel", sequence_number: 0 }, { ...delta, delta: "lo", sequence_number: 0 }, ...events.slice(5)];
    const out = build(policyOutput);
    expect(out.map((e) => e.sequence_number)).toEqual([5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
  });

  it("renumbers output indices by item when a policy drops a whole item", () => {
    const events = responseToEvents(richResponse()).filter((e) => !("output_index" in e) || e.output_index !== 0);
    const out = build(events);
    const indices = out.flatMap((e) =>
      "output_index" in e ? [[e.type === "response.output_item.added" || e.type === "response.output_item.done" ? e.item.id : e.item_id, e.output_index]] : [],
    );
    expect(new Map(indices as [string, number][])).toEqual(
      new Map([
        ["msg_1", 0],
        ["fc_call_1", 1],
        ["ws_1", 2],
      ]),
    );
  });

  it("lets a policy replace a function call with a message item of its own", () => {
    const events = responseToEvents(richResponse());
    const call = events.findIndex((e) => e.type === "response.output_item.added" && e.item.type === "function_call");
    const callEnd = events.findIndex((e, i) => i > call && e.type === "response.output_item.done");
    // The message item's own events, without the lifecycle events around them.
    const replacement = responseToEvents(
      response([{ id: "msg_blocked", type: "message", role: "assistant", status: "completed", content: [{ type: "output_text", text: "Blocked.", annotations: [] }] }]),
    ).slice(2, -1);
    const out = build([...events.slice(0, call), ...replacement.map((e) => ({ ...e, sequence_number: 0 })), ...events.slice(callEnd + 1)]);
    const added = out.filter((e) => e.type === "response.output_item.added");
    expect(added.map((e) => [e.type === "response.output_item.added" && e.item.id, e.type === "response.output_item.added" && e.output_index])).toEqual([
      ["rs_1", 0],
      ["msg_1", 1],
      ["msg_blocked", 2],
      ["ws_1", 3],
    ]);
  });

  it.each<[string, (events: ResponsesStreamEvent[]) => ResponsesStreamEvent[], RegExp]>([
    ["an event after the terminal event", (events) => [...events, events[4] as ResponsesStreamEvent], /after response.completed/],
    ["a stream without response.created", (events) => events.slice(1), /before response.created/],
    ["a delta for an item no one added", (events) => [...events.slice(0, 3), ...events.slice(4)], /never added/],
    ["a second terminal event", (events) => [...events, events.at(-1) as ResponsesStreamEvent], /after response.completed/],
  ])("throws on %s", (_name, change, message) => {
    expect(() => build(change(responseToEvents(textResponse("Hello"))))).toThrow(message);
  });

  it("end() throws when no terminal event went out, and returns nothing extra after one", () => {
    const builder = createResponsesStreamBuilder();
    const events = responseToEvents(textResponse("Hello"));
    for (const e of events.slice(0, -1)) builder.push(e);
    expect(() => builder.end()).toThrow(StreamProtocolError);
    const complete = createResponsesStreamBuilder();
    for (const e of events) complete.push(e);
    expect(complete.end()).toEqual([]);
  });

  it("keeps what reaches the client valid whatever a policy did (300 random mutations with wild sequence numbers)", () => {
    const random = rng(11);
    for (let n = 0; n < 300; n++) {
      const events = responseToEvents(richResponse())
        .filter(() => random.next() > 0.05)
        .map((e) => ({ ...e, sequence_number: random.int(5) }));
      const builder = createResponsesStreamBuilder();
      const out: ResponsesStreamEvent[] = [];
      try {
        for (const e of events) out.push(...builder.push(e));
        out.push(...builder.end());
      } catch (err) {
        expect(err).toBeInstanceOf(StreamProtocolError);
        continue;
      }
      expect(() => validateResponses(out)).not.toThrow();
      expect(out.map((e) => e.sequence_number)).toEqual(out.map((_, i) => i + (out[0]?.sequence_number ?? 0)));
    }
  });
});

describe("createResponsesAccumulator", () => {
  it("gives the terminal event's response", () => {
    const acc = createResponsesAccumulator();
    expect(acc.result()).toBeUndefined();
    for (const e of responseToEvents(richResponse())) acc.push(e);
    expect(acc.result()).toEqual(richWithIds());
  });

  it("builds the response from the items so far when there is no terminal event, skipping unknown events", () => {
    const acc = createResponsesAccumulator();
    const events = responseToEvents(textResponse("Hello"));
    acc.push(events[0] as ResponsesStreamEvent);
    acc.push({ type: "keepalive", sequence_number: 1 } as unknown as ResponsesStreamEvent);
    for (const e of events.slice(1, 5)) acc.push(e);
    expect(acc.result()).toMatchObject({
      status: "in_progress",
      output_text: "Hello",
      output: [{ id: "msg_1", status: "in_progress", content: [{ type: "output_text", text: "Hello" }] }],
    });
  });

  it("rejects events out of order", () => {
    const acc = createResponsesAccumulator();
    const events = responseToEvents(textResponse("Hello"));
    expect(() => acc.push(events[4] as ResponsesStreamEvent)).toThrow(StreamProtocolError);
  });
});
