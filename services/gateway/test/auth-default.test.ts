/**
 * The default auth (AUTH_MODE unset = client_key) is closed: only a gateway key is served. The testkit runs most
 * gateways with AUTH_MODE=off; these start theirs with the operator's defaults and check that nothing else — a
 * made-up key, the caller's own provider key or OAuth token, a near-miss of the real key — reaches the provider.
 */
import { startStack, type Stack } from "@luthien/testkit";
import { postRaw } from "./sse";

const GATEWAY_KEY = "gw-default-closed-0123456789abcdef";
const SERVER_OPENAI = "sk-server-openai-default-0123456789";

/** Credentials that are not the gateway key: the issue's own sample, provider-shaped ones, and near misses of the key. */
function foreignCredentials(key: string): Record<string, string>[] {
  const nearMisses = [key.slice(0, -1), `${key}x`, key.toUpperCase(), ` ${key}x `, key.replace(/.$/, (c) => (c === "f" ? "e" : "f")), `${key}\t`.slice(1)];
  return [
    {},
    { authorization: "Bearer nope" },
    { authorization: "Bearer sk-user-own-openai-key-0123456789" },
    { authorization: "Bearer sk-ant-oat01-user-oauth-token" },
    { "x-api-key": "sk-ant-api03-user-own-key" },
    { "x-luthien-api-key": "nope" },
    { authorization: `Basic ${Buffer.from(`user:${key}`).toString("base64")}` },
    ...nearMisses.map((k) => ({ authorization: `Bearer ${k}` })),
    ...nearMisses.map((k) => ({ "x-luthien-api-key": k, authorization: "Bearer sk-user-own-openai-key-0123456789" })),
  ];
}

const routes = [
  { path: "/v1/chat/completions", body: { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }, headers: {} },
  { path: "/v1/chat/completions", body: { model: "gpt-4o-mini", stream: true, messages: [{ role: "user", content: "hi" }] }, headers: {} },
  { path: "/v1/responses", body: { model: "gpt-4o-mini", input: "hi" }, headers: {} },
  { path: "/v1/messages", body: { model: "claude-mock-haiku", max_tokens: 5, messages: [{ role: "user", content: "hi" }] }, headers: { "anthropic-version": "2023-06-01" } },
  { path: "/v1/messages/count_tokens", body: { model: "claude-mock-haiku", messages: [{ role: "user", content: "hi" }] }, headers: { "anthropic-version": "2023-06-01" } },
];

describe.each([
  ["no gateway keys configured", ""],
  ["a gateway key configured", GATEWAY_KEY],
])("the default AUTH_MODE with %s refuses every credential that is not a gateway key", (_label, keys) => {
  let stack: Stack;
  beforeAll(async () => {
    // GATEWAY_API_KEYS in the env keeps the testkit's AUTH_MODE=off away: the gateway runs with its defaults.
    stack = await startStack({ gatewayEnv: { GATEWAY_API_KEYS: keys, OPENAI_API_KEY: SERVER_OPENAI } });
  });
  afterAll(() => stack?.stop());

  it.each(routes.map((r) => [r.path + (r.body.stream === true ? " (stream)" : ""), r] as const))("%s: 401 in the client's format, the provider sees nothing", async (_name, route) => {
    await stack.mockControl.reset();
    for (const credential of foreignCredentials(GATEWAY_KEY)) {
      const res = await postRaw(`${stack.gateway.url}${route.path}`, route.body, { headers: { ...route.headers, ...credential } });
      expect(res.status).toBe(401);
      const body = (await res.json()) as Record<string, unknown>;
      const anthropic = route.path.startsWith("/v1/messages");
      if (anthropic) expect(body).toMatchObject({ type: "error", error: { type: "authentication_error" } });
      else expect(body).toMatchObject({ error: { type: "authentication_error" } });
    }
    expect(await stack.mockControl.requests()).toHaveLength(0);
  });

  it("GET /v1/models (a passthrough route) is refused the same way", async () => {
    await stack.mockControl.reset();
    for (const credential of foreignCredentials(GATEWAY_KEY)) {
      const res = await fetch(`${stack.gateway.url}/v1/models`, { headers: credential });
      expect(res.status).toBe(401);
    }
    expect(await stack.mockControl.requests()).toHaveLength(0);
  });

  if (keys !== "") {
    it("serves the gateway key, in any of its three headers, with the server's provider key upstream", async () => {
      for (const credential of [{ authorization: `Bearer ${GATEWAY_KEY}` }, { "x-api-key": GATEWAY_KEY }, { "x-luthien-api-key": GATEWAY_KEY }]) {
        await stack.mockControl.reset();
        const res = await postRaw(`${stack.gateway.url}/v1/chat/completions`, routes[0]?.body, { headers: credential });
        expect(res.status).toBe(200);
        const [seen] = await stack.mockControl.requests();
        expect(seen?.headers["authorization"]).toBe(`Bearer ${SERVER_OPENAI}`);
        expect(JSON.stringify(seen?.headers)).not.toContain(GATEWAY_KEY);
      }
    });
  }
});
