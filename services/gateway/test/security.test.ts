import { createHash } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "@luthien/runtime";
import OpenAI from "openai";
import { startStack, type Stack } from "@luthien/testkit";
import { createGateway } from "../src/app";
import { isAuthMiddleware, keyIdOf } from "../src/identity/auth";
import { readGatewayConfig } from "../src/config";
import { toHttpError } from "../src/errors";
import { createSecretRedactor } from "../src/identity/secrets";
import { listen } from "./in-process";
import { rawRequest } from "./raw-http";
import { postRaw, readEvents } from "./sse";

const GATEWAY_KEY = "gw-key-0123456789abcdef";
const OTHER_KEY = "gw-key-lenient-fedcba9876543210";
const SERVER_OPENAI = "sk-server-openai-0123456789";
const SERVER_ANTHROPIC = "sk-ant-server-anthropic-0123456789";

const openaiBody = (stream = false, extra: Record<string, unknown> = {}) => ({ model: "gpt-4o-mini", stream, messages: [{ role: "user", content: "hi" }], ...extra });
const anthropicBody = (stream = false, extra: Record<string, unknown> = {}) => ({
  model: "claude-mock-sonnet",
  stream,
  max_tokens: 20,
  messages: [{ role: "user", content: "hi" }],
  ...extra,
});

/** A logger that keeps its lines, for in-process gateways (the testkit's processes print theirs). */
function captureLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const write = (level: string) => (msg: string, fields?: Record<string, unknown>) => void lines.push(`${level} ${msg} ${JSON.stringify(fields ?? {})}`);
  return { lines, debug: write("debug"), info: write("info"), warn: write("warn"), error: write("error"), notice: write("notice") };
}

/** Every form of a credential an error body must not carry: the value, its SHA-256 (hex, base64) and its key id. */
function forms(secret: string): string[] {
  const digest = createHash("sha256").update(secret).digest();
  return [secret, digest.toString("hex"), digest.toString("hex").slice(0, 12), digest.toString("base64"), keyIdOf(secret)];
}

interface RouteLayer {
  route?: { path: string; methods: Record<string, boolean>; stack: { method: string; handle: unknown; name: string }[] };
  handle: (...args: unknown[]) => unknown;
  name: string;
}

describe("route inventory: every route but /health, /ready and /metrics is behind the auth middleware", () => {
  const gateway = createGateway(readGatewayConfig({ GATEWAY_API_KEYS: GATEWAY_KEY, POLICY_ENGINE_URL: "127.0.0.1:1" }), captureLogger());
  afterAll(() => gateway.close());
  const layers = (gateway.app as unknown as { router: { stack: RouteLayer[] } }).router.stack;
  /** Hold no secrets: a status, and metrics labelled by route pattern, phase and reason (never keys or key ids). */
  const PUBLIC = new Set(["/health", "/ready", "/metrics"]);
  /** Handlers that may run before auth: they only choose the error format of the answer or open the call's span. */
  const BEFORE_AUTH = new Set(["useClientApi", "traceCall"]);
  /** App-level middleware: each is known, and none answers a request with anything but an error. */
  const APP_MIDDLEWARE = new Set(["httpMetrics", "assignCallId", "notFound", "errorBoundary"]);

  it("finds the routes it guards", () => {
    const paths = layers.flatMap((l) => (l.route !== undefined ? [l.route.path] : []));
    expect(paths).toEqual(expect.arrayContaining(["/health", "/ready", "/metrics", "/v1/chat/completions", "/v1/messages", "/v1/{*path}"]));
  });

  it("puts auth first on every method of every other route, before any body is read", () => {
    const unguarded: string[] = [];
    for (const layer of layers) {
      if (layer.route === undefined) continue;
      const { path, stack } = layer.route;
      if (PUBLIC.has(path)) {
        expect(Object.keys(layer.route.methods)).toEqual(["get"]);
        continue;
      }
      for (const method of new Set(stack.map((s) => s.method))) {
        const handlers = stack.filter((s) => s.method === method);
        const at = handlers.findIndex((h) => isAuthMiddleware(h.handle));
        if (at < 0 || handlers.slice(0, at).some((h) => !BEFORE_AUTH.has(h.name))) unguarded.push(`${method.toUpperCase()} ${path}`);
      }
    }
    expect(unguarded).toEqual([]);
  });

  it("has no other app-level middleware", () => {
    const others = layers.filter((l) => l.route === undefined).map((l) => l.name);
    expect(others.filter((n) => !APP_MIDDLEWARE.has(n))).toEqual([]);
    // The last one is the error boundary (four parameters), the one before it the 404.
    expect(others.slice(-2)).toEqual(["notFound", "errorBoundary"]);
  });

  it("answers 401 on every guarded route without a key", async () => {
    const server = await listen(createGateway(readGatewayConfig({ GATEWAY_API_KEYS: GATEWAY_KEY, POLICY_ENGINE_URL: "127.0.0.1:1" }), captureLogger()));
    try {
      for (const [method, path] of [
        ["POST", "/v1/chat/completions"],
        ["POST", "/v1/messages"],
        ["GET", "/v1/models"],
        ["POST", "/v1/messages/count_tokens"],
        ["DELETE", "/v1/files/x"],
        ["OPTIONS", "/v1/messages"],
      ] as const) {
        const res = await rawRequest(server.port, { method, path, headers: { "content-type": "application/json" }, body: "{}" });
        expect([method, path, res.status]).toEqual([method, path, 401]);
      }
    } finally {
      await server.close();
    }
  });
});

