import * as http from "node:http";
import type { AddressInfo } from "node:net";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { startStack, type Stack } from "@luthien/testkit";
import { readGatewayConfig } from "../src/config";
import { rawRequest, type RawResponse } from "./raw-http";

/**
 * A web page must not be able to use a gateway as its visitor's proxy. With no GATEWAY_API_KEYS (the `pnpm start`
 * laptop), a call without a credential is served with the server's provider key, so a page that can make the
 * visitor's browser POST to localhost:8000 spends that key — a `text/plain` or form POST goes cross-origin without a
 * preflight. Decided routes take JSON only (415), and requests from browsers (an `Origin`, or `Sec-Fetch-Site`
 * naming another site) are refused (403) unless GATEWAY_ALLOWED_ORIGINS lists their origin.
 */

const SERVER_OPENAI = "sk-server-openai-browser-test";
const SERVER_ANTHROPIC = "sk-ant-server-browser-test";
const ALLOWED = "http://localhost:3000";

const chatBody = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] });
const messagesBody = JSON.stringify({ model: "claude-mock-sonnet", max_tokens: 20, messages: [{ role: "user", content: "hi" }] });

function post(stack: Stack, path: string, headers: Record<string, string>, body = path === "/v1/messages" ? messagesBody : chatBody): Promise<RawResponse> {
  return rawRequest(stack.gateway.port, { method: "POST", path, headers, body });
}

/** The error as the client's own SDK reads it: OpenAI `{error: {type, message}}`, Anthropic `{type: "error", error}`. */
function errorOf(res: RawResponse, format: "openai" | "anthropic"): { type: string; message: string } {
  const body = JSON.parse(res.body) as { type?: string; error: { type: string; message: string } };
  if (format === "anthropic") expect(body.type).toBe("error");
  else expect(body.type).toBeUndefined();
  return body.error;
}

