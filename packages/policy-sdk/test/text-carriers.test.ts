import {
  anthropicRequest,
  anthropicStream,
  createStringReplacer,
  createTextPolicy,
  openAIRequest,
  randomPieces,
  requestText,
  responseText,
  responsesRequest,
  responsesResponse,
  responsesStream,
  runPolicy,
  seededRandom,
  startChainRun,
  type PolicyEvent,
  type PolicyRequest,
  type PolicyResponse,
} from "@luthien/policy-sdk";
import type { AnthropicStreamEvent, ChatCompletion, ChatCompletionChunk, Message, MessageParam, ResponsesStreamEvent } from "@luthien/wire";
import { mapAnthropicMessage, mapAnthropicRequest } from "../src/internal/anthropic-text";
import type { Carrier } from "../src/internal/carriers";
import { mapOpenAICompletion, mapOpenAIRequest } from "../src/internal/openai-text";

/**
 * Every text carrier, both directions: the walkers must see every string of a body that is text (not a type tag,
 * id, model name or base64 payload), and the text policy must rewrite every carrier it may write and leave the rest.
 */

/** Keys whose strings are structure, not text (type tags, ids, roles, payloads). */
const STRUCTURAL = new Set([
  "type",
  "role",
  "model",
  "id",
  "tool_call_id",
  "tool_use_id",
  "call_id",
  "object",
  "media_type",
  "detail",
  "format",
  "voice",
  "signature",
  "encrypted_content",
  "encrypted_index",
  "encrypted_stdout",
  "file_id",
  "data",
  "mode",
  "finish_reason",
  "stop_reason",
  "page_age",
  "error_code",
  "syntax",
  "file_type",
  "retrieved_at",
  "status",
  "user",
  "tab_id",
  "system_fingerprint",
  "service_tier",
]);

/** Every string leaf of `value` not under a structural key (base64 image data excluded), with its path. */
function textLeaves(value: unknown, path = "", key = ""): { path: string; text: string }[] {
  if (typeof value === "string") return STRUCTURAL.has(key) || value.startsWith("data:") || value === "" ? [] : [{ path, text: value }];
  if (Array.isArray(value)) return value.flatMap((v, i) => textLeaves(v, `${path}[${i}]`, key));
  if (typeof value === "object" && value !== null) return Object.entries(value).flatMap(([k, v]) => textLeaves(v, path === "" ? k : `${path}.${k}`, k));
  return [];
}
/** Each leaf is found in some carrier's text (carriers of JSON values hold them inside their JSON). */
function unseen(leaves: { path: string; text: string }[], carriers: string[]): string[] {
  return leaves.filter((l) => !carriers.some((c) => c.includes(l.text) || c.includes(JSON.stringify(l.text).slice(1, -1)))).map((l) => `${l.path}: ${l.text}`);
}

/** A marker per leaf, so every carrier is distinguishable. */
let n = 0;
const m = (what: string): string => `${what} SECRET-${n++}`;

const openAIBody = (): PolicyRequest =>
  openAIRequest(
    [
      { role: "system", content: m("system"), name: "sysname" },
      { role: "developer", content: [{ type: "text", text: m("developer part") }] },
      {
        role: "user",
        name: "alice",
        content: [
          { type: "text", text: m("user part") },
          { type: "image_url", image_url: { url: `https://img.example/x.png?token=${m("url")}` } },
          { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } },
          { type: "input_audio", input_audio: { data: "AAAA", format: "wav" } },
          { type: "file", file: { file_data: "data:application/pdf;base64,AAAA", filename: m("file name") } },
        ],
      },
      {
        role: "assistant",
        name: "bot",
        content: [
          { type: "text", text: m("assistant part") },
          { type: "refusal", refusal: m("refusal part") },
        ],
        refusal: m("refusal"),
        tool_calls: [
          { id: "c1", type: "function", function: { name: "Bash", arguments: JSON.stringify({ command: m("earlier command") }) } },
          { id: "c2", type: "custom", custom: { name: "patch", input: m("custom input") } },
        ],
      },
      { role: "assistant", content: null, function_call: { name: "legacy", arguments: JSON.stringify({ q: m("legacy args") }) } },
      { role: "tool", tool_call_id: "c1", content: [{ type: "text", text: m("tool part") }] },
      { role: "function", name: "legacy", content: m("function result") },
    ],
    {
      prediction: { type: "content", content: m("prediction") },
      metadata: { note: m("metadata") },
      tools: [
        {
          type: "function",
          function: { name: "Bash", description: m("tool description"), parameters: { type: "object", properties: { command: { type: "string", description: m("param description") } } } },
        },
        { type: "custom", custom: { name: "patch", description: m("custom description"), format: { type: "grammar", grammar: { syntax: "lark", definition: m("grammar") } } } },
      ],
      functions: [{ name: "legacy", description: m("function description") }],
      response_format: { type: "json_schema", json_schema: { name: "answer", description: m("schema description"), schema: { title: m("schema title") } } },
    },
  );

