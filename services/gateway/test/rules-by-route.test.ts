import { startStack, type Stack } from "@luthien/testkit";
import { postRaw } from "./sse";

/**
 * What a chain rule matches, as the README says: `model` holds on every client API (the model decides the provider,
 * translated or not), `route` is the client endpoint the call came in on — never the provider endpoint a translated
 * call is sent to.
 */
const POLICIES = `
policies:
  - use: noop
chains:
  strict:
    - use: regex-filter
      with: { patterns: ["FORBIDDEN-[0-9]+"], applyTo: request }
rules:
  - { model: "claude-*", chain: strict }
  - { route: /v1/responses, chain: strict }
`;
const ENDPOINTS = {
  chat: (model: string, text: string) => ["/v1/chat/completions", { model, messages: [{ role: "user", content: text }] }] as const,
  messages: (model: string, text: string) => ["/v1/messages", { model, max_tokens: 10, messages: [{ role: "user", content: text }] }] as const,
  responses: (model: string, text: string) => ["/v1/responses", { model, input: text }] as const,
};

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ policies: POLICIES });
});
afterAll(() => stack.stop());

const send = async ([path, body]: readonly [string, object]): Promise<number> => {
  const res = await postRaw(`${stack.gateway.url}${path}`, body, { headers: { "anthropic-version": "2023-06-01" } });
  await res.text();
  return res.status;
};

describe("chain rules", () => {
  it.each(Object.keys(ENDPOINTS) as (keyof typeof ENDPOINTS)[])("a model rule applies to a Claude model on %s, whatever the provider format", async (api) => {
    await stack.mockControl.reset();
    expect(await send(ENDPOINTS[api]("claude-mock-sonnet", "say FORBIDDEN-1"))).toBe(400);
    expect(JSON.stringify(await stack.mockControl.requests())).not.toContain("FORBIDDEN-1");
  });

  it("a route rule matches the client endpoint, not the provider's", async () => {
    // A GPT model on the Responses API matches `route: /v1/responses`, on the other two it gets the default chain.
    expect(await send(ENDPOINTS.responses("gpt-4o-mini", "say FORBIDDEN-2"))).toBe(400);
    expect(await send(ENDPOINTS.chat("gpt-4o-mini", "say FORBIDDEN-2"))).toBe(200);
    expect(await send(ENDPOINTS.messages("gpt-4o-mini", "say FORBIDDEN-2"))).toBe(200);
  });
});
