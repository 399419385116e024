import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import Anthropic from "@anthropic-ai/sdk";
import type { Logger } from "@luthien/runtime";
import { startFakeEngine, startStack, type Stack } from "@luthien/testkit";
import type { ActivitySink } from "../src/activity";
import { createGateway } from "../src/app";
import { isAuthMiddleware } from "../src/identity/auth";
import { readGatewayConfig } from "../src/config";
import { BATCH_ROUTES } from "../src/routes/route-classes";
import { readRouting } from "../src/upstream/routing";
import { listen } from "./in-process";
import { rawRequest } from "./raw-http";

/**
 * Anthropic Message Batches through the policies (GATEWAY_CONFIG `batches: { enabled: true }`): every request of a
 * batch passes the request phase before anything reaches the provider, every succeeded result passes the response
 * phase before the client reads it, and `results_url` sends the SDK back through the gateway. Off by default.
 */
const GATEWAY_KEY = "gw-key-batches-0123456789abcdef";
const SERVER_KEY = "sk-server-anthropic-batches-0123456789";
const BLOCKED = "FORBIDDEN-4242";
const LEAKED = "sk-ant-api03-" + "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe";
const MODEL = "claude-mock-sonnet";

const dir = mkdtempSync(path.join(tmpdir(), "luthien-batches-"));
const file = (name: string, text: string): string => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};

/** A custom policy: answers requests saying RESPOND-ME itself, denies responses saying DENY-ME. */
const MARKER_POLICY = file(
  "batch-marker.js",
  `module.exports = () => ({
  name: "batch-marker",
  mode: "FULL",
  onRequest(request) {
    if (!JSON.stringify(request.body).includes("RESPOND-ME")) return request;
    const body = { id: "msg_policy", type: "message", role: "assistant", content: [{ type: "text", text: "from the policy" }], model: request.body.model, stop_reason: "end_turn", stop_sequence: null, usage: { input_tokens: 1, output_tokens: 1 } };
    return { decision: "respond", response: { format: "anthropic", body } };
  },
  onResponse(response) {
    if (!JSON.stringify(response.body).includes("DENY-ME")) return response;
    return { decision: "deny", status: 403, type: "permission_error", message: "batch-marker: this answer is not allowed" };
  },
});
`,
);

const POLICIES = [
  "policies:",
  "  - use: regex-filter",
  `    with: { patterns: ["FORBIDDEN-[0-9]+"], applyTo: request }`,
  "  - use: string-replace",
  `    with: { replacements: [["REWRITE-ME", "rewritten"]], applyTo: request }`,
  "  - use: dangerous-commands",
  "  - use: secret-redaction",
  "    with: { applyTo: response }",
  `  - use: ${JSON.stringify(MARKER_POLICY)}`,
  "",
].join("\n");

const ENABLED = file("enabled.yaml", "batches: { enabled: true }\n");
const AUTH = { GATEWAY_API_KEYS: GATEWAY_KEY, AUTH_MODE: "client_key", ANTHROPIC_API_KEY: SERVER_KEY };

let stack: Stack;
let plain: Stack;
beforeAll(async () => {
  [stack, plain] = await Promise.all([startStack({ policies: POLICIES, gatewayEnv: { ...AUTH, GATEWAY_CONFIG: ENABLED } }), startStack({ gatewayEnv: AUTH })]);
}, 60_000);
afterAll(async () => {
  await Promise.all([stack?.stop(), plain?.stop()]);
});

const client = (url = stack.gateway.url): Anthropic => new Anthropic({ apiKey: GATEWAY_KEY, baseURL: url, maxRetries: 0 });
const params = (content: string, extra: Record<string, unknown> = {}) => ({ model: MODEL, max_tokens: 50, messages: [{ role: "user" as const, content }], ...extra });

