import * as http from "node:http";
import * as net from "node:net";
import * as zlib from "node:zlib";
import fc from "fast-check";
import { recordScenario, startStack, type Stack } from "@luthien/testkit";

/**
 * Property-based fuzzing of both endpoints and some passthrough paths with malformed and hostile bodies and header
 * sets. The mock provider answers 200 to everything it is sent, and the engine is up, so any 5xx is the gateway's
 * fault. Each property runs its requests in concurrent batches (BATCH at a time); shrinking works on batches.
 */

const KEY = "fuzz-gateway-key-0123456789";
const LIMIT = 64 * 1024;
const BATCH = 8;
/** No request may take longer than this, streams read to the end included. */
const MAX_MS = 2000;
/** When the client stops waiting: past MAX_MS a request is slow, past this it hangs. */
const GIVE_UP_MS = 10_000;

/** One request as it goes on the wire. `raw` requests are written byte for byte to a socket. */
interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}
/**
 * `closed`: the connection ended without an answer; `incomplete`: the request itself was (a promised body never
 * came), so the server rightly still waits; `hang`: no answer in GIVE_UP_MS.
 */
type Outcome = { status: number; ms: number; body: string } | { status: "closed" | "incomplete" | "hang"; ms: number };

let stack: Stack;
let agent: http.Agent;
/** Every request tried, by category, and what came back (for the summary line and the failure report). */
const tried = new Map<string, number>();
const statuses = new Map<string, number>();

beforeAll(async () => {
  stack = await startStack({
    policies: "policies:\n  - use: all-caps\n",
    gatewayEnv: { GATEWAY_API_KEYS: KEY, AUTH_MODE: "both", MAX_BODY_BYTES: String(LIMIT) },
    logLevel: "warn",
  });
  agent = new http.Agent({ keepAlive: true, maxSockets: BATCH });
});
afterAll(async () => {
  agent.destroy();
  await stack.stop();
  const total = [...tried.values()].reduce((a, b) => a + b, 0);
  process.stdout.write(`fuzz: ${total} requests; by category ${JSON.stringify(Object.fromEntries(tried))}; statuses ${JSON.stringify(Object.fromEntries(statuses))}\n`);
  const fiveXx = [...statuses].filter(([s]) => Number(s) >= 500).reduce((a, [, n]) => a + n, 0);
  const hangs = statuses.get("hang") ?? 0;
  recordScenario({
    suite: "fuzz",
    scenario: "bad inputs",
    failMode: "closed",
    passed: fiveXx === 0 && hangs === 0 && total > 0,
    badInputs: Object.fromEntries(tried),
    fiveXx,
    note: `${hangs} hangs`,
  });
});

function send(r: FuzzRequest): Promise<Outcome> {
  const started = Date.now();
  return new Promise((resolve) => {
    const req = http.request({ host: "127.0.0.1", port: stack.gateway.port, method: r.method, path: r.path, headers: r.headers, agent }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (d: Buffer) => parts.push(d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, ms: Date.now() - started, body: Buffer.concat(parts).toString("utf8").slice(0, 300) }));
      res.on("error", () => resolve({ status: "closed", ms: Date.now() - started }));
    });
    req.setTimeout(GIVE_UP_MS, () => req.destroy(new Error("hang")));
    req.on("error", (err) => resolve({ status: err.message === "hang" ? "hang" : "closed", ms: Date.now() - started }));
    req.end(r.body);
  });
}

/** Writes bytes to a fresh connection and reads until the server closes it (or answers one response). */
function sendRaw(bytes: Buffer): Promise<Outcome> {
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = net.connect(stack.gateway.port, "127.0.0.1");
    let received = "";
    // A request the server is still waiting to complete (a promised body that never comes) is the client's hang,
    // bounded by the server's request timeout; only an answer that never ends is the gateway's.
    const waiting = setTimeout(() => {
      if (received !== "") return;
      clearTimeout(giveUp);
      resolve({ status: "incomplete", ms: Date.now() - started });
      socket.destroy();
    }, MAX_MS);
    const giveUp = setTimeout(() => {
      socket.destroy();
      resolve({ status: "hang", ms: Date.now() - started });
    }, GIVE_UP_MS);
    const finish = (): void => {
      clearTimeout(waiting);
      clearTimeout(giveUp);
      socket.destroy();
      const m = /^HTTP\/1\.1 (\d{3})/.exec(received);
      resolve(m === null ? { status: "closed", ms: Date.now() - started } : { status: Number(m[1]), ms: Date.now() - started, body: received.slice(0, 300) });
    };
    socket.setEncoding("latin1");
    socket.on("data", (d: string) => {
      received += d;
      // One whole answer is enough: a keep-alive connection would otherwise wait for the next request.
      const head = received.indexOf("\r\n\r\n");
      const length = /\r\ncontent-length: (\d+)/i.exec(received);
      if (head >= 0 && length !== null && received.length >= head + 4 + Number(length[1])) finish();
    });
    socket.on("error", () => undefined);
    socket.on("close", finish);
    socket.write(bytes);
  });
}