const anthropicBody = (): PolicyRequest => {
  const messages: MessageParam[] = [
    {
      role: "user",
      content: [
        {
          type: "text",
          text: m("user text"),
          citations: [{ type: "char_location", cited_text: m("cited"), document_index: 0, document_title: m("doc title"), start_char_index: 0, end_char_index: 1 }],
        },
        { type: "image", source: { type: "url", url: `https://img.example/a.png?sig=${m("image url")}` } },
        { type: "document", source: { type: "text", media_type: "text/plain", data: m("text document") }, title: m("document title"), context: m("document context") },
        { type: "document", source: { type: "content", content: [{ type: "text", text: m("content document") }] } },
        { type: "document", source: { type: "content", content: m("content document string") } },
        { type: "search_result", source: `https://s.example/${m("search source")}`, title: m("search title"), content: [{ type: "text", text: m("search text") }] },
      ],
    },
    {
      role: "assistant",
      content: [
        { type: "thinking", thinking: m("thinking"), signature: "sig" },
        { type: "redacted_thinking", data: "opaque" },
        { type: "text", text: m("assistant text") },
        { type: "tool_use", id: "t1", name: "Bash", input: { command: m("earlier tool input") } },
        { type: "server_tool_use", id: "s1", name: "web_search", input: { query: m("search query") } },
        {
          type: "web_search_tool_result",
          tool_use_id: "s1",
          content: [{ type: "web_search_result", title: m("web result title"), url: `https://w.example/${m("web url")}`, encrypted_content: "enc" }],
        },
        {
          type: "web_fetch_tool_result",
          tool_use_id: "s2",
          content: {
            type: "web_fetch_result",
            url: `https://f.example/${m("fetch url")}`,
            content: { type: "document", source: { type: "text", media_type: "text/plain", data: m("fetched page") } },
          },
        },
        { type: "code_execution_tool_result", tool_use_id: "s3", content: { type: "code_execution_result", stdout: m("stdout"), stderr: m("stderr"), return_code: 0, content: [] } },
        {
          type: "bash_code_execution_tool_result",
          tool_use_id: "s4",
          content: { type: "bash_code_execution_result", stdout: m("bash stdout"), stderr: m("bash stderr"), return_code: 0, content: [] },
        },
        { type: "text_editor_code_execution_tool_result", tool_use_id: "s5", content: { type: "text_editor_code_execution_view_result", content: m("editor view"), file_type: "text" } },
      ],
    },
    {
      role: "user",
      content: [
        {
          type: "tool_result",
          tool_use_id: "t1",
          content: [
            { type: "text", text: m("tool result text") },
            { type: "document", source: { type: "content", content: [{ type: "text", text: m("tool result document") }] } },
            { type: "search_result", source: "https://x", title: m("tool result search title"), content: [{ type: "text", text: m("tool result search text") }] },
            { type: "tool_reference", tool_name: m("tool reference") },
          ],
        },
        { type: "tool_result", tool_use_id: "t2", content: m("tool result string") },
      ],
    },
  ];
  return anthropicRequest(messages, {
    system: [{ type: "text", text: m("system block") }],
    tools: [{ name: "Bash", description: m("tool description"), input_schema: { type: "object", properties: { command: { type: "string", description: m("schema description") } } } }],
  });
};