/** The results of a batch, through the SDK (which fetches `results_url` with the client's key). */
async function resultsOf(c: Anthropic, id: string): Promise<Anthropic.Messages.MessageBatchIndividualResponse[]> {
  const out: Anthropic.Messages.MessageBatchIndividualResponse[] = [];
  for await (const r of await c.messages.batches.results(id)) out.push(r);
  return out;
}

/** The Anthropic error message of a call the gateway refused. */
async function errorMessage(call: Promise<unknown>): Promise<string> {
  const err = (await call.then(
    () => undefined,
    (e: unknown) => e,
  )) as { error?: { error?: { message?: string } } } | undefined;
  return err?.error?.error?.message ?? "";
}

const silent: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, notice: () => undefined };

/** A gateway in this process (to read its activity or give it another engine), on the stack's mock provider. */
async function inProcess(env: Record<string, string>, sink?: ActivitySink): Promise<{ url: string; port: number; close(): Promise<void> }> {
  return listen(
    createGateway(readGatewayConfig({ ...AUTH, ANTHROPIC_UPSTREAM_URL: stack.mock.url, OPENAI_UPSTREAM_URL: `${stack.mock.url}/v1`, GATEWAY_CONFIG: ENABLED, ...env }), silent, sink),
  );
}

/** A batch made at the mock itself, past the gateway (to fetch its results through a gateway under test). */
async function batchAtMock(requests: { custom_id: string; params: object }[]): Promise<string> {
  const res = await fetch(`${stack.mock.url}/v1/messages/batches`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ requests }) });
  return ((await res.json()) as { id: string }).id;
}