function check(category: string, what: unknown, outcome: Outcome): void {
  tried.set(category, (tried.get(category) ?? 0) + 1);
  statuses.set(String(outcome.status), (statuses.get(String(outcome.status)) ?? 0) + 1);
  const problem =
    typeof outcome.status === "number" && outcome.status >= 500
      ? `answered ${outcome.status}: ${outcome.body}`
      : outcome.status === "hang"
        ? `no answer within ${GIVE_UP_MS} ms`
        : outcome.status !== "incomplete" && outcome.ms > MAX_MS
          ? `took ${outcome.ms} ms`
          : undefined;
  if (problem !== undefined) {
    const errors = stack.gateway
      .output()
      .split("\n")
      .filter((l) => / (error|warn) /.test(l))
      .slice(-3)
      .join("\n");
    throw new Error(`${category}: ${problem}\nrequest: ${JSON.stringify(what).slice(0, 2000)}\ngateway: ${errors}`);
  }
}

/**
 * Sends one request; one that is slow is sent a second time, and only a second slow answer counts: a hang
 * comes back every time, a busy machine (other test suites) does not.
 */
async function sendTwiceIfSlow(r: FuzzRequest): Promise<Outcome> {
  const first = await send(r);
  return first.ms > MAX_MS ? send(r) : first;
}

/** {@link sendRaw}, with the same second chance as {@link sendTwiceIfSlow}. */
async function sendRawTwiceIfSlow(bytes: Buffer): Promise<Outcome> {
  const first = await sendRaw(bytes);
  return first.ms > MAX_MS && first.status !== "incomplete" ? sendRaw(bytes) : first;
}

/** Runs `numRuns` batches of BATCH requests each, concurrently within a batch. */
async function fuzz(category: string, arb: fc.Arbitrary<FuzzRequest>, numRuns: number): Promise<void> {
  await fc.assert(
    fc.asyncProperty(fc.array(arb, { minLength: BATCH, maxLength: BATCH }), async (batch) => {
      const outcomes = await Promise.all(batch.map((r) => sendTwiceIfSlow(r)));
      outcomes.forEach((o, i) => check(category, { ...batch[i], body: batch[i]?.body?.toString("latin1") }, o));
    }),
    { numRuns },
  );
}

// ----- building blocks -------------------------------------------------------------------------------------------

const ENDPOINTS = ["/v1/chat/completions", "/v1/messages", "/v1/responses"] as const;
const endpoint = fc.constantFrom(...ENDPOINTS);
const models = fc.constantFrom("gpt-4o-mini", "claude-mock-sonnet", "claude-", "gpt-\u0000", "", "claude-\ud800", "x".repeat(300));
const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const authed = (extra: Record<string, string> = {}): Record<string, string> => ({ "content-type": "application/json", "x-api-key": KEY, ...extra });

/** A request each endpoint accepts, to mutate. */
function validBody(path: string, model: string, stream: boolean): Record<string, unknown> {
  if (path === "/v1/responses") return { model, stream, input: [{ role: "user", content: "hi" }] };
  const base = { model, stream, messages: [{ role: "user", content: "hi" }] };
  return path === "/v1/messages" ? { ...base, max_tokens: 16 } : base;
}

/** Awkward JSON values: wrong types for any field. */
const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1e308, -0, 0.5, "", "0", "true", [], {}, [null], [[]], [{}], { type: null }, { role: "user" }),
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 20 }),
  fc.jsonValue({ maxDepth: 3 }),
);