describe("requestText sees every text of a request", () => {
  it.each([
    ["OpenAI", openAIBody],
    ["Anthropic", anthropicBody],
  ])("%s: every string leaf that is text is a carrier", (_f, make) => {
    const request = make();
    const carriers = [...requestText(request)].map((c) => c.text);
    expect(unseen(textLeaves(request.body), carriers)).toEqual([]);
  });

  it("Anthropic system messages in the turn list are system text", () => {
    const request = anthropicRequest([{ role: "system", content: "be careful" } as unknown as MessageParam, { role: "user", content: "hi" }]);
    expect([...requestText(request)][0]).toEqual({ where: "messages[0].content", role: "system", text: "be careful" });
  });
});

/** Replaces SECRET everywhere it may, and says so. */
const redact = createTextPolicy({ name: "redact", applyTo: "both", signed: "fail", createTransformer: () => createStringReplacer({ replacements: [["SECRET", "[gone]"]] }) });
const redactLeavingThinking = createTextPolicy({ name: "redact", applyTo: "both", createTransformer: () => createStringReplacer({ replacements: [["SECRET", "[gone]"]] }) });

/** The carriers of a body with their access, by place (the SDK's walkers, as the text policy uses them). */
function carriersOf(x: PolicyRequest | PolicyResponse): Map<string, Carrier> {
  const found = new Map<string, Carrier>();
  const visit = (c: Carrier): string => (found.set(c.where, c), c.text);
  if (x.format === "openai") "messages" in x.body ? mapOpenAIRequest(x.body, visit) : mapOpenAICompletion(x.body, visit);
  else if (x.format === "anthropic") "messages" in x.body ? mapAnthropicRequest(x.body, visit) : mapAnthropicMessage(x.body, visit);
  return found;
}

/** Written carriers lost the secret; every other carrier is exactly as it was. */
function expectRewritten(before: Map<string, Carrier>, after: Map<string, Carrier>): void {
  // Logprobs may be gone (dropped); every other carrier is still there.
  const places = (x: Map<string, Carrier>): string[] => [...x.values()].filter((c) => c.access !== "logprobs").map((c) => c.where);
  expect(places(after)).toEqual(places(before));
  let written = 0;
  for (const [where, c] of before) {
    const now = after.get(where)?.text;
    if (c.access === "write") {
      written++;
      expect([where, now]).toEqual([where, c.text.replaceAll("SECRET", "[gone]")]);
    } else if (c.access !== "logprobs") expect([where, now]).toEqual([where, c.text]);
  }
  expect(written).toBeGreaterThan(5);
}

describe("the text policy rewrites every carrier it may write, in requests", () => {
  it.each([
    ["OpenAI", openAIBody],
    ["Anthropic", anthropicBody],
  ])("%s: written carriers lose the secret, read and signed ones keep it", async (_f, make) => {
    const request = make();
    const run = await runPolicy(redact, { request });
    const before = carriersOf(request);
    expect([...before.values()].some((c) => c.access === "read" && c.text.includes("SECRET"))).toBe(true);
    expectRewritten(before, carriersOf(run.request as PolicyRequest));
  });
});

const completion = (): ChatCompletion => ({
  id: "c",
  object: "chat.completion",
  created: 1,
  model: "m",
  choices: [
    {
      index: 0,
      finish_reason: "stop",
      logprobs: { content: [{ token: "a SECRET", logprob: -1, bytes: null, top_logprobs: [] }], refusal: null },
      message: {
        role: "assistant",
        content: m("content"),
        refusal: m("refusal"),
        audio: { id: "a", data: "AAAA", expires_at: 1, transcript: m("transcript") },
        annotations: [{ type: "url_citation", url_citation: { start_index: 0, end_index: 1, title: m("annotation title"), url: `https://u.example/${m("annotation url")}` } }],
        tool_calls: [{ id: "c1", type: "function", function: { name: "Bash", arguments: JSON.stringify({ command: m("tool args") }) } }],
        ...({ reasoning_content: m("reasoning_content"), reasoning: m("reasoning") } as object),
      },
    },
  ],
});