describe("Message Batches through the policies", () => {
  beforeEach(() => stack.mockControl.reset());
  afterEach(async () => {
    // Whatever the gateway answered: the blocked text never reached the provider, nor did the client's gateway key.
    for (const r of await stack.mockControl.requests()) {
      expect(JSON.stringify(r.body)).not.toContain(BLOCKED);
      expect(JSON.stringify(r.headers)).not.toContain(GATEWAY_KEY);
    }
  });

  it("refuses the whole batch when one request is blocked, naming its custom_id and the policy's message", async () => {
    const carriers = [
      params(`say ${BLOCKED}`),
      params("hi", { system: `never say ${BLOCKED}` }),
      { model: MODEL, max_tokens: 50, messages: [{ role: "user" as const, content: [{ type: "tool_result" as const, tool_use_id: "toolu_1", content: `out: ${BLOCKED}` }] }] },
    ];
    for (const blocked of carriers) {
      const create = client().messages.batches.create({
        requests: [
          { custom_id: "clean", params: params("hello") },
          { custom_id: "bad-one", params: blocked },
        ],
      });
      await expect(create).rejects.toMatchObject({ status: 400, error: { type: "error", error: { type: "invalid_request_error" } } });
      const message = await errorMessage(create);
      expect(message).toContain('custom_id "bad-one"');
      expect(message).toContain("regex-filter: the request matched blocked pattern 0");
    }
    expect(await stack.mockControl.requests()).toEqual([]);
  });

  it("sends the policies' rewritten params in place of the originals", async () => {
    await client().messages.batches.create({
      requests: [
        { custom_id: "r", params: params("please REWRITE-ME now") },
        { custom_id: "s", params: params("as is") },
      ],
    });
    const [seen] = await stack.mockControl.requests();
    expect(seen?.path).toBe("/v1/messages/batches");
    expect(seen?.body).toEqual({
      requests: [
        { custom_id: "r", params: params("please rewritten now") },
        { custom_id: "s", params: params("as is") },
      ],
    });
    expect(seen?.headers["x-api-key"]).toBe(SERVER_KEY);
  });

  it("refuses a batch with a request a policy would answer itself", async () => {
    const create = client().messages.batches.create({ requests: [{ custom_id: "asks", params: params("RESPOND-ME") }] });
    await expect(create).rejects.toMatchObject({ status: 403, error: { error: { type: "permission_error" } } });
    expect(await errorMessage(create)).toContain('custom_id "asks"');
    expect(await stack.mockControl.requests()).toEqual([]);
  });

  it("serves the official SDK: create, retrieve, list, results, cancel, delete — results pass the response phase", async () => {
    await stack.mockControl.script(
      { text: "fine" },
      { text: `the key is ${LEAKED} ok` },
      { toolCalls: [{ name: "Bash", arguments: '{"command":"rm -rf /"}' }] },
      { text: "please DENY-ME" },
      { error: { status: 500, message: "boom" } },
    );
    const c = client();
    const batch = await c.messages.batches.create({ requests: ["plain", "secret", "tool", "denied", "failed"].map((id) => ({ custom_id: id, params: params(`request ${id}`) })) });
    const gatewayUrl = `${stack.gateway.url}/v1/messages/batches/${batch.id}/results`;
    expect(batch).toMatchObject({ id: expect.stringMatching(/^msgbatch_mock_/), processing_status: "ended", results_url: gatewayUrl });
    expect((await c.messages.batches.retrieve(batch.id)).results_url).toBe(gatewayUrl);
    const listed: Anthropic.Messages.MessageBatch[] = [];
    for await (const b of c.messages.batches.list({ limit: 10 })) listed.push(b);
    expect(listed.find((b) => b.id === batch.id)?.results_url).toBe(gatewayUrl);

    const results = await resultsOf(c, batch.id);
    expect(results.map((r) => [r.custom_id, r.result.type])).toEqual([
      ["plain", "succeeded"],
      ["secret", "succeeded"],
      ["tool", "succeeded"],
      ["denied", "errored"],
      ["failed", "errored"],
    ]);
    const message = (i: number): Anthropic.Messages.Message => (results[i]?.result as Anthropic.Messages.MessageBatchSucceededResult).message;
    expect(message(0).content).toEqual([{ type: "text", text: "fine" }]);
    // secret-redaction: the key in the provider's result never reaches the client.
    expect(JSON.stringify(results)).not.toContain(LEAKED);
    expect(JSON.stringify(message(1).content)).toContain("[REDACTED:anthropic_key]");
    // dangerous-commands: the destructive tool call is gone, and the stop reason with it.
    expect(message(2).content.filter((b) => b.type === "tool_use")).toEqual([]);
    expect(message(2).stop_reason).toBe("end_turn");
    expect(results[3]?.result).toEqual({
      type: "errored",
      error: { type: "error", error: { type: "permission_error", message: "batch-marker: this answer is not allowed" }, request_id: null },
    });
    expect(results[4]?.result).toMatchObject({ type: "errored", error: { type: "error", error: { type: "api_error", message: "boom" } } });

    // Every call reached the provider with the server's key, the results download included.
    const seen = (await stack.mockControl.requests()).filter((r) => r.path.startsWith("/v1/messages/batches"));
    expect(seen.map((r) => `${r.method} ${r.path}`)).toEqual(expect.arrayContaining([`GET /v1/messages/batches/${batch.id}/results`]));
    for (const r of seen) expect(r.headers["x-api-key"]).toBe(SERVER_KEY);

    // The provider did answer with the key: only the gateway kept it from the client.
    expect(await (await fetch(`${stack.mock.url}/v1/messages/batches/${batch.id}/results`)).text()).toContain(LEAKED);

    expect(await c.messages.batches.cancel(batch.id)).toMatchObject({ id: batch.id, results_url: gatewayUrl });
    expect(await c.messages.batches.delete(batch.id)).toEqual({ id: batch.id, type: "message_batch_deleted" });
    await expect(c.messages.batches.retrieve(batch.id)).rejects.toMatchObject({ status: 404, error: { error: { type: "not_found_error" } } });
  });

  it("keeps the results in order with many lines decided at once", async () => {
    const ids = Array.from({ length: 150 }, (_, i) => `req-${i}`);
    const c = client();
    const batch = await c.messages.batches.create({ requests: ids.map((id) => ({ custom_id: id, params: params(`n ${id}`) })) });
    const results = await resultsOf(c, batch.id);
    expect(results.map((r) => r.custom_id)).toEqual(ids);
    expect(results.every((r) => r.result.type === "succeeded")).toBe(true);
  });

  it("points results_url at the path alone when the Host is not a loopback name", async () => {
    const batch = await client().messages.batches.create({ requests: [{ custom_id: "h", params: params("hi") }] });
    for (const host of ["evil.example", "evil.example:8000", "127.0.0.1.evil.example", "localhost@evil.example"]) {
      const res = await rawRequest(stack.gateway.port, { path: `/v1/messages/batches/${batch.id}`, headers: { host, "x-api-key": GATEWAY_KEY } });
      expect([host, res.status]).toEqual([host, 200]);
      expect((JSON.parse(res.body) as { results_url: string }).results_url).toBe(`/v1/messages/batches/${batch.id}/results`);
    }
    const local = await rawRequest(stack.gateway.port, { path: `/v1/messages/batches/${batch.id}`, headers: { host: `localhost:${stack.gateway.port}`, "x-api-key": GATEWAY_KEY } });
    expect((JSON.parse(local.body) as { results_url: string }).results_url).toBe(`http://localhost:${stack.gateway.port}/v1/messages/batches/${batch.id}/results`);
  });

  it("answers 400 for what a batch cannot carry, before any policy or provider", async () => {
    const bad: [string, unknown][] = [
      ["stream", { requests: [{ custom_id: "s", params: params("hi", { stream: true }) }] }],
      ["routes to no Anthropic provider", { requests: [{ custom_id: "o", params: { ...params("hi"), model: "gpt-4o-mini" } }] }],
      ["unknown field", { requests: [{ custom_id: "u", params: params("hi") }], extra: true }],
      ["unknown request field", { requests: [{ custom_id: "u", params: params("hi"), other: 1 }] }],
      [
        "duplicate custom_id",
        {
          requests: [
            { custom_id: "d", params: params("a") },
            { custom_id: "d", params: params("b") },
          ],
        },
      ],
      ["no requests", { requests: [] }],
      ["bad params", { requests: [{ custom_id: "p", params: { model: MODEL, messages: [] } }] }],
    ];
    for (const [what, body] of bad) {
      const res = await fetch(`${stack.gateway.url}/v1/messages/batches`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": GATEWAY_KEY },
        body: JSON.stringify(body),
      });
      expect([what, res.status]).toEqual([what, 400]);
      expect(await res.json()).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
    }
    expect(await stack.mockControl.requests()).toEqual([]);
  });

  it("refuses batch paths in disguise, other methods and ids that are not ids", async () => {
    const body = JSON.stringify({ requests: [{ custom_id: "x", params: params(BLOCKED) }] });
    for (const [method, p] of [
      ["POST", "/v1/x/../messages/batches"],
      ["POST", "/v1/messages/batches/../batches"],
      ["POST", "/v1//messages/batches"],
      ["PUT", "/v1/messages/batches"],
      ["GET", "/v1/messages/batches/..%2F..%2Fmodels"],
      ["GET", "/v1/messages/batches/a%2Fb/results"],
    ] as const) {
      const res = await rawRequest(stack.gateway.port, {
        method,
        path: p,
        headers: { "content-type": "application/json", "x-api-key": GATEWAY_KEY, "content-length": String(Buffer.byteLength(body)) },
        body,
      });
      expect([method, p, res.status]).toEqual([method, p, 404]);
    }
    expect(await stack.mockControl.requests()).toEqual([]);
  });

  it("keeps every batch route behind auth", async () => {
    for (const r of BATCH_ROUTES) {
      const res = await rawRequest(stack.gateway.port, {
        method: r.method.toUpperCase(),
        path: r.path.replace(":batchId", "msgbatch_1"),
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      expect([r.path, res.status]).toEqual([r.path, 401]);
    }
    const gateway = createGateway(readGatewayConfig({ ...AUTH, GATEWAY_CONFIG: ENABLED, POLICY_ENGINE_URL: "127.0.0.1:1" }), silent);
    try {
      type Layer = { route?: { path: string; stack: { method: string; handle: unknown }[] } };
      const layers = (gateway.app as unknown as { router: { stack: Layer[] } }).router.stack;
      for (const r of BATCH_ROUTES) {
        const layer = layers.find((l) => l.route?.path === r.path && l.route.stack.some((s) => s.method === r.method));
        const handlers = layer?.route?.stack.filter((s) => s.method === r.method) ?? [];
        expect([r.method, r.path, handlers.length > 0 && isAuthMiddleware(handlers[0]?.handle)]).toEqual([r.method, r.path, true]);
      }
    } finally {
      gateway.close();
    }
  });
});

describe("a gateway without `batches` in GATEWAY_CONFIG", () => {
  beforeEach(() => plain.mockControl.reset());

  it("refuses every batch route, and nothing reaches the provider", async () => {
    const c = client(plain.gateway.url);
    const refused = { status: 404, error: { type: "error", error: { type: "not_found_error" } } };
    const create = c.messages.batches.create({ requests: [{ custom_id: "a", params: params(BLOCKED) }] });
    await expect(create).rejects.toMatchObject(refused);
    expect(await errorMessage(create)).toContain("batches: { enabled: true }");
    await expect(c.messages.batches.retrieve("msgbatch_1")).rejects.toMatchObject(refused);
    await expect(c.messages.batches.list()).rejects.toMatchObject(refused);
    await expect(c.messages.batches.cancel("msgbatch_1")).rejects.toMatchObject(refused);
    await expect(c.messages.batches.delete("msgbatch_1")).rejects.toMatchObject(refused);
    const results = await fetch(`${plain.gateway.url}/v1/messages/batches/msgbatch_1/results`, { headers: { "x-api-key": GATEWAY_KEY } });
    expect(results.status).toBe(404);
    expect(await plain.mockControl.requests()).toEqual([]);
  });
});

describe("Message Batches when the policy engine or the provider fails", () => {
  beforeEach(() => stack.mockControl.reset());

  it("fails closed: create and results answer 503 and the provider gets no batch", async () => {
    const gw = await inProcess({ POLICY_ENGINE_URL: "127.0.0.1:1" });
    try {
      await expect(client(gw.url).messages.batches.create({ requests: [{ custom_id: "a", params: params("hi") }] })).rejects.toMatchObject({ status: 503 });
      expect(await stack.mockControl.requests()).toEqual([]);
      await stack.mockControl.script({ text: `leak ${LEAKED}` });
      const id = await batchAtMock([{ custom_id: "a", params: params("hi") }]);
      const res = await fetch(`${gw.url}/v1/messages/batches/${id}/results`, { headers: { "x-api-key": GATEWAY_KEY } });
      expect(res.status).toBe(503);
      expect(await res.text()).not.toContain(LEAKED);
    } finally {
      await gw.close();
    }
  });

  it("in a pool that fails open, serves the batch and its results marked as bypassed", async () => {
    const gw = await inProcess({ POLICY_ENGINE_URL: "127.0.0.1:1", POLICY_FAILURE_MODE: "open" });
    try {
      const { data: batch, response } = await client(gw.url)
        .messages.batches.create({ requests: [{ custom_id: "a", params: params("hi") }] })
        .withResponse();
      expect(response.headers.get("x-luthien-policy-bypassed")).toBe("unavailable");
      expect(batch.results_url).toBe(`${gw.url}/v1/messages/batches/${batch.id}/results`);
      const res = await fetch(`${gw.url}/v1/messages/batches/${batch.id}/results`, { headers: { "x-api-key": GATEWAY_KEY } });
      expect(res.status).toBe(200);
      expect(res.headers.get("x-luthien-policy-bypassed")).toBe("unavailable");
      expect(
        (await res.text())
          .trim()
          .split("\n")
          .map((l) => (JSON.parse(l) as { custom_id: string }).custom_id),
      ).toEqual(["a"]);
    } finally {
      await gw.close();
    }
  });

  it("cuts a results download short when the engine fails midway, instead of ending it cleanly", async () => {
    let starts = 0;
    const engine = await startFakeEngine({ behave: (ctx) => (ctx.kind === "start" && ++starts === 60 ? { do: "destroy" } : undefined) });
    const gw = await inProcess({ POLICY_ENGINE_URL: engine.address });
    try {
      const ids = Array.from({ length: 100 }, (_, i) => `r${i}`);
      const id = await batchAtMock(ids.map((custom_id) => ({ custom_id, params: params("hi") })));
      const res = await fetch(`${gw.url}/v1/messages/batches/${id}/results`, { headers: { "x-api-key": GATEWAY_KEY } });
      expect(res.status).toBe(200);
      let text = "";
      const read = (async () => {
        const decoder = new TextDecoder();
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) text += decoder.decode(chunk, { stream: true });
      })();
      await expect(read).rejects.toThrow();
      const lines = text.split("\n").filter((l) => l !== "");
      expect(lines.length).toBeGreaterThan(0);
      expect(lines.length).toBeLessThan(60);
      expect(lines.map((l) => (JSON.parse(l) as { custom_id: string }).custom_id)).toEqual(ids.slice(0, lines.length));
    } finally {
      await gw.close();
      await engine.stop();
    }
  });

  it("answers 502 for a results line longer than MAX_BODY_BYTES, before anything is sent", async () => {
    const gw = await inProcess({ POLICY_ENGINE_URL: stack.engine?.address ?? "", MAX_BODY_BYTES: "4096" });
    try {
      await stack.mockControl.script({ text: "x".repeat(10_000) });
      const id = await batchAtMock([{ custom_id: "long", params: params("hi") }]);
      const res = await fetch(`${gw.url}/v1/messages/batches/${id}/results`, { headers: { "x-api-key": GATEWAY_KEY } });
      expect(res.status).toBe(502);
      expect(await res.json()).toMatchObject({ type: "error", error: { message: expect.stringContaining("longer than 4096 bytes") } });
    } finally {
      await gw.close();
    }
  });
});

