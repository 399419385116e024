import * as http from "node:http";
import { startStack, type MockRecord, type Stack } from "@luthien/testkit";
import { postRaw, readEvents } from "./sse";

const SERVER_KEY = "sk-ant-server-key";
const GATEWAY_KEY = "gw-key-123";

/** A request shaped like Claude Code's: system blocks with cache_control, many tools, session in metadata. */
function claudeCodeRequest(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model: "claude-mock-sonnet",
    max_tokens: 32000,
    stream: true,
    system: [
      { type: "text", text: "You are Claude Code, Anthropic's official CLI for Claude." },
      { type: "text", text: "Long instructions...", cache_control: { type: "ephemeral" } },
    ],
    tools: Array.from({ length: 25 }, (_, i) => ({
      name: `Tool${i}`,
      description: `tool number ${i}`,
      input_schema: { type: "object", properties: { arg: { type: "string" } }, required: ["arg"] },
      ...(i === 24 ? { cache_control: { type: "ephemeral" } } : {}),
    })),
    tool_choice: { type: "auto" },
    metadata: { user_id: "user_abc123_account_0b0c_session_6f1e2d3c-aaaa-bbbb-cccc-123456789abc" },
    messages: [
      { role: "user", content: [{ type: "text", text: "fix the bug", cache_control: { type: "ephemeral" } }] },
      {
        role: "assistant",
        content: [
          { type: "thinking", thinking: "hmm", signature: "sig-abc" },
          { type: "tool_use", id: "toolu_1", name: "Tool3", input: { arg: "x" } },
        ],
      },
      { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_1", content: "done" }] },
    ],
    // A field this gateway has never heard of must still reach the provider.
    context_management: { edits: [{ type: "clear_tool_uses_20250919" }] },
    ...extra,
  };
}

async function lastRecord(stack: Stack): Promise<MockRecord> {
  const records = await stack.mockControl.requests();
  const last = records.at(-1);
  if (last === undefined) throw new Error("the provider saw nothing");
  return last;
}

describe.each(["noop", "all-caps"])("Claude Code traffic through a %s chain", (policy) => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      policies: `policies:\n  - use: ${policy}\n`,
      gatewayEnv: { GATEWAY_API_KEYS: GATEWAY_KEY, ANTHROPIC_API_KEY: SERVER_KEY },
    });
  });
  afterAll(() => stack.stop());

  it("reaches the provider unchanged, headers included", async () => {
    const body = claudeCodeRequest();
    const res = await postRaw(`${stack.gateway.url}/v1/messages`, body, {
      headers: { "x-api-key": GATEWAY_KEY, "anthropic-version": "2023-06-01", "anthropic-beta": "interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14" },
    });
    expect(res.status).toBe(200);
    const { events } = await readEvents(res);
    expect(events[0]?.event).toBe("message_start");
    expect(events.at(-1)?.event).toBe("message_stop");
    const seen = await lastRecord(stack);
    expect(seen.body).toEqual(body);
    expect(seen.headers["anthropic-version"]).toBe("2023-06-01");
    expect(seen.headers["anthropic-beta"]).toBe("interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14");
    expect(seen.headers["x-api-key"]).toBe(SERVER_KEY);
    expect(seen.headers["authorization"]).toBeUndefined();
  });

  it("passes the max_tokens: 1 preflight", async () => {
    const body = { model: "claude-mock-haiku", max_tokens: 1, messages: [{ role: "user", content: "quota" }], metadata: { user_id: "user_x_session_1234abcd-0000" } };
    const res = await postRaw(`${stack.gateway.url}/v1/messages`, body, { headers: { "x-api-key": GATEWAY_KEY, "anthropic-version": "2023-06-01" } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { type: string }).type).toBe("message");
    expect((await lastRecord(stack)).body).toEqual(body);
  });

  it("passes count_tokens and models through with the same auth and no policy", async () => {
    const count = await postRaw(
      `${stack.gateway.url}/v1/messages/count_tokens`,
      { model: "claude-mock-sonnet", messages: [{ role: "user", content: "hi" }] },
      {
        headers: { "x-api-key": GATEWAY_KEY, "anthropic-version": "2023-06-01" },
      },
    );
    expect(count.status).toBe(200);
    expect(((await count.json()) as { input_tokens: number }).input_tokens).toBeGreaterThan(0);
    expect((await lastRecord(stack)).headers["x-api-key"]).toBe(SERVER_KEY);
    const models = await fetch(`${stack.gateway.url}/v1/models`, { headers: { "x-api-key": GATEWAY_KEY, "anthropic-version": "2023-06-01" } });
    expect(models.status).toBe(200);
    expect(models.headers.get("x-luthien-call-id")).not.toBeNull();
    const seen = await lastRecord(stack);
    expect(seen.path).toBe("/v1/models");
    expect(seen.headers["x-api-key"]).toBe(SERVER_KEY);
    const unauthorized = await fetch(`${stack.gateway.url}/v1/models`, { headers: { "anthropic-version": "2023-06-01" } });
    expect(unauthorized.status).toBe(401);
  });

  it("refuses passthrough paths that leave /v1", async () => {
    for (const path of ["/v1/../_mock/requests", "/v1/%2e%2e/_mock/requests", "/v1/models/..%2f..%2f_mock/requests", "//v1/../_mock/requests"]) {
      const status = await rawGet(stack.gateway.port, path, { "x-api-key": GATEWAY_KEY, "anthropic-version": "2023-06-01" });
      expect([400, 404]).toContain(status);
    }
    expect((await stack.mockControl.requests()).some((r) => r.path.includes("_mock"))).toBe(false);
  });
});

