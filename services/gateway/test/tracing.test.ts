import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createMockControl, startService, startStack, waitFor, type RunningService, type Stack } from "@luthien/testkit";

const CLIENT_KEY = "gw-tracing-client-key-0123456789";
const SERVER_OPENAI = "sk-tracing-server-openai-0123456789";
/** Words of the prompt and of the tool call's arguments: content that must never reach a span. */
const PROMPT_CANARY = "prompt-canary-7f3a";
const ARGS_CANARY = "args-canary-91c2";
const JUDGE_CANARY = "judge-canary-55d1";
const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN_ID = "00f067aa0ba902b7";

/** OTLP/JSON as exporter-trace-otlp-http sends it: ids in hex, attribute values tagged by type. */
interface OtlpValue {
  stringValue?: string;
  intValue?: number | string;
  boolValue?: boolean;
  doubleValue?: number;
  arrayValue?: { values?: OtlpValue[] };
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: { key: string; value: OtlpValue }[];
  status?: { code?: number };
}
interface OtlpExport {
  resourceSpans?: {
    resource?: { attributes?: { key: string; value: OtlpValue }[] };
    scopeSpans?: { spans?: OtlpSpan[] }[];
  }[];
}

/** A span as the tests read it: its service, and attributes as plain values. */
interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
}

const SPAN_KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3 };

function otlpValueOf(v: OtlpValue): unknown {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.arrayValue !== undefined) return (v.arrayValue.values ?? []).map(otlpValueOf);
  return undefined;
}

function attributesOf(list: { key: string; value: OtlpValue }[] | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map((a) => [a.key, otlpValueOf(a.value)]));
}

/** A tiny OTLP/HTTP collector: keeps every request's raw body and the spans it carried. */
interface Receiver {
  url: string;
  /** Every request received, on any path. */
  readonly requests: { method: string; path: string; contentType: string; body: string }[];
  spans(): ReceivedSpan[];
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const requests: Receiver["requests"] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      requests.push({ method: req.method ?? "", path: req.url ?? "", contentType: req.headers["content-type"] ?? "", body: Buffer.concat(chunks).toString("utf8") });
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    spans() {
      const out: ReceivedSpan[] = [];
      for (const r of requests) {
        if (r.method !== "POST" || r.path !== "/v1/traces") continue;
        for (const rs of (JSON.parse(r.body) as OtlpExport).resourceSpans ?? []) {
          const service = String(attributesOf(rs.resource?.attributes)["service.name"]);
          for (const ss of rs.scopeSpans ?? []) {
            for (const s of ss.spans ?? []) {
              out.push({
                service,
                traceId: s.traceId,
                spanId: s.spanId,
                parentSpanId: s.parentSpanId === undefined || s.parentSpanId === "" ? undefined : s.parentSpanId,
                name: s.name,
                kind: s.kind,
                attributes: attributesOf(s.attributes),
              });
            }
          }
        }
      }
      return out;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function chat(stack: Stack, headers: Record<string, string>): Promise<Response> {
  return fetch(`${stack.gateway.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${CLIENT_KEY}`, ...headers },
    body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: `list the files, ${PROMPT_CANARY}` }] }),
  });
}