describe("Message Batches activity", () => {
  beforeEach(() => stack.mockControl.reset());

  it("publishes each batch call like other calls, and honours a configured public base URL", async () => {
    const events: { callId: string; type: string; data: Record<string, unknown> }[] = [];
    const sink: ActivitySink = { publish: (callId, type, data) => void events.push({ callId, type, data: data as Record<string, unknown> }) };
    const config = file("public.yaml", 'batches: { enabled: true, publicBaseUrl: "https://luthien.example.com/llm/" }\n');
    const gw = await inProcess({ POLICY_ENGINE_URL: stack.engine?.address ?? "", GATEWAY_CONFIG: config }, sink);
    try {
      const c = client(gw.url);
      const { data: batch, response } = await c.messages.batches.create({ requests: [{ custom_id: "a", params: params("please REWRITE-ME") }] }).withResponse();
      expect(batch.results_url).toBe(`https://luthien.example.com/llm/v1/messages/batches/${batch.id}/results`);
      const created = events.filter((e) => e.callId === response.headers.get("x-luthien-call-id"));
      expect(created.map((e) => e.type)).toEqual(["call.started", "request.received", "request.sent", "response.received", "response.sent", "call.ended"]);
      expect(created[0]?.data).toMatchObject({ route: "/v1/messages/batches", model: MODEL, provider: "anthropic", stream: false });
      expect(JSON.stringify(created[2]?.data)).toContain("please rewritten");
      expect(created.at(-1)?.data).toMatchObject({ status: 200, outcome: "ok", policyActions: ["request_modified"] });

      const denied = await fetch(`${gw.url}/v1/messages/batches`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": GATEWAY_KEY },
        body: JSON.stringify({ requests: [{ custom_id: "b", params: params(BLOCKED) }] }),
      });
      expect(denied.status).toBe(400);
      const refused = events.filter((e) => e.callId === denied.headers.get("x-luthien-call-id"));
      expect(refused.map((e) => e.type)).toEqual(["call.started", "request.received", "call.ended"]);
      expect(refused.at(-1)?.data).toMatchObject({ status: 400, outcome: "denied", policyActions: ["denied"] });

      await stack.mockControl.script({ text: `leak ${LEAKED}` });
      const id = await batchAtMock([{ custom_id: "c", params: params("hi") }]);
      const results = await fetch(`${gw.url}/v1/messages/batches/${id}/results`, { headers: { "x-api-key": GATEWAY_KEY } });
      expect(await results.text()).not.toContain(LEAKED);
      const fetched = events.filter((e) => e.callId === results.headers.get("x-luthien-call-id"));
      expect(fetched.map((e) => e.type)).toEqual(["call.started", "call.ended"]);
      expect(fetched[0]?.data).toMatchObject({ route: "/v1/messages/batches/{id}/results" });
      expect(fetched[1]?.data).toMatchObject({ status: 200, outcome: "ok", policyActions: ["response_modified"] });
    } finally {
      await gw.close();
    }
  });
});

