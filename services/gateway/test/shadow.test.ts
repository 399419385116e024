import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { subscribeActivity, type ActivityEvent, type ActivitySubscription } from "@luthien/events";
import { startNats, startService, startStack, waitFor, type RunningNats, type RunningService, type Stack } from "@luthien/testkit";

/**
 * Every built-in that can block, redact, hold or rewrite, each in `mode: shadow`, on traffic that triggers all of
 * them: the client gets exactly the provider's bytes, the provider gets exactly the client's request, and each
 * policy's would-be outcome is an activity event `policy.<name>.would_<verb>` — never a real one.
 */

const TEXT = "foo: the key is sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA and BANNED words";
const CALLS = [
  { id: "call_1", name: "Bash", input: { command: "rm -rf /" } },
  { id: "call_2", name: "Query", input: { sql: "DROP TABLE users" } },
];

const openAIBody = {
  id: "chatcmpl-fixed",
  object: "chat.completion",
  created: 1_700_000_000,
  model: "gpt-4o-mini",
  choices: [
    {
      index: 0,
      message: {
        role: "assistant",
        content: TEXT,
        refusal: null,
        tool_calls: CALLS.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: JSON.stringify(c.input) } })),
      },
      finish_reason: "tool_calls",
      logprobs: null,
    },
  ],
  usage: { prompt_tokens: 5, completion_tokens: 9, total_tokens: 14 },
};
const chunk = (delta: object, finish: string | null = null) => ({
  id: "chatcmpl-fixed",
  object: "chat.completion.chunk",
  created: 1_700_000_000,
  model: "gpt-4o-mini",
  choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
});
const openAIStream = [
  chunk({ role: "assistant", content: "" }),
  chunk({ content: TEXT.slice(0, 20) }),
  chunk({ content: TEXT.slice(20) }),
  ...CALLS.flatMap((c, i) => {
    const args = JSON.stringify(c.input);
    return [
      chunk({ tool_calls: [{ index: i, id: c.id, type: "function", function: { name: c.name, arguments: "" } }] }),
      chunk({ tool_calls: [{ index: i, function: { arguments: args.slice(0, 8) } }] }),
      chunk({ tool_calls: [{ index: i, function: { arguments: args.slice(8) } }] }),
    ];
  }),
  chunk({}, "tool_calls"),
].map((c) => ["", JSON.stringify(c)] as const);

const anthropicBody = {
  id: "msg_fixed",
  type: "message",
  role: "assistant",
  model: "claude-sonnet-4-6",
  content: [{ type: "text", text: TEXT }, ...CALLS.map((c) => ({ type: "tool_use", id: `toolu_${c.id}`, name: c.name, input: c.input }))],
  stop_reason: "tool_use",
  stop_sequence: null,
  usage: { input_tokens: 5, output_tokens: 9 },
};
const anthropicStream = [
  { type: "message_start", message: { ...anthropicBody, content: [], stop_reason: null, usage: { input_tokens: 5, output_tokens: 0 } } },
  { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
  { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: TEXT.slice(0, 20) } },
  { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: TEXT.slice(20) } },
  { type: "content_block_stop", index: 0 },
  ...CALLS.flatMap((c, i) => {
    const args = JSON.stringify(c.input);
    return [
      { type: "content_block_start", index: i + 1, content_block: { type: "tool_use", id: `toolu_${c.id}`, name: c.name, input: {} } },
      { type: "content_block_delta", index: i + 1, delta: { type: "input_json_delta", partial_json: args.slice(0, 8) } },
      { type: "content_block_delta", index: i + 1, delta: { type: "input_json_delta", partial_json: args.slice(8) } },
      { type: "content_block_stop", index: i + 1 },
    ];
  }),
  { type: "message_delta", delta: { stop_reason: "tool_use", stop_sequence: null }, usage: { output_tokens: 9 } },
  { type: "message_stop" },
].map((e) => [e.type, JSON.stringify(e)] as const);