const message = (): Message => ({
  id: "msg",
  type: "message",
  role: "assistant",
  model: "claude",
  stop_reason: "end_turn",
  stop_sequence: null,
  stop_details: null,
  container: null,
  diagnostics: null,
  usage: {
    input_tokens: 1,
    output_tokens: 1,
    cache_creation_input_tokens: null,
    cache_read_input_tokens: null,
    server_tool_use: null,
    service_tier: null,
    cache_creation: null,
    inference_geo: null,
    output_tokens_details: null,
  } as Message["usage"],
  content: [
    {
      type: "text",
      text: m("text"),
      citations: [{ type: "web_search_result_location", cited_text: m("cited text"), encrypted_index: "e", title: m("citation title"), url: `https://c.example/${m("citation url")}` }],
    },
    {
      type: "web_search_tool_result",
      tool_use_id: "s",
      caller: { type: "direct" },
      content: [{ type: "web_search_result", title: m("search title"), url: `https://s.example/${m("search url")}`, encrypted_content: "enc", page_age: null }],
    },
    {
      type: "web_fetch_tool_result",
      tool_use_id: "f",
      caller: { type: "direct" },
      content: {
        type: "web_fetch_result",
        url: `https://f.example/${m("fetch url")}`,
        retrieved_at: null,
        content: { type: "document", citations: null, title: m("fetched title"), source: { type: "text", media_type: "text/plain", data: m("fetched page") } },
      },
    },
    { type: "code_execution_tool_result", tool_use_id: "x", content: { type: "code_execution_result", stdout: m("stdout"), stderr: m("stderr"), return_code: 0, content: [] } },
    { type: "tool_use", id: "t", name: "Bash", input: { command: m("tool input") }, caller: { type: "direct" } },
  ],
});

describe("responseText sees every text of a response", () => {
  it.each<[string, () => PolicyResponse]>([
    ["OpenAI", () => ({ format: "openai", body: completion() })],
    ["Anthropic", () => ({ format: "anthropic", body: message() })],
  ])("%s: every string leaf that is text is a carrier", (_f, make) => {
    const response = make();
    const carriers = [...responseText(response)].map((c) => c.text);
    expect(unseen(textLeaves(response.body), carriers)).toEqual([]);
  });

  it("the text policy rewrites what it writes, drops logprobs that spell a secret, leaves calls and URLs", async () => {
    const openai: PolicyResponse = { format: "openai", body: completion() };
    const outOpenAI = (await runPolicy(redact, { request: openAIRequest("x"), response: openai })).response as PolicyResponse;
    expectRewritten(carriersOf(openai), carriersOf(outOpenAI));
    // Logprobs of changed content are the chain's to drop; they are gone either way.
    expect((outOpenAI.body as ChatCompletion).choices[0]?.logprobs).toBeNull();
    const anthropic: PolicyResponse = { format: "anthropic", body: message() };
    const outAnthropic = (await runPolicy(redact, { request: anthropicRequest("x"), response: anthropic })).response as PolicyResponse;
    expectRewritten(carriersOf(anthropic), carriersOf(outAnthropic));
    expect([...responseText(outAnthropic)].filter((c) => c.access === "read" && c.text.includes("SECRET")).length).toBeGreaterThan(2);
  });

  it("drops logprobs whose tokens spell a secret while the content says something else", async () => {
    const body = completion();
    const choice = body.choices[0] as ChatCompletion.Choice;
    body.choices[0] = { ...choice, message: { role: "assistant", content: "plain", refusal: null } };
    const run = await runPolicy(redact, { request: openAIRequest("x"), response: { format: "openai", body } });
    expect((run.response as { body: ChatCompletion }).body.choices[0]?.logprobs).toBeNull();
  });
});