describe("OpenTelemetry tracing", () => {
  let receiver: Receiver;
  let judge: RunningService;
  let traced: Stack;
  let untraced: Stack;

  beforeAll(async () => {
    receiver = await startReceiver();
    judge = await startService("mock-llm", { env: { LOG_LEVEL: "warn" } });
    const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: "100" };
    [traced, untraced] = await Promise.all([
      startStack({
        // The judge sees the response's tool call: its provider call is a span of the engine's response evaluation.
        policies: `policies:\n  - use: llm-judge\n    with: { model: judge-model, upstream: openai, baseUrl: '${judge.url}/v1', threshold: 0.5 }\n`,
        logLevel: "warn",
        gatewayEnv: { GATEWAY_API_KEYS: CLIENT_KEY, OPENAI_API_KEY: SERVER_OPENAI, ...otel },
        engineEnv: otel,
      }),
      // Set but empty is off too (and keeps a value from the test's own environment out).
      startStack({
        withoutEngine: true,
        logLevel: "warn",
        gatewayEnv: { GATEWAY_API_KEYS: CLIENT_KEY, OPENAI_API_KEY: SERVER_OPENAI, OTEL_EXPORTER_OTLP_ENDPOINT: "", OTEL_BSP_SCHEDULE_DELAY: "50" },
      }),
    ]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([traced?.stop(), untraced?.stop(), judge?.stop()]);
    await receiver?.close();
  });

  it("exports one trace across gateway, engine, provider and judge, continuing the client's traceparent", async () => {
    const judgeControl = createMockControl(judge.url);
    await judgeControl.script({ text: `{"probability": 0.05, "explanation": "${JUDGE_CANARY}"}` });
    await traced.mockControl.script({
      toolCalls: [{ name: "Bash", arguments: JSON.stringify({ command: `ls ${ARGS_CANARY}` }) }],
      usage: { inputTokens: 42, outputTokens: 17 },
    });
    const res = await chat(traced, { traceparent: `00-${TRACE_ID}-${CLIENT_SPAN_ID}-01` });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { model: string; choices: { message: { tool_calls?: unknown[] } }[] };
    expect(body.choices[0]?.message.tool_calls).toHaveLength(1);
    const callId = res.headers.get("x-luthien-call-id");
    expect(callId).not.toBeNull();

    // Every span ends before or with the response; the batches go out every 100 ms.
    const spans = await waitFor(
      () => {
        const all = receiver.spans();
        const names = new Set(all.map((s) => `${s.service}/${s.name}`));
        const wanted = [
          "luthien-gateway/POST /v1/chat/completions",
          "luthien-gateway/policy.request",
          "luthien-gateway/chat gpt-4o-mini",
          "luthien-control-plane/policy.call",
          "luthien-control-plane/evaluate request",
          "luthien-control-plane/evaluate response",
          "luthien-control-plane/chat judge-model",
        ];
        return wanted.every((w) => names.has(w)) ? all : undefined;
      },
      { timeoutMs: 10_000, what: "the call's spans at the receiver" },
    );
    const find = (service: string, name: string): ReceivedSpan => {
      const matches = spans.filter((s) => s.service === service && s.name === name);
      expect(matches).toHaveLength(1);
      return matches[0] as ReceivedSpan;
    };

    // One trace: the client's.
    expect(new Set(spans.map((s) => s.traceId))).toEqual(new Set([TRACE_ID]));

    const server = find("luthien-gateway", "POST /v1/chat/completions");
    expect(server.kind).toBe(SPAN_KIND.SERVER);
    expect(server.parentSpanId).toBe(CLIENT_SPAN_ID);
    expect(server.attributes).toMatchObject({
      "http.request.method": "POST",
      "http.route": "/v1/chat/completions",
      "http.response.status_code": 200,
      "luthien.call_id": callId,
      "luthien.engine.pool": expect.any(String),
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "openai",
      "gen_ai.system": "openai",
      "gen_ai.request.model": "gpt-4o-mini",
      "gen_ai.response.model": body.model,
      "gen_ai.usage.input_tokens": 42,
      "gen_ai.usage.output_tokens": 17,
    });

    const verdict = find("luthien-gateway", "policy.request");
    expect(verdict.parentSpanId).toBe(server.spanId);
    expect(verdict.attributes).toMatchObject({ "luthien.policy.action": "continue", "luthien.policy.mode": "FULL" });

    const provider = find("luthien-gateway", "chat gpt-4o-mini");
    expect(provider.kind).toBe(SPAN_KIND.CLIENT);
    expect(provider.parentSpanId).toBe(server.spanId);
    expect(provider.attributes).toMatchObject({
      "gen_ai.request.model": "gpt-4o-mini",
      "gen_ai.provider.name": "openai",
      "gen_ai.usage.input_tokens": 42,
      "gen_ai.usage.output_tokens": 17,
      "server.address": "127.0.0.1",
    });

    // The engine's call hangs below the gateway's server span, its evaluations below it, the judge below those.
    const engineCall = find("luthien-control-plane", "policy.call");
    expect(engineCall.kind).toBe(SPAN_KIND.SERVER);
    expect(engineCall.parentSpanId).toBe(server.spanId);
    expect(engineCall.attributes).toMatchObject({ "luthien.call_id": callId, "luthien.policy.chain": ["llm-judge"], "gen_ai.request.model": "gpt-4o-mini" });
    const onRequest = find("luthien-control-plane", "evaluate request");
    const onResponse = find("luthien-control-plane", "evaluate response");
    expect(onRequest.parentSpanId).toBe(engineCall.spanId);
    expect(onResponse.parentSpanId).toBe(engineCall.spanId);
    const judgeSpan = find("luthien-control-plane", "chat judge-model");
    expect(judgeSpan.kind).toBe(SPAN_KIND.CLIENT);
    expect(judgeSpan.parentSpanId).toBe(onResponse.spanId);
    expect(judgeSpan.attributes).toMatchObject({ "gen_ai.request.model": "judge-model", "gen_ai.provider.name": "openai", "luthien.policy": "llm-judge" });

    // The gateway sends the trace context to the engine only, never to the provider.
    const [upstream] = await traced.mockControl.requests();
    expect(upstream?.headers["traceparent"]).toBeUndefined();

    // No credential and no content anywhere in what was exported.
    const exported = receiver.requests.map((r) => r.body).join("\n");
    for (const secret of [CLIENT_KEY, SERVER_OPENAI, PROMPT_CANARY, ARGS_CANARY, JUDGE_CANARY]) expect(exported).not.toContain(secret);
    expect(receiver.requests.every((r) => r.method === "POST" && r.path === "/v1/traces" && r.contentType.startsWith("application/json"))).toBe(true);
  });

  it("exports nothing when OTEL_EXPORTER_OTLP_ENDPOINT is not set", async () => {
    const before = receiver.requests.length;
    // Without an engine the call fails closed; traced, even that would be a span.
    const res = await chat(untraced, { traceparent: `00-${TRACE_ID}-${CLIENT_SPAN_ID}-01` });
    expect(res.status).toBe(503);
    // Well past the untraced gateway's 50 ms batch delay.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(receiver.requests.length).toBe(before);
    expect(receiver.spans().some((s) => s.attributes["luthien.call_id"] === res.headers.get("x-luthien-call-id"))).toBe(false);
    expect(untraced.gateway.output()).not.toContain("tracing enabled");
  });
});