describe("GATEWAY_CONFIG batches", () => {
  const routing = (yaml: string) => readRouting({ GATEWAY_CONFIG: file(`config-${Math.random().toString(36).slice(2)}.yaml`, yaml) });

  it("is off unless turned on", () => {
    expect(readRouting({}).batches).toEqual({ enabled: false, provider: "anthropic", publicBaseUrl: undefined });
    expect(routing("batches: { enabled: true }\n").batches).toEqual({ enabled: true, provider: "anthropic", publicBaseUrl: undefined });
    expect(routing('batches: { enabled: true, publicBaseUrl: "https://gw.example.com/a/" }\n').batches.publicBaseUrl).toBe("https://gw.example.com/a");
  });

  it("names the bad field", () => {
    expect(() => routing("batches: { enabled: yes please }\n")).toThrow(/batches\.enabled: expected true or false/);
    expect(() => routing("batches: { enabled: true, provider: openai }\n")).toThrow(/batches\.provider: "openai" speaks the openai format/);
    expect(() => routing("batches: { enabled: true, provider: nowhere }\n")).toThrow(/batches\.provider: unknown provider/);
    expect(() => routing('batches: { enabled: true, publicBaseUrl: "https://gw.example.com/?x=1" }\n')).toThrow(/batches\.publicBaseUrl/);
    expect(() => routing('batches: { enabled: true, publicBaseUrl: "ftp://gw.example.com" }\n')).toThrow(/batches\.publicBaseUrl/);
    expect(() => routing("batches: { enabled: true, extra: 1 }\n")).toThrow(/batches\.extra: unknown key/);
    expect(() => routing("batches: true\n")).toThrow(/batches: expected a mapping/);
  });

  it("refuses an unchecked route over the batch routes while batches are decided", () => {
    const unchecked = 'uncheckedRoutes:\n  - { path: "/v1/messages/batches*" }\n';
    expect(() => routing(`${unchecked}batches: { enabled: true }\n`)).toThrow(/uncheckedRoutes\[0\]\.path: .* matches POST \/v1\/messages\/batches/);
    expect(routing(`batches: { enabled: false }\n${unchecked}`).uncheckedRoutes).toHaveLength(1);
    const providers = 'providers:\n  - { name: eu, format: anthropic, baseUrl: "https://eu.example.com" }\nbatches: { enabled: true, provider: eu }\n';
    expect(routing(providers).batches.provider).toBe("eu");
  });
});