/** Runs a chain over a stream until it throws, returning what was emitted before (what reached the client). */
async function emittedUntilThrow(policy: typeof redact, stream: PolicyEvent[]): Promise<{ out: PolicyEvent[]; error: unknown }> {
  const run = startChainRun(
    [policy],
    { callId: "c", format: stream[0]?.format ?? "openai", stream: true, keyId: "", owner: "", userId: "", sessionId: "", model: "m" },
    { emit: () => undefined, keepalive: () => undefined },
  );
  const out: PolicyEvent[] = [];
  try {
    for (const e of stream) out.push(...(await run.onEvent(e)));
    out.push(...(await run.onStreamEnd()));
  } catch (error) {
    return { out, error };
  }
  return { out, error: undefined };
}

describe("the text policy in streams (generated splits)", () => {
  const SECRET = "SECRET";
  const sentence = (k: number) => `step ${k}: the SECRET is here, and SECRET again.`;
  const base = { id: "chatcmpl", object: "chat.completion.chunk" as const, created: 1, model: "m" };
  const chunk = (
    delta: ChatCompletionChunk.Choice.Delta,
    finish: ChatCompletionChunk.Choice["finish_reason"] = null,
    logprobs: ChatCompletionChunk.Choice["logprobs"] = null,
  ): PolicyEvent => ({
    format: "openai",
    chunk: { ...base, choices: [{ index: 0, delta, finish_reason: finish, logprobs }] },
  });
  const FIELDS = ["content", "refusal", "reasoning_content", "reasoning", "audio"] as const;

  it("OpenAI: a secret split anywhere in content, refusal, reasoning or transcript never reaches the client (120 variants)", async () => {
    const random = seededRandom(7);
    let variants = 0;
    for (let k = 0; k < 24; k++) {
      for (const field of FIELDS) {
        const text = sentence(k);
        const pieces = randomPieces(random, text, 8);
        const deltas = pieces.map((p) => (field === "audio" ? ({ audio: { transcript: p } } as ChatCompletionChunk.Choice.Delta) : ({ [field]: p } as ChatCompletionChunk.Choice.Delta)));
        const stream = [chunk({ role: "assistant" }), ...deltas.map((d) => chunk(d)), chunk({}, "stop")];
        const run = await runPolicy(redact, { request: openAIRequest("x"), stream });
        const said = run.events
          .flatMap((e) => (e.format === "openai" ? e.chunk.choices : []))
          .map((c) =>
            field === "audio" ? ((c.delta as { audio?: { transcript?: string } }).audio?.transcript ?? "") : (((c.delta as Record<string, unknown>)[field] as string | undefined) ?? ""),
          )
          .join("");
        expect([field, said]).toEqual([field, text.replaceAll(SECRET, "[gone]")]);
        variants++;
      }
    }
    expect(variants).toBe(120);
  });

  it("OpenAI: logprob tokens that spell a secret are dropped where the text itself did not change", async () => {
    const tokens = (t: string[]) => ({ content: t.map((token) => ({ token, logprob: -1, bytes: null, top_logprobs: [] })), refusal: null });
    const stream = [chunk({ role: "assistant", content: "" }), chunk({ content: "ok" }, null, tokens(["SEC", "RET"])), chunk({}, "stop")];
    const run = await runPolicy(redact, { request: openAIRequest("x"), stream });
    const lists = run.events.flatMap((e) => (e.format === "openai" ? e.chunk.choices.map((c) => c.logprobs) : []));
    expect(JSON.stringify(lists)).not.toContain("SEC");
  });

  it("Anthropic: citations_delta, text and server tool results are rewritten; thinking with a secret fails the call before the secret is sent", async () => {
    const random = seededRandom(11);
    for (let k = 0; k < 20; k++) {
      const pieces = randomPieces(random, sentence(k), 6);
      const events: AnthropicStreamEvent[] = anthropicStream({ thinking: "x" })
        .flatMap((e) => (e.format === "anthropic" ? [e.event] : []))
        .filter((e) => e.type === "message_start");
      events.push(
        { type: "content_block_start", index: 0, content_block: { type: "thinking", thinking: "", signature: "" } },
        ...pieces.map((thinking): AnthropicStreamEvent => ({ type: "content_block_delta", index: 0, delta: { type: "thinking_delta", thinking } })),
        { type: "content_block_delta", index: 0, delta: { type: "signature_delta", signature: "sig" } },
        { type: "content_block_stop", index: 0 },
      );
      const stream = events.map((event): PolicyEvent => ({ format: "anthropic", event }));
      const thinkingOf = (out: PolicyEvent[]): string =>
        out.map((e) => (e.format === "anthropic" && e.event.type === "content_block_delta" && e.event.delta.type === "thinking_delta" ? e.event.delta.thinking : "")).join("");
      const { out, error } = await emittedUntilThrow(redact, stream);
      expect(String(error)).toMatch(/signed thinking at content\[0\]\.thinking would change/);
      expect(thinkingOf(out)).not.toContain(SECRET);
      // A policy that leaves thinking alone passes it untouched.
      const left = await emittedUntilThrow(redactLeavingThinking, stream);
      expect(left.error).toBeUndefined();
      expect(thinkingOf(left.out)).toBe(sentence(k));
    }
    const citation = { type: "char_location" as const, cited_text: "the SECRET", document_index: 0, document_title: "SECRET doc", start_char_index: 0, end_char_index: 1, file_id: null };
    const events: AnthropicStreamEvent[] = [
      ...anthropicStream({ text: "see the SECRET" })
        .flatMap((e) => (e.format === "anthropic" ? [e.event] : []))
        .filter((e) => e.type === "message_start"),
      { type: "content_block_start", index: 0, content_block: { type: "text", text: "", citations: [] } },
      { type: "content_block_delta", index: 0, delta: { type: "citations_delta", citation } },
      { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "SEC" } },
      { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "RET" } },
      { type: "content_block_stop", index: 0 },
      {
        type: "content_block_start",
        index: 1,
        content_block: { type: "code_execution_tool_result", tool_use_id: "x", content: { type: "code_execution_result", stdout: "SECRET out", stderr: "", return_code: 0, content: [] } },
      },
      { type: "content_block_stop", index: 1 },
    ];
    const run = await emittedUntilThrow(
      redact,
      events.map((event) => ({ format: "anthropic", event })),
    );
    expect(run.error).toBeUndefined();
    expect(JSON.stringify(run.out)).not.toContain(SECRET);
  });
});