describe("authentication answers", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ gatewayEnv: { GATEWAY_API_KEYS: GATEWAY_KEY, AUTH_MODE: "client_key", OPENAI_API_KEY: SERVER_OPENAI, ANTHROPIC_API_KEY: SERVER_ANTHROPIC } });
  });
  afterAll(() => stack.stop());

  const wrong: [string, Record<string, string>][] = [
    ["no credential", {}],
    ["Basic auth", { authorization: `Basic ${Buffer.from(`user:${GATEWAY_KEY}`).toString("base64")}` }],
    ["an empty Bearer", { authorization: "Bearer " }],
    ["a wrong key of the same length", { authorization: `Bearer ${GATEWAY_KEY.replace(/.$/, "X")}` }],
    ["a one-character key", { "x-api-key": "x" }],
    ["a 10 KB key", { "x-api-key": "k".repeat(10000) }],
    ["the key plus one character", { "x-api-key": `${GATEWAY_KEY}x` }],
    ["a prefix of the key", { "x-api-key": GATEWAY_KEY.slice(0, 10) }],
    ["the key in upper case", { "x-api-key": GATEWAY_KEY.toUpperCase() }],
    ["the server's own provider key", { "x-api-key": SERVER_ANTHROPIC }],
    ["a wrong Bearer beside a right x-api-key (Bearer wins)", { authorization: "Bearer wrong-key-value-123", "x-api-key": GATEWAY_KEY }],
  ];

  it.each(wrong)("%s → 401 in provider format, echoing no key or hash", async (_what, headers) => {
    for (const [path, body, shape] of [
      ["/v1/messages", anthropicBody(), { type: "error", error: { type: "authentication_error" } }],
      ["/v1/chat/completions", openaiBody(), { error: { type: "authentication_error" } }],
    ] as const) {
      const res = await postRaw(`${stack.gateway.url}${path}`, body, { headers });
      expect(res.status).toBe(401);
      const text = await res.text();
      expect(JSON.parse(text)).toMatchObject(shape);
      const presented = Object.values(headers)
        .map((v) => v.replace(/^(Bearer|Basic)\s*/i, ""))
        .filter((v) => v.length > 3);
      for (const secret of [GATEWAY_KEY, SERVER_ANTHROPIC, ...presented]) for (const f of forms(secret)) expect(text).not.toContain(f);
      expect(text).not.toMatch(/sha-?256|digest|table|luthien/i);
    }
    expect(await stack.mockControl.requests()).toHaveLength(0);
  });

  it("a bad request that carries the key in its body does not echo it", async () => {
    const res = await postRaw(
      `${stack.gateway.url}/v1/chat/completions`,
      { api_key: GATEWAY_KEY, model: 5, messages: [{ role: "user", content: GATEWAY_KEY }] },
      { headers: { "x-api-key": GATEWAY_KEY } },
    );
    expect(res.status).toBe(400);
    const text = await res.text();
    for (const f of forms(GATEWAY_KEY)) expect(text).not.toContain(f);
    const bad = await postRaw(`${stack.gateway.url}/v1/messages`, `{"api_key": "${GATEWAY_KEY}", "model": `, { headers: { "x-api-key": GATEWAY_KEY } });
    expect(bad.status).toBe(400);
    expect(await bad.text()).not.toContain(GATEWAY_KEY);
  });

  describe("provider errors that echo the server's key are redacted", () => {
    const cases = [
      ["/v1/chat/completions", "gpt-4o-mini", SERVER_OPENAI],
      ["/v1/chat/completions", "claude-mock-sonnet", SERVER_ANTHROPIC],
      ["/v1/messages", "claude-mock-sonnet", SERVER_ANTHROPIC],
      ["/v1/messages", "gpt-4o-mini", SERVER_OPENAI],
    ] as const;

    it.each(cases)("%s via %s: before the stream and in non-streaming calls", async (path, model, serverKey) => {
      for (const stream of [false, true]) {
        await stack.mockControl.script({ error: { status: 401, type: `bad_key_${serverKey}`, message: `Incorrect API key provided: ${serverKey}. (${serverKey})` } });
        const body = path === "/v1/messages" ? anthropicBody(stream, { model }) : openaiBody(stream, { model });
        const res = await postRaw(`${stack.gateway.url}${path}`, body, { headers: { "x-api-key": GATEWAY_KEY } });
        expect(res.status).toBe(401);
        const text = await res.text();
        expect(text).toContain("Incorrect API key provided: [REDACTED]");
        expect(text).not.toContain(serverKey);
      }
      expect(stack.gateway.output()).not.toContain(serverKey);
    });
  });
});