/** A GET with the path exactly as given (fetch would normalise it first). */
function rawGet(port: number, path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path, method: "GET", headers }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("AUTH_MODE: which credential the provider sees", () => {
  const modes = ["client_key", "passthrough", "both"] as const;
  const stacks = new Map<string, Stack>();
  beforeAll(async () => {
    for (const mode of modes) {
      stacks.set(mode, await startStack({ gatewayEnv: { AUTH_MODE: mode, GATEWAY_API_KEYS: GATEWAY_KEY, ANTHROPIC_API_KEY: SERVER_KEY } }));
    }
  });
  afterAll(() => Promise.all([...stacks.values()].map((s) => s.stop())));

  const credentials = {
    "gateway key as x-api-key": { "x-api-key": GATEWAY_KEY },
    "gateway key as Bearer": { authorization: `Bearer ${GATEWAY_KEY}` },
    "own API key as x-api-key": { "x-api-key": "sk-ant-user-own" },
    "OAuth token as Bearer": { authorization: "Bearer sk-ant-oat01-user-token" },
    "no credential": {},
    "OAuth token beside the gateway key header": { authorization: "Bearer sk-ant-oat01-user-token", "x-luthien-api-key": GATEWAY_KEY },
    "OAuth token beside a wrong gateway key header": { authorization: "Bearer sk-ant-oat01-user-token", "x-luthien-api-key": "not-a-gateway-key" },
    "gateway key header alone": { "x-luthien-api-key": GATEWAY_KEY },
  } as const;
  type Cred = keyof typeof credentials;
  const server = { "x-api-key": SERVER_KEY };
  const expected: Record<(typeof modes)[number], Record<Cred, Record<string, string> | 401>> = {
    client_key: {
      "gateway key as x-api-key": server,
      "gateway key as Bearer": server,
      "own API key as x-api-key": 401,
      "OAuth token as Bearer": 401,
      "no credential": 401,
      // A static key carries no passthrough scope: only AUTH_MODE=passthrough lets the caller's own login through.
      "OAuth token beside the gateway key header": 401,
      "OAuth token beside a wrong gateway key header": 401,
      "gateway key header alone": server,
    },
    passthrough: {
      "gateway key as x-api-key": server,
      "gateway key as Bearer": server,
      "own API key as x-api-key": { "x-api-key": "sk-ant-user-own" },
      "OAuth token as Bearer": { authorization: "Bearer sk-ant-oat01-user-token" },
      "no credential": 401,
      "OAuth token beside the gateway key header": { authorization: "Bearer sk-ant-oat01-user-token" },
      "OAuth token beside a wrong gateway key header": 401,
      "gateway key header alone": server,
    },
    both: {
      "gateway key as x-api-key": server,
      "gateway key as Bearer": server,
      "own API key as x-api-key": { "x-api-key": "sk-ant-user-own" },
      "OAuth token as Bearer": { authorization: "Bearer sk-ant-oat01-user-token" },
      "no credential": 401,
      "OAuth token beside the gateway key header": { authorization: "Bearer sk-ant-oat01-user-token" },
      "OAuth token beside a wrong gateway key header": 401,
      "gateway key header alone": server,
    },
  };
  const cases = modes.flatMap((mode) => (Object.keys(credentials) as Cred[]).map((cred) => [mode, cred] as const));

  it.each(cases)("%s with %s", async (mode, cred) => {
    const stack = stacks.get(mode) as Stack;
    await stack.mockControl.reset();
    const res = await postRaw(
      `${stack.gateway.url}/v1/messages`,
      { model: "claude-mock-haiku", max_tokens: 5, messages: [{ role: "user", content: "hi" }] },
      {
        headers: { "anthropic-version": "2023-06-01", ...credentials[cred] },
      },
    );
    const want = expected[mode][cred];
    if (want === 401) {
      expect(res.status).toBe(401);
      const body = (await res.json()) as { type: string; error: { type: string } };
      expect(body).toMatchObject({ type: "error", error: { type: "authentication_error" } });
      expect(await stack.mockControl.requests()).toHaveLength(0);
      return;
    }
    expect(res.status).toBe(200);
    const seen = await lastRecord(stack);
    // The gateway key is ours: it never reaches the provider, whatever header it came in.
    expect(JSON.stringify(seen.headers)).not.toContain(GATEWAY_KEY);
    expect(seen.headers["x-luthien-api-key"]).toBeUndefined();
    const auth = { "x-api-key": seen.headers["x-api-key"], authorization: seen.headers["authorization"] };
    expect(Object.fromEntries(Object.entries(auth).filter(([, v]) => v !== undefined))).toEqual(want);
  });
});