/** Message-like values: mostly almost right, some wrong. */
const message = fc.oneof(
  fc.record({ role: fc.constantFrom("user", "assistant", "system", "tool", "developer", "function", "", "USER"), content: oddValue }),
  fc.record({
    role: fc.constantFrom("user", "assistant"),
    content: fc.array(
      fc.oneof(
        fc.record({ type: fc.constantFrom("text", "image", "image_url", "tool_use", "tool_result", "thinking", "document", "input_audio", "file", "x"), text: oddValue }),
        fc.record({ type: fc.constantFrom("tool_use", "tool_result"), id: oddValue, name: oddValue, input: oddValue, tool_use_id: oddValue, content: oddValue }),
        fc.record({ type: fc.constant("image_url"), image_url: oddValue }),
        fc.record({ type: fc.constant("image"), source: oddValue }),
        oddValue,
      ),
      { maxLength: 4 },
    ),
  }),
  fc.record({ role: fc.constant("assistant"), content: oddValue, tool_calls: fc.array(fc.record({ id: oddValue, type: oddValue, function: oddValue }), { maxLength: 3 }) }),
  oddValue,
);

const FIELDS = [
  "model",
  "messages",
  "max_tokens",
  "max_completion_tokens",
  "stream",
  "stream_options",
  "tools",
  "tool_choice",
  "system",
  "temperature",
  "top_p",
  "stop",
  "stop_sequences",
  "n",
  "metadata",
  "thinking",
  "response_format",
  "user",
  "reasoning_effort",
  "parallel_tool_calls",
  "functions",
  "logit_bias",
  "output_config",
] as const;

// ----- the properties -------------------------------------------------------------------------------------------