describe("passthrough routes redact credentials a provider echoes in an error", () => {
  let upstream: http.Server;
  let upstreamUrl: string;
  beforeAll(async () => {
    // A provider that answers every call 401 and quotes the credential it received.
    upstream = http.createServer((req, res) => {
      const seen = req.headers["x-api-key"] ?? req.headers["authorization"] ?? "";
      res.writeHead(401, { "content-type": "application/json" });
      res.end(JSON.stringify({ type: "error", error: { type: "authentication_error", message: `invalid x-api-key: ${String(seen)}` } }));
    });
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", () => resolve()));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => upstream.close(() => resolve())));

  it.each([
    ["the server's key (gateway key presented)", { "x-api-key": GATEWAY_KEY }, SERVER_ANTHROPIC],
    ["the caller's own key (passed through)", { "x-api-key": "sk-ant-callers-own-key-123456" }, "sk-ant-callers-own-key-123456"],
  ])("%s", async (_what, headers, secret) => {
    const logger = captureLogger();
    const env = { GATEWAY_API_KEYS: GATEWAY_KEY, AUTH_MODE: "both", ANTHROPIC_UPSTREAM_URL: upstreamUrl, ANTHROPIC_API_KEY: SERVER_ANTHROPIC, POLICY_ENGINE_URL: "127.0.0.1:1" };
    const server = await listen(createGateway(readGatewayConfig(env), logger));
    try {
      const res = await rawRequest(server.port, { path: "/v1/models", headers: { ...headers, "anthropic-version": "2023-06-01" } });
      expect(res.status).toBe(401);
      expect(res.body).toContain("[REDACTED]");
      expect(res.body).not.toContain(secret);
      expect(logger.lines.join("\n")).not.toContain(secret);
    } finally {
      await server.close();
    }
  });
});

describe("the client cannot choose its policy", () => {
  let stack: Stack;
  beforeAll(async () => {
    // The default chain upper-cases; only OTHER_KEY's calls get the lenient chain.
    const policies = ["policies:", "  - use: all-caps", "chains:", "  lenient:", "    - use: noop", "rules:", `  - { keyId: ${keyIdOf(OTHER_KEY)}, chain: lenient }`, ""].join("\n");
    stack = await startStack({ policies, gatewayEnv: { GATEWAY_API_KEYS: `${GATEWAY_KEY},${OTHER_KEY}`, AUTH_MODE: "client_key" } });
  });
  afterAll(() => stack.stop());

  const spoofHeaders = {
    "x-luthien-chain": "lenient",
    "x-luthien-policy": "noop",
    "x-luthien-key-id": keyIdOf(OTHER_KEY),
    "x-luthien-policy-bypassed": "unavailable",
    "x-policy": "noop",
    "x-chain": "lenient",
    "x-session-id": keyIdOf(OTHER_KEY),
    "user-agent": `lenient ${keyIdOf(OTHER_KEY)}`,
  };
  const spoofMetadata = { user_id: keyIdOf(OTHER_KEY), chain: "lenient", policy: "noop", tags: ["lenient"], key_id: keyIdOf(OTHER_KEY) };

  it("the rule works: the lenient key gets the lenient chain", async () => {
    await stack.mockControl.script({ text: "hello" });
    const res = await postRaw(`${stack.gateway.url}/v1/messages`, anthropicBody(), { headers: { "x-api-key": OTHER_KEY } });
    expect(((await res.json()) as { content: { text: string }[] }).content[0]?.text).toBe("hello");
  });

  it.each(["/v1/messages", "/v1/chat/completions"])("%s: headers and metadata naming another chain or key change nothing", async (path) => {
    for (const stream of [false, true]) {
      await stack.mockControl.script({ text: "hello" });
      const body =
        path === "/v1/messages"
          ? anthropicBody(stream, { metadata: spoofMetadata })
          : openaiBody(stream, { user: keyIdOf(OTHER_KEY), metadata: { chain: "lenient", key_id: keyIdOf(OTHER_KEY) } });
      const res = await postRaw(`${stack.gateway.url}${path}`, body, { headers: { "x-api-key": GATEWAY_KEY, ...spoofHeaders } });
      expect(res.status).toBe(200);
      expect(res.headers.get("x-luthien-policy-bypassed")).toBeNull();
      let text: string;
      if (stream) {
        const { events } = await readEvents(res);
        text = events.map((e) => e.data).join("");
      } else {
        text = await res.text();
      }
      expect(text).toContain("HELLO");
      expect(text).not.toContain("hello");
    }
  });
});

describe("no client-controlled upstream", () => {
  let stack: Stack;
  let evil: http.Server;
  let evilUrl: string;
  let evilConnections = 0;
  beforeAll(async () => {
    evil = http.createServer((_req, res) => res.end("{}"));
    evil.on("connection", () => evilConnections++);
    await new Promise<void>((resolve) => evil.listen(0, "127.0.0.1", () => resolve()));
    evilUrl = `http://127.0.0.1:${(evil.address() as AddressInfo).port}`;
    stack = await startStack({ gatewayEnv: { GATEWAY_API_KEYS: GATEWAY_KEY, AUTH_MODE: "both" } });
  });
  afterAll(async () => {
    await stack.stop();
    await new Promise<void>((resolve) => evil.close(() => resolve()));
  });

  it("base-URL headers and body fields are ignored: the configured provider gets every call, the other host none", async () => {
    const evilHost = evilUrl.replace("http://", "");
    const headers = {
      "x-api-key": GATEWAY_KEY,
      "x-base-url": evilUrl,
      "x-upstream-url": evilUrl,
      "x-portkey-custom-host": evilUrl,
      "x-luthien-upstream": evilUrl,
      "openai-base-url": evilUrl,
      "anthropic-base-url": evilUrl,
      "x-forwarded-host": evilHost,
      "x-forwarded-proto": "http",
      forwarded: `host=${evilHost}`,
    };
    const fields = { api_base: evilUrl, base_url: evilUrl, baseURL: evilUrl, custom_host: evilUrl, api_key: "sk-attacker-key-000000" };
    await stack.mockControl.reset();
    const calls = [
      postRaw(`${stack.gateway.url}/v1/chat/completions`, openaiBody(false, fields), { headers }),
      postRaw(`${stack.gateway.url}/v1/chat/completions`, openaiBody(true, fields), { headers }),
      postRaw(`${stack.gateway.url}/v1/messages`, anthropicBody(false, fields), { headers }),
      postRaw(`${stack.gateway.url}/v1/messages`, anthropicBody(true, { ...fields, model: "gpt-4o-mini" }), { headers }),
      postRaw(`${stack.gateway.url}/v1/messages/count_tokens`, { model: "claude-mock-sonnet", messages: [], ...fields }, { headers: { ...headers, "anthropic-version": "2023-06-01" } }),
    ];
    for (const res of await Promise.all(calls)) {
      expect(res.status).toBe(200);
      await res.text();
    }
    const seen = await stack.mockControl.requests();
    expect(seen).toHaveLength(calls.length);
    // The body goes to the provider as sent (unknown fields included), but never picks where it goes or with what key.
    for (const r of seen) expect(JSON.stringify(r.headers)).not.toContain("attacker");
    expect(evilConnections).toBe(0);
  });
});

describe("Host and path tricks reach nothing unauthenticated", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ gatewayEnv: { GATEWAY_API_KEYS: GATEWAY_KEY, AUTH_MODE: "client_key" } });
  });
  afterAll(() => stack.stop());

  const tricks: [string, string, Record<string, string>][] = [
    ["GET", "//v1/models", {}],
    ["GET", "//v1/../v1/models", {}],
    ["GET", "/v1/../v1/models", {}],
    ["GET", "/v1/%2e%2e/v1/models", {}],
    ["GET", "/health/../v1/models", {}],
    ["GET", "/health/%2e%2e/v1/models", {}],
    ["GET", "/health/..%2fv1/models", {}],
    ["GET", "/%2e%2e/v1/models", {}],
    ["GET", "/ready/../v1/models", {}],
    ["GET", "/V1/models", {}],
    ["GET", "/v1/models/", {}],
    ["GET", "/v1/models;/health", {}],
    ["GET", "/v1/models?/health", {}],
    ["GET", "/v1/models#/health", {}],
    ["GET", "/health%00/v1/models", {}],
    ["POST", "/v1/chat/completions", { "x-http-method-override": "GET" }],
    ["POST", "/v1/messages", { "x-http-method": "GET", "x-method-override": "GET" }],
    ["POST", "/v1/messages", { host: "localhost:4000/#@evil.example" }],
    ["POST", "/v1/messages", { host: "evil.example" }],
    ["POST", "/v1/chat/completions", { "x-forwarded-for": "127.0.0.1", "x-real-ip": "127.0.0.1", "x-forwarded-host": "localhost", "x-forwarded-proto": "https" }],
    ["POST", "/v1/chat/completions", { "x-original-url": "/health", "x-rewrite-url": "/health" }],
    ["GET", "/v1/models", { "x-original-url": "/health", "x-forwarded-prefix": "/health" }],
  ];

  it.each(tricks)("%s %s %j", async (method, path, headers) => {
    const res = await rawRequest(stack.gateway.port, {
      method,
      path,
      headers: { "content-type": "application/json", "anthropic-version": "2023-06-01", ...headers },
      ...(method === "POST" ? { body: JSON.stringify(anthropicBody()) } : {}),
    });
    expect([400, 401, 404]).toContain(res.status);
    expect(res.body).not.toContain('"status":"ok"');
    expect(await stack.mockControl.requests()).toHaveLength(0);
  });
});