/** A provider answering both formats with the fixed bodies and streams above, keeping every request body. */
async function startFixedProvider(): Promise<{ url: string; requests: unknown[]; close(): Promise<void> }> {
  const requests: unknown[] = [];
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString("utf8")));
    req.on("end", () => {
      const parsed = JSON.parse(body) as { stream?: boolean };
      requests.push(parsed);
      const anthropic = req.url?.startsWith("/v1/messages") === true;
      if (parsed.stream !== true) {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(anthropic ? anthropicBody : openAIBody));
        return;
      }
      res.writeHead(200, { "content-type": "text/event-stream" });
      for (const [name, data] of anthropic ? anthropicStream : openAIStream) res.write(`${name === "" ? "" : `event: ${name}\n`}data: ${data}\n\n`);
      res.end(anthropic ? "" : "data: [DONE]\n\n");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const SHADOW = (use: string, options?: string): string[] => [`  - use: ${use}`, ...(options !== undefined ? [`    with: ${options}`] : []), "    mode: shadow"];
const policiesFor = (judgeUrl: string): string =>
  [
    "policies:",
    ...SHADOW("max-tokens", "{ limit: 5 }"),
    ...SHADOW("model-router", '{ routes: [{ match: "*", model: "gpt-routed" }] }'),
    ...SHADOW("regex-filter", "{ patterns: [BANNED] }"),
    ...SHADOW("string-replace", '{ replacements: [["foo", "bar"]] }'),
    ...SHADOW("secret-redaction"),
    ...SHADOW("sql-guard"),
    ...SHADOW("dangerous-commands"),
    ...SHADOW("tool-allowlist", "{ allow: [Read], unknown: ask }"),
    ...SHADOW("all-caps"),
    // The judge asks the same fixed provider, whose answer is no verdict: onError (block) decides, in shadow.
    ...SHADOW("llm-judge", `{ model: judge-model, baseUrl: "${judgeUrl}/v1", apiKeyEnv: JUDGE_KEY, timeoutMs: 5000 }`),
    "",
  ].join("\n");

/** What each shadow policy would have done to this traffic. */
const WOULD = [
  "max-tokens.would_clamp",
  "model-router.would_route",
  "regex-filter.would_block",
  "string-replace.would_modify_response",
  "secret-redaction.would_redact",
  "sql-guard.would_block",
  "dangerous-commands.would_block",
  "tool-allowlist.would_hold",
  "all-caps.would_modify_response",
  "llm-judge.would_block",
];

let nats: RunningNats;
let provider: Awaited<ReturnType<typeof startFixedProvider>>;
let stack: Stack;
let gateway: RunningService;
let subscription: ActivitySubscription;
const events: ActivityEvent[] = [];

beforeAll(async () => {
  nats = await startNats();
  provider = await startFixedProvider();
  stack = await startStack({ natsUrl: nats.url, policies: policiesFor(provider.url), engineEnv: { JUDGE_KEY: "judge-key" } });
  await stack.gateway.stop();
  gateway = await startService("gateway", {
    env: { OPENAI_UPSTREAM_URL: `${provider.url}/v1`, ANTHROPIC_UPSTREAM_URL: provider.url, POLICY_ENGINE_URL: stack.engine?.address ?? "", NATS_URL: nats.url },
  });
  subscription = subscribeActivity({ url: nats.url, subject: "luthien.activity.policy.>" }, (d) => {
    if (d.event !== undefined) events.push(d.event);
  });
  await waitFor(() => subscription.connected(), { timeoutMs: 10_000, what: "the NATS subscription" });
}, 60_000);

afterAll(async () => {
  await subscription?.close();
  await gateway?.stop();
  await stack?.stop();
  await provider?.close();
  await nats?.dispose();
});

/** The `(event name, data)` pairs of an SSE body, without heartbeats and comments. */
function sseEvents(text: string): (readonly [string, string])[] {
  return text
    .split("\n\n")
    .filter((block) => block.trim() !== "" && !block.startsWith(":"))
    .map((block) => {
      const lines = block.split("\n");
      const name = lines.find((l) => l.startsWith("event: "))?.slice(7) ?? "";
      const data = lines.find((l) => l.startsWith("data: "))?.slice(6) ?? "";
      return [name, data] as const;
    })
    .filter(([name]) => name !== "ping");
}

const cases = [
  { format: "openai", stream: false },
  { format: "openai", stream: true },
  { format: "anthropic", stream: false },
  { format: "anthropic", stream: true },
] as const;

describe("every built-in in shadow", () => {
  it.each(cases)("$format stream=$stream: not a byte of traffic changes, and every would-be outcome is recorded", async ({ format, stream }) => {
    const request =
      format === "openai"
        ? {
            model: "gpt-4o-mini",
            max_tokens: 500,
            stream,
            messages: [{ role: "user", content: "say BANNED things, foo" }],
            tools: [{ type: "function", function: { name: "Bash", parameters: { type: "object" } } }],
          }
        : {
            model: "claude-sonnet-4-6",
            max_tokens: 500,
            stream,
            messages: [{ role: "user", content: "say BANNED things, foo" }],
            tools: [{ name: "Bash", input_schema: { type: "object" } }],
          };
    const before = provider.requests.length;
    const res = await fetch(`${gateway.url}${format === "openai" ? "/v1/chat/completions" : "/v1/messages"}`, {
      method: "POST",
      headers: { "content-type": "application/json", "anthropic-version": "2023-06-01" },
      body: JSON.stringify(request),
    });
    expect(res.status).toBe(200);
    const text = await res.text();
    const callId = res.headers.get("x-luthien-call-id") ?? "";
    // The provider got the client's request, exactly (beside the judge's own questions).
    const judged = (r: unknown): boolean => (r as { model?: string }).model === "judge-model";
    expect(provider.requests.slice(before).filter((r) => !judged(r))).toEqual([request]);
    // The client got the provider's answer, exactly.
    if (!stream) expect(text).toBe(JSON.stringify(format === "openai" ? openAIBody : anthropicBody));
    else expect(sseEvents(text)).toEqual([...(format === "openai" ? openAIStream : anthropicStream), ...(format === "openai" ? [["", "[DONE]"]] : [])]);
    const actions = (): string[] => [...new Set(events.filter((e) => e.callId === callId).map((e) => e.type.slice("policy.".length)))].sort();
    await waitFor(() => WOULD.every((a) => actions().includes(a)), { timeoutMs: 10_000, what: `the would-be outcomes of ${callId} (have ${actions().join(", ")})` });
    // Nothing but would-be outcomes.
    expect(actions().filter((a) => !a.includes(".would_"))).toEqual([]);
  });
});