describe("the laptop defaults (no GATEWAY_API_KEYS) refuse what a web page can send", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ gatewayEnv: { OPENAI_API_KEY: SERVER_OPENAI, ANTHROPIC_API_KEY: SERVER_ANTHROPIC } });
  });
  afterAll(() => stack.stop());
  beforeEach(() => stack.mockControl.reset());

  // What a page can POST without a preflight (a form, fetch with a string or Blob body), and what else is not JSON.
  const notJson: [string, Record<string, string>][] = [
    ["text/plain (fetch with a string body)", { "content-type": "text/plain;charset=UTF-8" }],
    ["a form", { "content-type": "application/x-www-form-urlencoded" }],
    ["multipart", { "content-type": "multipart/form-data; boundary=x" }],
    ["no content type (fetch with a Blob body)", {}],
    ["octet-stream", { "content-type": "application/octet-stream" }],
  ];

  it.each(notJson)("415 for %s on /v1/chat/completions, in OpenAI's format; the provider is not called", async (_what, headers) => {
    const res = await post(stack, "/v1/chat/completions", headers);
    expect(res.status).toBe(415);
    expect(errorOf(res, "openai")).toMatchObject({ type: "invalid_request_error", message: expect.stringContaining("application/json") });
    expect(await stack.mockControl.requests()).toHaveLength(0);
  });

  it.each(notJson)("415 for %s on /v1/messages, in Anthropic's format; the provider is not called", async (_what, headers) => {
    const res = await post(stack, "/v1/messages", { "anthropic-version": "2023-06-01", ...headers });
    expect(res.status).toBe(415);
    expect(errorOf(res, "anthropic")).toMatchObject({ type: "invalid_request_error", message: expect.stringContaining("application/json") });
    expect(await stack.mockControl.requests()).toHaveLength(0);
  });

  it("415 on /v1/responses and /v1/messages/count_tokens too", async () => {
    expect((await post(stack, "/v1/responses", { "content-type": "text/plain" }, JSON.stringify({ model: "gpt-4o-mini", input: "hi" }))).status).toBe(415);
    expect((await post(stack, "/v1/messages/count_tokens", { "content-type": "text/plain" }, messagesBody)).status).toBe(415);
    expect(await stack.mockControl.requests()).toHaveLength(0);
  });

  it("takes application/json with a charset, and +json types", async () => {
    for (const type of ["application/json", "application/json; charset=utf-8", "Application/JSON", "application/vnd.luthien+json"]) {
      await stack.mockControl.script({ text: "ok" });
      const res = await post(stack, "/v1/chat/completions", { "content-type": type });
      expect([type, res.status]).toEqual([type, 200]);
    }
  });

  // What browsers add to a page's requests. Origin is checked even when it names the gateway itself: the gateway
  // serves no pages, and a DNS-rebound page is same-origin to the browser.
  const fromBrowsers: [string, Record<string, string>][] = [
    ["a cross-origin Origin", { origin: "https://evil.example" }],
    ["a localhost page on another port", { origin: "http://localhost:8001", "sec-fetch-site": "same-site" }],
    ["Origin: null (a sandboxed frame, a file:// page)", { origin: "null" }],
    ["an Origin equal to the gateway's host (DNS rebinding)", { origin: "http://127.0.0.1", "sec-fetch-site": "same-origin" }],
    ["Sec-Fetch-Site: cross-site without Origin", { "sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors" }],
    ["Sec-Fetch-Site: same-site without Origin", { "sec-fetch-site": "same-site" }],
  ];

  it.each(fromBrowsers)("403 for a JSON POST with %s, in the client's format; the provider is not called", async (_what, headers) => {
    const openai = await post(stack, "/v1/chat/completions", { "content-type": "application/json", ...headers });
    expect(openai.status).toBe(403);
    expect(errorOf(openai, "openai")).toMatchObject({ type: "permission_error", message: expect.stringContaining("GATEWAY_ALLOWED_ORIGINS") });
    const anthropic = await post(stack, "/v1/messages", { "content-type": "application/json", "anthropic-version": "2023-06-01", ...headers });
    expect(anthropic.status).toBe(403);
    expect(errorOf(anthropic, "anthropic").type).toBe("permission_error");
    expect(anthropic.headers["access-control-allow-origin"]).toBeUndefined();
    expect(await stack.mockControl.requests()).toHaveLength(0);
  });

  it("refuses a browser even when it presents a credential, and on every other /v1 route (model lists, preflights)", async () => {
    const withKey = await post(stack, "/v1/messages", { "content-type": "application/json", origin: "https://evil.example", "x-api-key": "sk-ant-someones-own" });
    expect(withKey.status).toBe(403);
    const models = await rawRequest(stack.gateway.port, { path: "/v1/models", headers: { "sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors" } });
    expect(models.status).toBe(403);
    const preflight = await rawRequest(stack.gateway.port, {
      method: "OPTIONS",
      path: "/v1/chat/completions",
      headers: { origin: "https://evil.example", "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
    });
    expect(preflight.status).toBe(403);
    expect(Object.keys(preflight.headers).filter((h) => h.startsWith("access-control-"))).toEqual([]);
    expect(await stack.mockControl.requests()).toHaveLength(0);
  });

  it("serves the official SDKs as they are (application/json, no Origin), and their calls carry the server's key upstream", async () => {
    await stack.mockControl.script({ text: "from openai" }, { text: "from anthropic" });
    const openai = new OpenAI({ apiKey: "unused", baseURL: `${stack.gateway.url}/v1`, maxRetries: 0, defaultHeaders: { authorization: null } });
    const chat = await openai.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] });
    expect(chat.choices[0]?.message.content).toBe("from openai");
    const anthropic = new Anthropic({ apiKey: null, authToken: null, baseURL: stack.gateway.url, maxRetries: 0, defaultHeaders: { authorization: null } });
    const message = await anthropic.messages.create({ model: "claude-mock-sonnet", max_tokens: 20, messages: [{ role: "user", content: "hi" }] });
    expect(message.content[0]).toMatchObject({ type: "text", text: "from anthropic" });
    const seen = await stack.mockControl.requests();
    expect(seen.map((r) => r.headers["authorization"] ?? r.headers["x-api-key"])).toEqual([`Bearer ${SERVER_OPENAI}`, SERVER_ANTHROPIC]);
  });
});