describe("the text policy on Responses refusals (generated splits)", () => {
  it("rewrites a refusal part in its deltas, done events, item and final response alike (30 variants)", async () => {
    const random = seededRandom(5);
    for (let k = 0; k < 30; k++) {
      const refusal = `I won't: SECRET number ${k}, SECRET.`;
      const pieces = randomPieces(random, refusal, 6);
      const part = { type: "refusal" as const, refusal };
      const item = { type: "message" as const, id: "msg_r", role: "assistant" as const, status: "completed" as const, content: [part] };
      const base = responsesStream({ items: [] }).flatMap((e) => (e.format === "responses" ? [e.event] : []));
      const completed = base.at(-1) as Extract<ResponsesStreamEvent, { type: "response.completed" }>;
      const at = { item_id: "msg_r", output_index: 0, content_index: 0, sequence_number: 0 };
      const events: ResponsesStreamEvent[] = [
        ...base.slice(0, -1),
        { type: "response.output_item.added", output_index: 0, sequence_number: 0, item: { ...item, status: "in_progress", content: [] } },
        { type: "response.content_part.added", ...at, part: { type: "refusal", refusal: "" } },
        ...pieces.map((delta): ResponsesStreamEvent => ({ type: "response.refusal.delta", ...at, delta })),
        { type: "response.refusal.done", ...at, refusal },
        { type: "response.content_part.done", ...at, part },
        { type: "response.output_item.done", output_index: 0, sequence_number: 0, item },
        { ...completed, response: { ...completed.response, output: [item] } },
      ];
      const run = await runPolicy(redact, { request: responsesRequest("x"), stream: events.map((event): PolicyEvent => ({ format: "responses", event })) });
      const expected = refusal.replaceAll("SECRET", "[gone]");
      const out = run.delivered.flatMap((e) => (e.format === "responses" ? [e.event] : []));
      expect(
        out
          .filter((e) => e.type === "response.refusal.delta")
          .map((e) => (e as { delta: string }).delta)
          .join(""),
      ).toBe(expected);
      expect(JSON.stringify(out)).not.toContain("SECRET");
      const final = (run.response as { body: { output: { content: { refusal: string }[] }[] } }).body.output[0]?.content[0]?.refusal;
      expect(final).toBe(expected);
    }
    const whole = await runPolicy(redact, {
      request: responsesRequest("x"),
      response: responsesResponse({ items: [{ type: "message", id: "m", role: "assistant", status: "completed", content: [{ type: "refusal", refusal: "no SECRET" }] }] }),
    });
    expect(JSON.stringify(whole.response)).not.toContain("SECRET");
  });
});