describe("fuzzing the gateway: no 5xx, no crash, no hang", () => {
  jest.setTimeout(180_000);

  it("invalid JSON and JSON that is not an object", async () => {
    const body = fc.oneof(
      fc.string({ maxLength: 200 }).map((s) => Buffer.from(s)),
      fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
      fc
        .jsonValue()
        .filter((v) => typeof v !== "object" || v === null || Array.isArray(v))
        .map(json),
      fc.tuple(endpoint, fc.nat()).map(([p, n]) => {
        const text = JSON.stringify(validBody(p, "gpt-4o-mini", false));
        return Buffer.from(text.slice(0, n % text.length));
      }),
      fc.constantFrom("", "{", "}", "[", '{"model":}', "{'model': 'x'}", '{"a":1,}', "NaN", "1e400", "\ufeff{}", '{"model":"x"}{}', "null", '""').map((s) => Buffer.from(s)),
    );
    await fuzz("invalid-json", fc.record({ method: fc.constant("POST"), path: endpoint, headers: fc.constant(authed()), body }), 30);
  });

  it("wrong types for model, messages, max_tokens, stream, tools and every other field", async () => {
    const request = fc
      .tuple(endpoint, models, fc.boolean(), fc.dictionary(fc.constantFrom(...FIELDS), oddValue, { maxKeys: 4 }), fc.array(message, { maxLength: 4 }), fc.boolean())
      .map(([path, model, stream, overrides, messages, replaceMessages]) => {
        const body = { ...validBody(path, model, stream), ...(replaceMessages ? { messages } : {}), ...overrides };
        return { method: "POST", path, headers: authed(), body: json(body) };
      });
    await fuzz("wrong-types", request, 55);
  });

  it("deep nesting", async () => {
    const request = fc
      .tuple(endpoint, fc.integer({ min: 50, max: 10000 }), fc.constantFrom("array", "object"), fc.constantFrom("messages", "content", "metadata", "tools", "extra"), fc.boolean())
      .map(([path, depth, kind, where, stream]) => {
        const open = kind === "array" ? "[" : '{"a":';
        const close = kind === "array" ? "]" : "}";
        const deep = open.repeat(depth) + "1" + close.repeat(depth);
        const base = JSON.stringify(validBody(path, "claude-mock-sonnet", stream));
        const text =
          where === "messages"
            ? base.replace(/"messages":\[.*?\]\}?\]/, `"messages":${deep}`)
            : where === "content"
              ? base.replace('"content":"hi"', `"content":${deep}`)
              : base.replace(/^\{/, `{"${where}":${deep},`);
        return { method: "POST", path, headers: authed(), body: Buffer.from(text) };
      });
    await fuzz("deep-nesting", request, 15);
  });

  it("huge strings near the body limit", async () => {
    const request = fc
      .tuple(endpoint, fc.integer({ min: -300, max: 300 }), fc.constantFrom("a", "é", "😀", "\\u0000", "\\\\"), fc.boolean(), fc.boolean())
      .map(([path, delta, unit, stream, declared]) => {
        const base = JSON.stringify(validBody(path, "gpt-4o-mini", stream));
        const room = LIMIT + delta - Buffer.byteLength(base) - 20;
        const filler = unit.repeat(Math.max(0, Math.floor(room / Buffer.byteLength(unit))));
        const body = Buffer.from(base.replace('"content":"hi"', `"content":"${filler}"`));
        // Without a declared length the body arrives chunked and the limit applies while reading.
        return { method: "POST", path, headers: authed(declared ? {} : { "transfer-encoding": "chunked" }), body };
      });
    await fuzz("huge-strings", request, 12);
  });

  it("unicode: lone surrogates, NUL, invalid UTF-8, BOM, odd escapes", async () => {
    const nasty = fc.oneof(
      fc.string({ unit: "binary", maxLength: 30 }),
      fc.constantFrom("\ud800", "\udfff", "\udc00\ud800", "\u0000", "\u2028\u2029", "\ufeff", "\uffff", "\u{10ffff}", "e\u0301", "\u202e"),
    );
    const request = fc.tuple(endpoint, nasty, nasty, fc.boolean(), fc.constantFrom("escaped", "raw", "invalid-utf8", "bom")).map(([path, a, b, stream, how]) => {
      const body = { ...validBody(path, `gpt-${a}`, stream), messages: [{ role: "user", content: b }], metadata: { [a]: b } };
      let bytes: Buffer;
      if (how === "escaped") bytes = json(body);
      else if (how === "raw")
        bytes = Buffer.from(
          JSON.stringify(body).replace(/\\u([0-9a-f]{4})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))),
          "utf8",
        );
      else if (how === "bom") bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), json(body)]);
      else {
        const text = JSON.stringify(body);
        const at = text.indexOf('"hi"') >= 0 ? text.indexOf('"hi"') : text.indexOf('"content":"') + 11;
        bytes = Buffer.concat([Buffer.from(text.slice(0, at)), Buffer.from([0xff, 0xfe, 0xc0, 0x80, 0xed, 0xa0, 0x80]), Buffer.from(text.slice(at))]);
      }
      return { method: "POST", path, headers: authed(), body: bytes };
    });
    await fuzz("unicode", request, 30);
  });

  it("duplicate keys", async () => {
    const request = fc
      .tuple(endpoint, fc.array(fc.tuple(fc.constantFrom("model", "stream", "messages", "max_tokens", "tools", "system"), oddValue), { minLength: 1, maxLength: 5 }), fc.boolean())
      .map(([path, dups, first]) => {
        const base = JSON.stringify(validBody(path, "claude-mock-sonnet", false)).slice(1, -1);
        const extra = dups.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? "null"}`).join(",");
        return { method: "POST", path, headers: authed(), body: Buffer.from(first ? `{${extra},${base}}` : `{${base},${extra}}`) };
      });
    await fuzz("duplicate-keys", request, 20);
  });

  it("odd content types and encodings", async () => {
    const contentType = fc.constantFrom(
      undefined,
      "application/json",
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/json; charset=utf-16",
      "application/json; charset=latin1",
      "application/json; charset=bogus",
      "application/json; charset=",
      "application/octet-stream",
      "*/*",
      ";;;",
      "application/json; charset=utf-8; charset=utf-16",
    );
    const encoding = fc.constantFrom(undefined, "gzip", "deflate", "br", "identity", "gzip, gzip", "compress", "x-unknown", "GZIP", "");
    const request = fc.tuple(endpoint, contentType, encoding, fc.constantFrom("plain", "gzipped", "truncated-gzip", "deflated"), fc.boolean()).map(([path, ct, enc, how, stream]) => {
      const plain = json(validBody(path, "gpt-4o-mini", stream));
      const body = how === "gzipped" ? zlib.gzipSync(plain) : how === "truncated-gzip" ? zlib.gzipSync(plain).subarray(0, 20) : how === "deflated" ? zlib.deflateSync(plain) : plain;
      const headers: Record<string, string> = { "x-api-key": KEY };
      if (ct !== undefined) headers["content-type"] = ct;
      if (enc !== undefined) headers["content-encoding"] = enc;
      return { method: "POST", path, headers, body };
    });
    await fuzz("content-types", request, 30);
  });

  it("odd auth headers", async () => {
    const latin1 = fc.string({
      unit: fc
        .integer({ min: 0x20, max: 0xff })
        .filter((c) => c !== 0x7f)
        .map((c) => String.fromCharCode(c)),
      maxLength: 40,
    });
    const value = fc.oneof(latin1, fc.constantFrom("", " ", KEY, `${KEY} `, ` ${KEY}`, KEY.toUpperCase(), "k".repeat(4000), "Bearer", "null", "undefined"));
    const auth = fc.oneof(
      value.map((v) => ({ authorization: v })),
      value.map((v) => ({ authorization: `Bearer ${v}` })),
      value.map((v) => ({ authorization: `bEaReR\t${v}` })),
      value.map((v) => ({ authorization: `Basic ${Buffer.from(v, "latin1").toString("base64")}` })),
      value.map((v) => ({ "x-api-key": v })),
      fc.tuple(value, value).map(([a, b]) => ({ authorization: `Bearer ${a}`, "x-api-key": b })),
      fc.constant({}),
    );
    const request = fc.tuple(endpoint, auth, fc.boolean(), fc.constantFrom("gpt-4o-mini", "claude-mock-sonnet")).map(([path, headers, stream, model]) => ({
      method: "POST",
      path,
      headers: { "content-type": "application/json", "anthropic-version": "2023-06-01", ...headers },
      body: json(validBody(path, model, stream)),
    }));
    await fuzz("auth-headers", request, 30);
  });

  it("hostile headers on both endpoints", async () => {
    const name = fc.constantFrom(
      "anthropic-version",
      "anthropic-beta",
      "user-agent",
      "x-session-id",
      "x-request-id",
      "openai-organization",
      "openai-project",
      "x-app",
      "accept",
      "accept-encoding",
      "connection",
      "expect",
      "te",
      "upgrade",
      "x-http-method-override",
      "x-forwarded-for",
      "x-forwarded-host",
      "host",
      "range",
      "if-none-match",
      "origin",
      "cookie",
      "x-mock-script",
      "x-luthien-chain",
      "content-language",
    );
    const value = fc.oneof(
      fc.string({
        unit: fc
          .integer({ min: 0x20, max: 0xff })
          .filter((c) => c !== 0x7f)
          .map((c) => String.fromCharCode(c)),
        maxLength: 60,
      }),
      fc.constantFrom("", "\t", "100-continue", "h2c", "websocket", "trailers", "close", "bytes=0-1", "*", '{"error":{"status":500}}', "2023-06-01,2023-06-01"),
    );
    const request = fc
      .tuple(endpoint, fc.dictionary(name, value, { maxKeys: 5 }), fc.boolean(), fc.constantFrom("gpt-4o-mini", "claude-mock-sonnet"))
      .map(([path, headers, stream, model]) => ({ method: "POST", path, headers: { ...headers, ...authed() }, body: json(validBody(path, model, stream)) }));
    await fuzz("hostile-headers", request, 30);
  });

  it("passthrough paths, methods and bodies", async () => {
    const segment = fc.oneof(
      fc.constantFrom("models", "messages", "count_tokens", "files", "batches", "..", ".", "%2e%2e", "%2F", "%00", "%ZZ", "%", "a%2fb", "~", "@", "embeddings", ""),
      fc.string({ unit: "grapheme-ascii", maxLength: 12 }).map((s) => encodeURIComponent(s)),
    );
    const request = fc
      .tuple(
        fc.array(segment, { minLength: 1, maxLength: 4 }),
        fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"),
        fc.option(
          fc.oneof(
            fc.uint8Array({ maxLength: 100 }).map((a) => Buffer.from(a)),
            fc.jsonValue({ maxDepth: 3 }).map(json),
          ),
          { nil: undefined },
        ),
        fc.boolean(),
        fc.option(
          fc.string({ unit: "grapheme-ascii", maxLength: 20 }).map((s) => `?${encodeURIComponent(s)}=1&a=%ZZ`),
          { nil: undefined },
        ),
      )
      .map(([segments, method, body, anthropic, query]) => {
        const path = `/v1/${segments.join("/")}`;
        // Only a request that named a decided endpoint as it is may reach it (through its policies).
        const canonical = path.toLowerCase().replace(/\/$/, "");
        if (method === "POST" && DECIDED.includes(canonical)) named.add(canonical);
        return {
          method,
          path: path + (query ?? ""),
          headers: authed(anthropic ? { "anthropic-version": "2023-06-01" } : {}),
          ...(body !== undefined && method !== "GET" && method !== "HEAD" ? { body } : {}),
        };
      });
    const DECIDED = ["/v1/chat/completions", "/v1/messages", "/v1/responses", "/v1/messages/count_tokens"];
    const named = new Set<string>();
    await stack.mockControl.reset();
    await fuzz("passthrough", request, 25);
    // The property: no disguised path reached a decided endpoint at the provider unchecked.
    const reached = (await stack.mockControl.requests()).map((r) => r.path.split("?")[0] ?? "");
    for (const p of reached) {
      expect(p.startsWith("/v1/models") || named.has(p.toLowerCase())).toBe(true);
    }
  });

  it("raw bytes on the socket: broken request lines, header injection, lying lengths", async () => {
    const raw = fc
      .tuple(
        fc.constantFrom(
          "POST /v1/chat/completions",
          "POST /v1/messages",
          "GET /v1/models",
          "POST  /v1/messages",
          "POST /v1/messages?x=%",
          "GARBAGE",
          "POST http://evil/v1/messages",
          "POST /v1/messages HTTP/1.1 extra",
        ),
        fc.constantFrom("HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.1\r\n", "http/1.1", ""),
        fc.array(
          fc.constantFrom(
            "Host: x",
            "Content-Length: 5",
            "Content-Length: -1",
            "Content-Length: 99999999999",
            "Content-Length: 5, 6",
            "Transfer-Encoding: chunked",
            "Transfer-Encoding: chunked, identity",
            "Transfer-Encoding: gzip",
            "X-Api-Key: " + KEY,
            "Content-Type: application/json",
            "Bad Header",
            ": no-name",
            "X-A: b\rc",
            "X-B:\u0000",
            "Expect: 100-continue",
            "Connection: upgrade",
            "Upgrade: websocket",
            "X-Long: " + "a".repeat(3000),
          ),
          { maxLength: 6 },
        ),
        fc.oneof(fc.constantFrom("", "{}", "0\r\n\r\n", "5\r\nhello\r\n0\r\n\r\n", "zz\r\n", '{"model":"gpt-4o-mini","messages":[]}'), fc.string({ maxLength: 50 })),
      )
      .map(([line, version, headers, body]) => Buffer.from(`${line} ${version}\r\n${headers.join("\r\n")}\r\n\r\n${body}`, "latin1"));
    await fc.assert(
      fc.asyncProperty(fc.array(raw, { minLength: BATCH, maxLength: BATCH }), async (batch) => {
        const outcomes = await Promise.all(batch.map((b) => sendRawTwiceIfSlow(b)));
        outcomes.forEach((o, i) => check("raw", batch[i]?.toString("latin1"), o));
      }),
      { numRuns: 20 },
    );
  });

  it("leaves the gateway alive, healthy and serving, with no internal error logged", async () => {
    const total = [...tried.values()].reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThanOrEqual(2000);
    expect(stack.gateway.process.exitCode).toBeNull();
    expect(stack.gateway.process.signalCode).toBeNull();
    expect((await fetch(`${stack.gateway.url}/health`)).status).toBe(200);
    expect((await fetch(`${stack.gateway.url}/ready`)).status).toBe(200);
    const res = await fetch(`${stack.gateway.url}/v1/chat/completions`, { method: "POST", headers: authed(), body: JSON.stringify(validBody("/v1/chat/completions", "gpt-4o-mini", false)) });
    expect(res.status).toBe(200);
    expect(stack.gateway.output()).not.toMatch(/ error request failed|Uncaught|FATAL/);
  });
});
