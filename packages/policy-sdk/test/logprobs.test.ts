import type { ChatCompletion, ChatCompletionChunk } from "@luthien/wire";
import { createTextPolicy, mapText, startChainRun, type AnyPolicy, type PolicyEvent } from "../src";

/**
 * Logprobs list the tokens the model produced: once a policy changed a choice's text, they would spell out the
 * original. The chain drops them (JSON and streams) wherever the text that leaves differs from what came in.
 */
const upper = createTextPolicy({ name: "upper", createTransformer: () => mapText((t) => t.toUpperCase()) });
const identity = createTextPolicy({ name: "same", createTransformer: () => mapText((t) => t) });
/** Holds everything back until the end, then releases it changed: the hardest case for a per-event check. */
const holdAll: AnyPolicy = createTextPolicy({
  name: "hold",
  createTransformer: () => {
    let held = "";
    return {
      push: (t) => {
        held += t;
        return "";
      },
      end: () => held.replace("secret", "[gone]"),
    };
  },
});

const lp = (tokens: string[]) => ({ content: tokens.map((token) => ({ token, logprob: -0.1, bytes: null, top_logprobs: [] })), refusal: null });

function completion(text: string): ChatCompletion {
  return {
    id: "c1",
    object: "chat.completion",
    created: 1,
    model: "m",
    choices: [{ index: 0, finish_reason: "stop", message: { role: "assistant", content: text, refusal: null }, logprobs: lp(text.split(" ")) }],
  };
}

function chunks(pieces: string[]): ChatCompletionChunk[] {
  const base = { id: "c1", object: "chat.completion.chunk" as const, created: 1, model: "m" };
  return [
    ...pieces.map((p, i) => ({ ...base, choices: [{ index: 0, delta: { ...(i === 0 ? { role: "assistant" as const } : {}), content: p }, finish_reason: null, logprobs: lp([p]) }] })),
    { ...base, choices: [{ index: 0, delta: {}, finish_reason: "stop" as const, logprobs: null }] },
  ];
}

function runChain(policy: AnyPolicy) {
  const emitted: string[] = [];
  const run = startChainRun(
    [policy],
    { callId: "c", format: "openai", stream: true, keyId: "", owner: "", userId: "", sessionId: "", model: "m" },
    {
      emit: (p, a) => emitted.push(`${p}.${a}`),
      keepalive: () => undefined,
    },
  );
  return { run, emitted };
}

async function streamThrough(policy: AnyPolicy, pieces: string[]): Promise<{ out: ChatCompletionChunk[]; emitted: string[] }> {
  const { run, emitted } = runChain(policy);
  const out: PolicyEvent[] = [];
  for (const c of chunks(pieces)) out.push(...(await run.onEvent({ format: "openai", chunk: c })));
  out.push(...(await run.onStreamEnd()));
  return { out: out.map((e) => (e.format === "openai" ? e.chunk : (undefined as never))), emitted };
}

const tokensOut = (out: ChatCompletionChunk[]): string => out.flatMap((c) => c.choices.flatMap((ch) => (ch.logprobs?.content ?? []).map((t) => t.token))).join("");

describe("logprobs never spell text a policy changed", () => {
  it("drops a changed choice's logprobs in JSON and reports it", async () => {
    const { run, emitted } = runChain(upper);
    const out = await run.onResponse({ format: "openai", body: completion("hello there") });
    if (!("format" in out) || out.format !== "openai") throw new Error("expected a completion");
    expect(out.body.choices[0]?.message.content).toBe("HELLO THERE");
    expect(out.body.choices[0]?.logprobs).toBeNull();
    expect(emitted).toContain("chain.logprobs_dropped");
  });

  it("keeps them when nothing changed", async () => {
    const { run, emitted } = runChain(identity);
    const body = completion("HELLO");
    const out = await run.onResponse({ format: "openai", body });
    if (!("format" in out) || out.format !== "openai") throw new Error("expected a completion");
    expect(out.body.choices[0]?.logprobs).toEqual(body.choices[0]?.logprobs);
    expect(emitted).toEqual([]);
    expect(tokensOut((await streamThrough(identity, ["A", "B"])).out)).toBe("AB");
  });

  it("drops them in streams, for every generated re-chunking of the text", async () => {
    const text = "the secret is out";
    for (let seed = 0; seed < 50; seed++) {
      // Cut the text at pseudo-random places.
      const cuts = new Set<number>();
      for (let i = 1; i < text.length; i++) if ((i * 7919 + seed * 104729) % 5 === 0) cuts.add(i);
      const pieces: string[] = [];
      let from = 0;
      for (const c of [...cuts].sort((a, b) => a - b)) {
        pieces.push(text.slice(from, c));
        from = c;
      }
      pieces.push(text.slice(from));
      for (const policy of [upper, holdAll]) {
        const { out } = await streamThrough(policy, pieces);
        const sent = out.map((c) => c.choices.map((ch) => ch.delta.content ?? "").join("")).join("");
        expect(sent).not.toBe(text);
        // No token of the original text survives in what is sent.
        expect(tokensOut(out)).toBe("");
      }
    }
  });
});
