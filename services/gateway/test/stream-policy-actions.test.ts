import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { policyActionOf, subscribeActivity, type ActivityEvent, type ActivitySubscription } from "@luthien/events";
import { startNats, startStack, waitFor, type RunningNats, type Stack } from "@luthien/testkit";

/**
 * A streamed call's `call.ended` says what the policies did to the stream (`pnpm luthien tail` shows it on that
 * line): the engine reports the `<policy>.<action>`s of its policy events in the stream's Finish, since the gateway
 * cannot tell a blocked tool call from a plain answer by itself. Read here off NATS, as `tail` reads it.
 */

let nats: RunningNats;
let stack: Stack;
let subscription: ActivitySubscription;
const events: ActivityEvent[] = [];

const bash = (command: string): object => ({
  name: "Bash",
  arguments: JSON.stringify({ command }),
  argumentChunks: [JSON.stringify({ command }).slice(0, 9), JSON.stringify({ command }).slice(9)],
});

beforeAll(async () => {
  nats = await startNats();
  stack = await startStack({ natsUrl: nats.url, policies: "policies:\n  - use: dangerous-commands\n  - use: all-caps\n" });
  subscription = subscribeActivity({ url: nats.url }, (d) => {
    if (d.event !== undefined) events.push(d.event);
  });
  await waitFor(() => subscription.connected(), { timeoutMs: 10_000, what: "the NATS subscription" });
}, 60_000);

afterAll(async () => {
  await subscription?.close();
  await stack?.stop();
  await nats?.dispose();
});

/**
 * The call's `call.ended` data and the policy actions the control plane published for it, once each action in
 * `call.ended` has arrived as a `policy.<policy>.<action>` event too (the engine's events come on its own connection).
 */
async function endedOf(callId: string): Promise<{ policyActions: string[]; status: number; outcome: string; published: string[] }> {
  const published = (): string[] => [...new Set(events.filter((e) => e.callId === callId && e.source === "control-plane").flatMap((e) => policyActionOf(e.type) ?? []))];
  const ended = (): { policyActions: string[]; status: number; outcome: string } | undefined =>
    events.find((e) => e.callId === callId && e.type === "call.ended")?.data as { policyActions: string[]; status: number; outcome: string } | undefined;
  await waitFor(() => ended()?.policyActions.every((a) => published().includes(a)) === true, { timeoutMs: 10_000, what: `call.ended of ${callId} and its policy events` });
  return { ...(ended() as { policyActions: string[]; status: number; outcome: string }), published: published() };
}

describe("call.ended of a streamed call carries the engine's policy actions", () => {
  it("a stream whose tool call a policy blocked: dangerous-commands.blocked, not a plain 200 ok", async () => {
    await stack.mockControl.script({ text: "Cleaning up.", toolCalls: [bash("rm -rf /")] });
    const anthropic = new Anthropic({ apiKey: "k", baseURL: stack.gateway.url, maxRetries: 0 });
    const { data: stream, response } = await anthropic.messages
      .create({ model: "claude-mock-sonnet", max_tokens: 50, stream: true, messages: [{ role: "user", content: "clean up" }] })
      .withResponse();
    const types: string[] = [];
    for await (const e of stream) types.push(e.type === "content_block_start" ? e.content_block.type : e.type);
    expect(types).not.toContain("tool_use");
    const callId = response.headers.get("x-luthien-call-id") ?? "";
    const ended = await endedOf(callId);
    expect(ended).toMatchObject({ status: 200, outcome: "ok" });
    expect(ended.policyActions).toEqual(expect.arrayContaining(["dangerous-commands.blocked", "all-caps.response_modified"]));
    // Exactly the actions the engine published for the call, each once.
    expect([...ended.policyActions].sort()).toEqual(ended.published.sort());
    expect(new Set(ended.policyActions).size).toBe(ended.policyActions.length);
  });

  it("an OpenAI stream whose text a policy rewrote: all-caps.response_modified", async () => {
    await stack.mockControl.script({ text: "quiet words here" });
    const openai = new OpenAI({ apiKey: "k", baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
    const { data: stream, response } = await openai.chat.completions.create({ model: "gpt-4o-mini", stream: true, messages: [{ role: "user", content: "hi" }] }).withResponse();
    let text = "";
    for await (const c of stream) text += c.choices[0]?.delta.content ?? "";
    expect(text).toBe("QUIET WORDS HERE");
    const ended = await endedOf(response.headers.get("x-luthien-call-id") ?? "");
    expect(ended.policyActions).toEqual(["all-caps.response_modified"]);
    expect(ended.published).toEqual(["all-caps.response_modified"]);
  });

  it("a stream no policy touched ends with no actions", async () => {
    await stack.mockControl.script({ text: "ALREADY LOUD" });
    const openai = new OpenAI({ apiKey: "k", baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
    const { data: stream, response } = await openai.chat.completions.create({ model: "gpt-4o-mini", stream: true, messages: [{ role: "user", content: "hi" }] }).withResponse();
    for await (const _c of stream) void _c;
    const ended = await endedOf(response.headers.get("x-luthien-call-id") ?? "");
    expect(ended.policyActions).toEqual([]);
    expect(ended.published).toEqual([]);
  });
});
