import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { seededRandom, startStack, type Stack } from "@luthien/testkit";
import { decodeSseEvents, type SseMessage } from "@luthien/wire";
import { postRaw } from "./sse";

/**
 * A stream no policy reads (SKIP) reaches the client as the provider sent it, byte for byte: whatever its line ends,
 * spacing after the colons, comment lines, pings, or data split over several lines. The provider's events are the
 * mock provider's own, re-framed in generated ways by a provider of the test's that serves exactly those bytes.
 */

interface Route {
  name: string;
  path: string;
  body: object;
}
const ROUTES: Route[] = [
  {
    name: "Chat Completions",
    path: "/v1/chat/completions",
    body: { model: "gpt-4o-mini", stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: "hi there" }] },
  },
  { name: "Anthropic Messages", path: "/v1/messages", body: { model: "claude-sonnet-4-6", max_tokens: 50, stream: true, messages: [{ role: "user", content: "hi there" }] } },
  { name: "Responses", path: "/v1/responses", body: { model: "gpt-4o-mini", stream: true, input: "hi there" } },
];

/** One way of framing events, as SSE allows. */
function frameAll(events: SseMessage[], rnd: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const eol = pick(["\n", "\r\n", "\r"]);
  let out = "";
  for (const e of events) {
    if (rnd() < 0.3) out += `: keepalive ${Math.floor(rnd() * 1000)}${eol}`;
    if (rnd() < 0.15) out += eol;
    const space = rnd() < 0.5 ? " " : "";
    if (e.event !== undefined) out += `event:${space}${e.event}${eol}`;
    // A JSON payload may be split at a comma: the data lines join with "\n", which JSON reads as whitespace.
    const comma = e.data.indexOf(",");
    const lines = comma > 0 && rnd() < 0.3 ? [e.data.slice(0, comma + 1), e.data.slice(comma + 1)] : [e.data];
    for (const line of lines) out += `data:${space}${line}${eol}`;
    out += eol;
  }
  return out;
}

async function collect(res: Response): Promise<SseMessage[]> {
  const out: SseMessage[] = [];
  for await (const e of decodeSseEvents(res.body as unknown as AsyncIterable<Uint8Array>)) out.push(e);
  return out;
}

describe("SKIP streams reach the client byte for byte", () => {
  let mock: Stack;
  let stack: Stack;
  let server: Server;
  /** What the test's provider answers next, per path. */
  const serving = new Map<string, string>();
  beforeAll(async () => {
    mock = await startStack();
    server = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        const body = serving.get(req.url ?? "");
        if (body === undefined) {
          res.writeHead(404).end();
          return;
        }
        res.writeHead(200, { "content-type": "text/event-stream" });
        // In small pieces, so frames straddle reads.
        for (let i = 0; i < body.length; i += 7) res.write(body.slice(i, i + 7));
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    stack = await startStack({ gatewayEnv: { OPENAI_UPSTREAM_URL: `${url}/v1`, ANTHROPIC_UPSTREAM_URL: url } });
  }, 60_000);
  afterAll(async () => {
    await Promise.all([stack?.stop(), mock?.stop()]);
    await new Promise<void>((resolve) => server?.close(() => resolve()));
  });

  for (const route of ROUTES) {
    it(`${route.name}: 30 framings of the provider's events`, async () => {
      const events = await collect(await postRaw(`${mock.mock.url}${route.path}`, route.body));
      expect(events.length).toBeGreaterThan(3);
      const rnd = seededRandom(route.path.length);
      for (let i = 0; i < 30; i++) {
        const bytes = frameAll(events, rnd);
        serving.set(route.path, bytes);
        const res = await postRaw(`${stack.gateway.url}${route.path}`, route.body);
        expect(res.status).toBe(200);
        expect(res.headers.get("x-luthien-policy-bypassed")).toBeNull();
        const got = await res.text();
        // A stream without OpenAI's terminator gets one; everything before it is the provider's.
        const tail = route.path === "/v1/chat/completions" && !events.some((e) => e.data === "[DONE]") ? "data: [DONE]\n\n" : "";
        expect(got).toBe(bytes + tail);
      }
    });
  }

  it("a provider answer that cannot be read is a 502 in the client's format, never passed on as an answer", async () => {
    serving.set("/v1/chat/completions", "this is not JSON");
    const whole = await postRaw(`${stack.gateway.url}/v1/chat/completions`, { ...ROUTES[0]?.body, stream: false });
    expect(whole.status).toBe(502);
    expect(await whole.json()).toMatchObject({ error: { type: "upstream_invalid_response" } });
    serving.set("/v1/chat/completions", 'data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[]}\n\ndata: {not json\n\n');
    const streamed = await postRaw(`${stack.gateway.url}/v1/chat/completions`, ROUTES[0]?.body);
    const text = await streamed.text();
    expect(text).toContain("upstream_invalid_response");
    expect(text).not.toContain("{not json");
    expect(text).not.toContain("[DONE]");
  });
});
