import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { grpc, policyMessageLimit } from "@luthien/protocol";
import { createMockControl, runScenario, startFakeEngine, startService, type FakeEngine, type FakeEngineAction, type MockControl, type RunningService } from "@luthien/testkit";
import {
  MOCK_SCRIPT,
  WORDS,
  bypassed,
  call,
  failedClosed,
  recovery,
  succeeded,
  unexpectedAnswersLogged,
  unexpectedAnswersMetric,
  upperCaseEvent,
  type CallResult,
  type ClientFormat,
} from "./harness";

/**
 * Control-plane faults a misbehaving engine causes on the policy stream itself (CP-04, CP-05, CP-07, CP-08), with a
 * scripted fake engine, real gateways (one per fail mode) and mock-llm. Each fault strikes either the request
 * verdict (before headers) or the verdict for the 4th upstream event (mid-stream), in both client APIs.
 */

const TIMEOUT_MS = 2000;
/**
 * The gateways' MAX_BODY_BYTES, which their policy-stream message limit derives from. Lower than the default so
 * that eight oversize replies at once (CP-08) cost the fake engine milliseconds, not the verdict deadline; one
 * call at the default limit is checked on its own.
 */
const MAX_BODY_BYTES = 1024 * 1024;
/** The upstream event whose verdict a mid-stream fault replaces (0-based). */
const MID = 3;
const SUITE = "control-plane faults: policy stream";

type Phase = "req" | "mid" | "resp";
type Mode = "closed" | "open";

interface Scenario {
  id: string;
  action: FakeEngineAction;
  /** What a fail-closed client is told, and the bypass reason a fail-open one sees before headers. */
  errorType: "policy_unavailable" | "policy_timeout";
  reason: string;
  /** What a fail-closed client is told when the fault hits mid-stream, if that differs. @default errorType */
  midErrorType?: "policy_unavailable" | "policy_timeout";
}

let engine: FakeEngine;
let mock: RunningService;
let mockControl: MockControl;
const gateways = {} as Record<Mode, RunningService>;
const scenarios = new Map<string, Scenario>();