describe("CORS is closed by default", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ gatewayEnv: { GATEWAY_API_KEYS: GATEWAY_KEY } });
  });
  afterAll(() => stack.stop());

  it.each(["/v1/chat/completions", "/v1/messages", "/v1/models", "/health", "/ready"])("a preflight from another origin to %s gets no Access-Control-Allow-*", async (path) => {
    const res = await rawRequest(stack.gateway.port, {
      method: "OPTIONS",
      path,
      headers: { origin: "https://evil.example", "access-control-request-method": "POST", "access-control-request-headers": "authorization, x-api-key, content-type" },
    });
    expect(Object.keys(res.headers).filter((h) => h.startsWith("access-control-"))).toEqual([]);
    expect(res.status).not.toBe(204);
  });

  it("an authenticated call from another origin is refused (403), with no Access-Control-Allow-Origin either", async () => {
    const res = await postRaw(`${stack.gateway.url}/v1/messages`, anthropicBody(), { headers: { origin: "https://evil.example", "x-api-key": GATEWAY_KEY } });
    expect(res.status).toBe(403);
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    expect(res.headers.get("access-control-allow-credentials")).toBeNull();
  });
});

describe("secret redaction (unit)", () => {
  it("replaces every known key, longest first, and per-call extras; ignores values too short to be keys", () => {
    const r = createSecretRedactor(["sk-abcdefgh", "sk-abcdefgh-longer", undefined, "short"]);
    expect(r.redact("a sk-abcdefgh-longer b sk-abcdefgh c short")).toBe("a [REDACTED] b [REDACTED] c short");
    expect(r.redact("own key caller-secret-1", ["caller-secret-1"])).toBe("own key [REDACTED]");
  });

  it("toHttpError redacts every text it returns and maps Node's parser errors to 4xx", () => {
    const err = Object.assign(new Error("boom"), { code: "HPE_HEADER_OVERFLOW" });
    expect(toHttpError(err)).toMatchObject({ status: 431, type: "request_headers_too_large" });
    expect(toHttpError(Object.assign(new Error("x"), { code: "HPE_INVALID_METHOD" }))).toMatchObject({ status: 400 });
    expect(toHttpError(Object.assign(new Error("x"), { code: "ERR_HTTP_REQUEST_TIMEOUT" }))).toMatchObject({ status: 408 });
    const r = createSecretRedactor([SERVER_OPENAI]);
    const provider = OpenAI.APIError.generate(
      401,
      { error: { message: `Incorrect API key provided: ${SERVER_OPENAI}`, type: "invalid_request_error", code: SERVER_OPENAI } },
      undefined,
      new Headers(),
    );
    const http = toHttpError(provider, { redact: (t) => r.redact(t) });
    expect(http).toMatchObject({ status: 401, message: "Incorrect API key provided: [REDACTED]", code: "[REDACTED]", fromProvider: "openai" });
  });
});