describe("what the official SDKs send", () => {
  let server: http.Server;
  const seen: http.IncomingHttpHeaders[] = [];
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      seen.push(req.headers);
      req.resume();
      res.writeHead(500, { "content-type": "application/json" }).end('{"error":{"message":"recorded","type":"api_error"}}');
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("a JSON content type and no Origin or Sec-Fetch-Site, so the browser checks never refuse them", async () => {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const openai = new OpenAI({ apiKey: "k", baseURL: `${url}/v1`, maxRetries: 0 });
    await openai.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }).catch(() => undefined);
    await openai.chat.completions.create({ model: "gpt-4o-mini", stream: true, messages: [{ role: "user", content: "hi" }] }).catch(() => undefined);
    await openai.responses.create({ model: "gpt-4o-mini", input: "hi" }).catch(() => undefined);
    const anthropic = new Anthropic({ apiKey: "k", baseURL: url, maxRetries: 0 });
    await anthropic.messages.create({ model: "claude-mock-sonnet", max_tokens: 5, messages: [{ role: "user", content: "hi" }] }).catch(() => undefined);
    await anthropic.messages.create({ model: "claude-mock-sonnet", max_tokens: 5, stream: true, messages: [{ role: "user", content: "hi" }] }).catch(() => undefined);
    await anthropic.messages.countTokens({ model: "claude-mock-sonnet", messages: [{ role: "user", content: "hi" }] }).catch(() => undefined);
    expect(seen).toHaveLength(6);
    for (const headers of seen) {
      expect(headers["content-type"]).toMatch(/^application\/json\b/);
      expect(headers["origin"]).toBeUndefined();
      expect(headers["sec-fetch-site"]).toBeUndefined();
    }
  });
});

describe("GATEWAY_ALLOWED_ORIGINS", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ gatewayEnv: { GATEWAY_ALLOWED_ORIGINS: `${ALLOWED}, https://app.example.com/` } });
  });
  afterAll(() => stack.stop());
  beforeEach(() => stack.mockControl.reset());

  it("answers an allowed origin's preflight with CORS headers, before any credential", async () => {
    const res = await rawRequest(stack.gateway.port, {
      method: "OPTIONS",
      path: "/v1/messages",
      headers: {
        origin: ALLOWED,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type, x-api-key, anthropic-version, anthropic-dangerous-direct-browser-access",
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers).toMatchObject({
      "access-control-allow-origin": ALLOWED,
      "access-control-allow-methods": "GET, POST",
      "access-control-allow-headers": "content-type, x-api-key, anthropic-version, anthropic-dangerous-direct-browser-access",
      vary: expect.stringContaining("Origin"),
    });
  });

  it("serves a browser app of an allowed origin (the Anthropic SDK with dangerouslyAllowBrowser sends Origin from a page), with CORS headers", async () => {
    await stack.mockControl.script({ text: "hello page" });
    const res = await post(stack, "/v1/messages", {
      "content-type": "application/json",
      "anthropic-version": "2023-06-01",
      "anthropic-dangerous-direct-browser-access": "true",
      origin: "https://app.example.com",
      "sec-fetch-site": "cross-site",
    });
    expect(res.status).toBe(200);
    expect(res.headers["access-control-allow-origin"]).toBe("https://app.example.com");
    expect(res.headers["access-control-expose-headers"]).toContain("x-luthien-call-id");
    expect(res.headers["access-control-allow-credentials"]).toBeUndefined();
  });

  it("still refuses every other origin, and text/plain from an allowed one", async () => {
    expect((await post(stack, "/v1/chat/completions", { "content-type": "application/json", origin: "http://localhost:3001" })).status).toBe(403);
    expect((await post(stack, "/v1/chat/completions", { "content-type": "application/json", origin: "http://localhost:3000.evil.example" })).status).toBe(403);
    const plain = await post(stack, "/v1/chat/completions", { "content-type": "text/plain", origin: ALLOWED });
    expect(plain.status).toBe(415);
    expect(await stack.mockControl.requests()).toHaveLength(0);
  });

  it("is read as a list of origins; anything else is a config error naming the variable", () => {
    expect(readGatewayConfig({ GATEWAY_ALLOWED_ORIGINS: "HTTP://LocalHost:3000/, https://a.example, https://b.example:443" }).allowedOrigins).toEqual([
      "http://localhost:3000",
      "https://a.example",
      "https://b.example",
    ]);
    expect(readGatewayConfig({}).allowedOrigins).toEqual([]);
    for (const bad of ["*", "https://*.example.com", "localhost:3000", "https://a.example/path", "https://a.example/?x", "https://user@a.example", "null", "ftp://a.example"]) {
      expect(() => readGatewayConfig({ GATEWAY_ALLOWED_ORIGINS: bad })).toThrow(/GATEWAY_ALLOWED_ORIGINS/);
    }
  });
});