describe("text in shapes the SDK's types do not have", () => {
  const chunk = (content: unknown, finish: ChatCompletionChunk.Choice["finish_reason"] = null): PolicyEvent => ({
    format: "openai",
    chunk: {
      id: "c",
      object: "chat.completion.chunk",
      created: 1,
      model: "m",
      choices: [{ index: 0, delta: { content } as ChatCompletionChunk.Choice.Delta, finish_reason: finish, logprobs: null }],
    },
  });

  it("OpenAI content as a list of parts (providers send it, thinking parts with nested text too), streamed at random and whole", async () => {
    const random = seededRandom(3);
    for (let k = 0; k < 20; k++) {
      const text = `the SECRET ${k} and SECRET`;
      const pieces = randomPieces(random, text, 6);
      const stream = [
        chunk(""),
        ...pieces.map((p, j) => chunk(j % 2 === 0 ? [{ type: "text", text: p }] : [{ type: "thinking", thinking: [{ type: "text", text: p }] }])),
        chunk(null, "stop"),
      ];
      const run = await runPolicy(redact, { request: openAIRequest("x"), stream });
      // Every text the client gets, in order, strings and (nested) parts alike.
      const texts = (x: unknown): string[] =>
        typeof x === "string"
          ? [x]
          : Array.isArray(x)
            ? x.flatMap(texts)
            : typeof x === "object" && x !== null
              ? Object.entries(x).flatMap(([key, v]) => (key === "type" ? [] : texts(v)))
              : [];
      const said = run.events.flatMap((e) => (e.format === "openai" ? e.chunk.choices.flatMap((c) => texts(c.delta.content)) : [])).join("");
      expect(said).toBe(text.replaceAll("SECRET", "[gone]"));
    }
    const body = completion();
    const choice = body.choices[0] as ChatCompletion.Choice;
    body.choices[0] = { ...choice, logprobs: null, message: { role: "assistant", refusal: null, content: [{ type: "text", text: "a SECRET" }] as unknown as string } };
    const whole = await runPolicy(redact, { request: openAIRequest("x"), response: { format: "openai", body } });
    expect(JSON.stringify(whole.response)).not.toContain("SECRET");
  });

  it("request parts and blocks of kinds the SDK does not type are seen (and text in them written)", () => {
    const openai = openAIRequest([{ role: "user", content: [{ type: "input_text", text: "odd SECRET" } as unknown as { type: "text"; text: string }] }]);
    expect([...requestText(openai)].map((c) => c.text)).toEqual(["odd SECRET"]);
    const anthropic = anthropicRequest([
      {
        role: "user",
        content: [{ type: "mcp_tool_result", tool_use_id: "m", content: [{ type: "text", text: "beta SECRET" }] } as unknown as MessageParam["content"][number] & object],
      } as MessageParam,
    ]);
    expect([...requestText(anthropic)].some((c) => c.text.includes("beta SECRET"))).toBe(true);
  });
});