beforeAll(async () => {
  engine = await startFakeEngine({
    transform: upperCaseEvent,
    // Calls carry `tag:<scenario>/<phase>/...` in their prompt; untagged calls get a correct engine.
    behave: ({ kind, requestText, chunkIndex }) => {
      const tag = /tag:([^\s"]+)/.exec(requestText)?.[1] ?? "";
      const [key, phase] = tag.split("/");
      const s = scenarios.get((key ?? "").replace(/\+/g, " "));
      if (s === undefined) return undefined;
      const hit = phase === "req" ? kind === "start" : phase === "resp" ? kind === "response" : kind === "chunk" && chunkIndex === MID;
      return hit ? s.action : undefined;
    },
  });
  mock = await startService("mock-llm", { env: { MOCK_LLM_DEFAULT_SCRIPT: MOCK_SCRIPT } });
  mockControl = createMockControl(mock.url);
  const start = (mode: Mode): Promise<RunningService> =>
    startService("gateway", {
      env: {
        OPENAI_UPSTREAM_URL: `${mock.url}/v1`,
        ANTHROPIC_UPSTREAM_URL: mock.url,
        POLICY_ENGINE_URL: engine.address,
        POLICY_TIMEOUT_MS: String(TIMEOUT_MS),
        POLICY_FAILURE_MODE: mode,
        MAX_BODY_BYTES: String(MAX_BODY_BYTES),
      },
    });
  [gateways.closed, gateways.open] = await Promise.all([start("closed"), start("open")]);
}, 60_000);

afterAll(async () => {
  await Promise.all([gateways.closed?.stop(), gateways.open?.stop(), mock?.stop()]);
  await engine?.stop();
});

const FULL_TEXT = WORDS.join("");

/** The prompt marker of one call: the scenario (spaces as `+`), the phase, and what tells the calls apart. */
const tagOf = (id: string, phase: Phase, mode: string, format: string): string => `${id.replace(/ /g, "+")}/${phase}/${mode}/${format}`;

/** What must hold for one call of a failing scenario; returns the problems found. */
function check(s: Scenario, mode: Mode, phase: Phase, r: CallResult, providerSawIt: boolean): string[] {
  const problems: string[] = [];
  const p = (what: string): void => void problems.push(`${s.id} ${mode} ${phase} ${r.format}: ${what} (status ${r.status}, error ${r.errorType}, ${r.ms} ms)`);
  const text = r.texts.join("");
  const errorType = phase === "mid" ? (s.midErrorType ?? s.errorType) : s.errorType;
  if (mode === "closed") {
    if (!failedClosed(r)) p(`not a well-formed failure: ${JSON.stringify(r.events.at(-1) ?? r.body).slice(0, 200)}`);
    // Anthropic clients get Anthropic's type for the status (503 overloaded_error, 504 timeout_error).
    const expected = r.format === "openai" ? errorType : errorType === "policy_timeout" ? "timeout_error" : "overloaded_error";
    if (r.errorType !== expected) p(`error type ${r.errorType}, expected ${expected}`);
    if (bypassed(r)) p(`bypassed: ${JSON.stringify(r.texts)}`);
    // Delivered text is a prefix of what the engine approved, in order: no verdict went to the wrong event.
    if (!FULL_TEXT.toUpperCase().startsWith(text)) p(`delivered ${JSON.stringify(text)}`);
    if (phase === "req" && providerSawIt) p("the provider was called without a request verdict");
    if (phase === "req" && r.status !== (errorType === "policy_timeout" ? 504 : 503)) p("wrong status");
  } else {
    if (!succeeded(r)) p(`not served: ${JSON.stringify(r.events.at(-1) ?? r.body).slice(0, 200)}`);
    if (text.toLowerCase() !== FULL_TEXT.toLowerCase()) p(`text ${JSON.stringify(text)}`);
    if (phase === "req" && r.bypassed !== s.reason) p(`bypass header ${r.bypassed}, expected ${s.reason}`);
    // Mid-stream, what came before the fault was approved; the rest passed unchanged.
    if (phase === "mid" && !text.startsWith("W0 ")) p("the part approved before the fault is missing");
  }
  if (errorType === "policy_timeout" && r.status !== 200 && (r.ms < TIMEOUT_MS - 100 || r.ms > TIMEOUT_MS + 3000)) p(`timed out after ${r.ms} ms`);
  return problems;
}

/** Runs every phase × client API of a scenario in both fail modes at once, and records one result per mode. */
async function runFaulty(s: Scenario): Promise<void> {
  scenarios.set(s.id, s);
  const combos: { mode: Mode; phase: Phase; format: ClientFormat }[] = [];
  for (const mode of ["closed", "open"] as const) for (const phase of ["req", "mid"] as const) for (const format of ["openai", "anthropic"] as const) combos.push({ mode, phase, format });
  const results = await Promise.all(combos.map((c) => call(gateways[c.mode].url, { format: c.format, stream: true, tag: tagOf(s.id, c.phase, c.mode, c.format) })));
  const seen = JSON.stringify(await mockControl.requests());
  const problems = new Map<Mode, string[]>([
    ["closed", []],
    ["open", []],
  ]);
  results.forEach((r, i) => {
    const c = combos[i]!;
    problems.get(c.mode)!.push(...check(s, c.mode, c.phase, r, seen.includes(`tag:${tagOf(s.id, c.phase, c.mode, c.format)}`)));
  });
  const clearedAt = Date.now();
  const recovered = await Promise.all((["closed", "open"] as const).map((m) => recovery(gateways[m].url, clearedAt).catch((e: unknown) => e as Error)));
  for (const [i, mode] of (["closed", "open"] as const).entries()) {
    await runScenario({ suite: SUITE, scenario: s.id, failMode: mode }, async (rec) => {
      rec.bypasses = results.filter((r, j) => combos[j]!.mode === mode && bypassed(r)).length;
      const ms = recovered[i];
      if (ms === undefined || ms instanceof Error) throw ms ?? new Error("no recovery measured");
      rec.recoveryMs = ms;
      expect(problems.get(mode)).toEqual([]);
    });
  }
}

describe("CP-04: the engine closes the stream cleanly (status OK) before answering", () => {
  it("is a failure, never an implicit allow", () => runFaulty({ id: "CP-04 clean close", action: { do: "end" }, errorType: "policy_unavailable", reason: "closed" }));
});

describe("CP-05: the engine ends the stream with a gRPC error between messages", () => {
  it.each([
    ["INTERNAL", grpc.status.INTERNAL],
    ["UNAVAILABLE", grpc.status.UNAVAILABLE],
    ["RESOURCE_EXHAUSTED", grpc.status.RESOURCE_EXHAUSTED],
  ])("%s fails the call (or bypasses it, marked, in fail-open)", (name, code) =>
    runFaulty({ id: `CP-05 ${name}`, action: { do: "error", code }, errorType: "policy_unavailable", reason: "unavailable" }),
  );

  it("reaches the OpenAI and Anthropic SDKs as errors they understand, before and after headers", async () => {
    scenarios.set("CP-05 sdk", { id: "CP-05 sdk", action: { do: "error", code: grpc.status.INTERNAL }, errorType: "policy_unavailable", reason: "unavailable" });
    const openai = new OpenAI({ apiKey: "k", baseURL: `${gateways.closed.url}/v1`, maxRetries: 0 });
    const anthropic = new Anthropic({ apiKey: "k", baseURL: gateways.closed.url, maxRetries: 0 });
    const ask = (phase: Phase) => [{ role: "user" as const, content: `tag:${tagOf("CP-05 sdk", phase, "closed", "sdk")}` }];
    const before = await openai.chat.completions.create({ model: "gpt-4o-mini", messages: ask("req") }).catch((e: unknown) => e);
    expect(before).toBeInstanceOf(OpenAI.APIError);
    expect((before as InstanceType<typeof OpenAI.APIError>).status).toBe(503);
    const beforeA = await anthropic.messages.create({ model: "claude-mock-sonnet", max_tokens: 64, messages: ask("req") }).catch((e: unknown) => e);
    expect(beforeA).toBeInstanceOf(Anthropic.APIError);
    expect((beforeA as InstanceType<typeof Anthropic.APIError>).status).toBe(503);

    let got = "";
    const midO = (async () => {
      for await (const c of await openai.chat.completions.create({ model: "gpt-4o-mini", stream: true, messages: ask("mid") })) got += c.choices[0]?.delta.content ?? "";
    })().catch((e: unknown) => e);
    expect(await midO).toBeInstanceOf(OpenAI.APIError);
    expect(FULL_TEXT.toUpperCase().startsWith(got)).toBe(true);
    const midA = (async () => {
      for await (const e of await anthropic.messages.create({ model: "claude-mock-sonnet", max_tokens: 64, stream: true, messages: ask("mid") })) void e;
    })().catch((e: unknown) => e);
    expect(await midA).toBeInstanceOf(Anthropic.APIError);
  });
});

describe("CP-07: answers that do not fit are never applied", () => {
  it("an answer for an unknown seq is ignored: a lone verdict times out; mid-stream the next answer arrives out of order and fails the call", async () => {
    const before = unexpectedAnswersLogged(gateways.closed.output()) + unexpectedAnswersLogged(gateways.open.output());
    await runFaulty({ id: "CP-07 unknown seq", action: { do: "unknown-seq" }, errorType: "policy_timeout", reason: "timeout", midErrorType: "policy_unavailable" });
    const after = unexpectedAnswersLogged(gateways.closed.output()) + unexpectedAnswersLogged(gateways.open.output());
    // One stray answer per call (2 phases × 2 APIs × 2 modes); late answers after the timeout may add more.
    expect(after - before).toBeGreaterThanOrEqual(8);
  });

  it("an answer held back while the next is answered first fails the call at once (a lone request verdict times out)", () =>
    runFaulty({ id: "CP-07 out of order", action: { do: "hold" }, errorType: "policy_timeout", reason: "timeout", midErrorType: "policy_unavailable" }));

  it("an answer of the wrong kind (finish for a chunk, emit for a request) fails the call", () =>
    runFaulty({ id: "CP-07 wrong kind", action: { do: "wrong-kind" }, errorType: "policy_unavailable", reason: "engine_error" }));

  it("a duplicate answer is counted and ignored: the call succeeds with each event decided once", async () => {
    const id = "CP-07 duplicate";
    scenarios.set(id, { id, action: { do: "duplicate" }, errorType: "policy_unavailable", reason: "" });
    const metricBefore = await unexpectedAnswersMetric(gateways.closed.url);
    const logBefore = unexpectedAnswersLogged(gateways.closed.output());
    for (const mode of ["closed", "open"] as const) {
      await runScenario({ suite: SUITE, scenario: id, failMode: mode }, async (rec) => {
        const runs = await Promise.all(
          (["req", "mid"] as const).flatMap((phase) =>
            (["openai", "anthropic"] as const).map((format) => call(gateways[mode].url, { format, stream: true, tag: tagOf(id, phase, mode, format) })),
          ),
        );
        rec.bypasses = runs.filter(bypassed).length;
        for (const r of runs) {
          expect([r.format, succeeded(r), r.bypassed]).toEqual([r.format, true, undefined]);
          expect(r.texts.join("")).toBe(FULL_TEXT.toUpperCase());
        }
      });
    }
    expect(unexpectedAnswersLogged(gateways.closed.output()) - logBefore).toBeGreaterThanOrEqual(4);
    const metricAfter = await unexpectedAnswersMetric(gateways.closed.url);
    expect(metricBefore).toBeDefined();
    expect(metricAfter).toBeDefined();
    expect((metricAfter ?? 0) - (metricBefore ?? 0)).toBeGreaterThanOrEqual(4);
  });
});

describe("CP-09: answers of the right kind that say nothing usable", () => {
  const cases: [string, FakeEngineAction, "req" | "resp"][] = [
    ["unknown response mode", { do: "malformed", how: "unknown-mode" }, "req"],
    ["empty request verdict", { do: "malformed", how: "empty" }, "req"],
    ["empty response verdict", { do: "malformed", how: "empty" }, "resp"],
  ];
  it.each(cases)("%s fails the call closed (or bypasses it, marked, in an open pool), never less checking", async (name, action, phase) => {
    const id = `CP-09 ${name}`;
    scenarios.set(id, { id, action, errorType: "policy_unavailable", reason: "engine_error" });
    for (const mode of ["closed", "open"] as const) {
      await runScenario({ suite: SUITE, scenario: id, failMode: mode }, async (rec) => {
        const runs = await Promise.all(
          (["openai", "anthropic"] as const).flatMap((format) =>
            [false, true].map((stream) => call(gateways[mode].url, { format, stream, tag: tagOf(id, phase, mode, `${format}${stream}`) })),
          ),
        );
        // A response verdict exists only for non-streaming calls; streams get theirs per event and stay correct.
        const hit = runs.filter((r) => phase === "req" || !r.stream);
        rec.bypasses = hit.filter(bypassed).length;
        for (const r of hit) {
          if (mode === "closed") expect([r.format, r.stream, failedClosed(r)]).toEqual([r.format, r.stream, true]);
          else expect([r.format, r.stream, succeeded(r), r.bypassed]).toEqual([r.format, r.stream, true, "engine_error"]);
        }
      });
    }
  });
});

describe("CP-08: an engine reply above the policy-stream message limit", () => {
  it("fails closed with a 5xx or an error event, never a pass-through", () =>
    runFaulty({ id: "CP-08 oversize reply", action: { do: "oversize", bytes: policyMessageLimit(MAX_BODY_BYTES) + 1 }, errorType: "policy_unavailable", reason: "unavailable" }));

  it("at the default limit too: a reply just above it fails the call as unavailable", async () => {
    const id = "CP-08 default limit";
    scenarios.set(id, { id, action: { do: "oversize", bytes: policyMessageLimit() + 1 }, errorType: "policy_unavailable", reason: "unavailable" });
    const gw = await startService("gateway", {
      env: { OPENAI_UPSTREAM_URL: `${mock.url}/v1`, ANTHROPIC_UPSTREAM_URL: mock.url, POLICY_ENGINE_URL: engine.address, POLICY_FAILURE_MODE: "closed" },
    });
    try {
      const r = await call(gw.url, { format: "openai", stream: true, tag: tagOf(id, "req", "closed", "openai") });
      expect([r.status, r.errorType, bypassed(r)]).toEqual([503, "policy_unavailable", false]);
    } finally {
      await gw.stop();
    }
  });
});
