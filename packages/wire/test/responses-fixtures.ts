import { accumulateResponse } from "openai/lib/responses/ResponseAccumulator";
import { createResponsesStreamValidator, encodeSseEvent, type ResponsesRequest, type ResponsesResponse, type ResponsesStreamEvent } from "../src";
import type { SdkHarness } from "./fixtures";

/** A Responses request with defaults. */
export const responsesRequest = (over: Partial<ResponsesRequest> = {}): ResponsesRequest => ({ model: "claude-x", input: "hi", ...over }) as ResponsesRequest;

/** A whole response with defaults, as OpenAI sends one. */
export function response(output: ResponsesResponse["output"], over: Partial<ResponsesResponse> = {}): ResponsesResponse {
  return {
    id: "resp_1",
    object: "response",
    created_at: 1700000000,
    status: "completed",
    error: null,
    incomplete_details: null,
    instructions: null,
    model: "gpt-test",
    output,
    output_text: "",
    parallel_tool_calls: true,
    temperature: null,
    top_p: null,
    tool_choice: "auto",
    tools: [],
    metadata: {},
    usage: { input_tokens: 3, input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 }, output_tokens: 4, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 7 },
    ...over,
  };
}

/** A response with one item of every kind `responseToEvents` streams differently. */
export const richResponse = (over: Partial<ResponsesResponse> = {}): ResponsesResponse =>
  response(
    [
      {
        id: "rs_1",
        type: "reasoning",
        summary: [
          { type: "summary_text", text: "Think" },
          { type: "summary_text", text: "" },
        ],
        content: [{ type: "reasoning_text", text: "raw thoughts" }],
      },
      {
        id: "msg_1",
        type: "message",
        role: "assistant",
        status: "completed",
        content: [
          { type: "output_text", text: "See docs.", annotations: [{ type: "url_citation", url: "https://x.test", title: "X", start_index: 0, end_index: 3 }], logprobs: [] },
          { type: "refusal", refusal: "No." },
          { type: "output_text", text: "", annotations: [] },
        ],
      },
      { type: "function_call", call_id: "call_1", name: "ls", arguments: '{"path":"/"}', status: "completed" },
      { id: "ws_1", type: "web_search_call", status: "completed", action: { type: "search", query: "q" } },
    ],
    { output_text: "See docs.", ...over },
  );

/** Checks a whole Responses event sequence with the validator; throws at the first violation. */
export function validateResponses(events: readonly ResponsesStreamEvent[]): void {
  const validator = createResponsesStreamValidator();
  for (const event of events) validator.check(event);
  validator.end();
}

/** The response the official SDK's accumulator makes of the events. */
export function sdkAccumulate(events: readonly ResponsesStreamEvent[]): ResponsesResponse | undefined {
  let snapshot: ResponsesResponse | undefined;
  for (const event of events) snapshot = accumulateResponse(event, snapshot);
  return snapshot;
}

/** SSE bytes as OpenAI sends a Responses stream: `event: <type>` and the JSON, no `[DONE]`. */
export function responsesSse(events: readonly ResponsesStreamEvent[]): string {
  return events.map((e) => encodeSseEvent({ event: e.type, data: JSON.stringify(e) })).join("");
}

/** What the official client's `responses.stream(...).finalResponse()` makes of an SSE body, without its parse fields. */
export async function sdkFinalResponse(sdk: SdkHarness, body: string): Promise<ResponsesResponse> {
  sdk.serve(body);
  const final = await sdk.openai.responses.stream({ model: "gpt-test", input: "hi" }).finalResponse();
  return withoutParsed(final) as ResponsesResponse;
}

/** Drops the fields the SDK adds when it parses (`output_parsed`, `parsed_arguments`, `parsed`). */
function withoutParsed(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutParsed);
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => key !== "output_parsed" && key !== "parsed_arguments" && key !== "parsed")
      .map(([key, v]) => [key, withoutParsed(v)]),
  );
}

/** Sets `sequence_number` to 0, 1, 2, ... (for mutated streams, so only the mutation is wrong). */
export function renumber(events: readonly ResponsesStreamEvent[]): ResponsesStreamEvent[] {
  return events.map((e, i) => ({ ...e, sequence_number: i }));
}

/** A small seeded PRNG (mulberry32), so generated cases repeat. */
export function rng(seed: number): { next(): number; int(n: number): number; pick<T>(items: readonly T[]): T } {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  return { next, int, pick: (items) => items[int(items.length)] as (typeof items)[number] };
}

/** `text` cut at random places into 1 to 4 pieces (each possibly empty). */
export function randomPieces(text: string, random: ReturnType<typeof rng>): string[] {
  const cuts = Array.from({ length: random.int(4) }, () => random.int(text.length + 1)).sort((x, y) => x - y);
  const pieces: string[] = [];
  let from = 0;
  for (const cut of cuts) {
    pieces.push(text.slice(from, cut));
    from = cut;
  }
  pieces.push(text.slice(from));
  return pieces;
}
