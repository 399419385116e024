import * as http from "node:http";
import { startStack, type Stack } from "@luthien/testkit";

/**
 * Under load the engine's answers outrun the gRPC stream: writes report backpressure and wait for `drain`. Hundreds
 * of calls share a gateway's few multiplexed streams, so one stream can have hundreds of blocked writes at once —
 * each adding its own `drain` listener made Node print MaxListenersExceededWarning (a leak warning, and a real
 * pile-up of listeners) into the engine's log.
 */

const CALLS = 500;
const CHUNKS = 40;

let stack: Stack;
let agent: http.Agent;

beforeAll(async () => {
  stack = await startStack({
    // FULL mode: every stream chunk gets an answer from the engine.
    policies: "policies:\n  - use: all-caps\n",
    mockEnv: { MOCK_LLM_DEFAULT_SCRIPT: JSON.stringify({ chunks: Array.from({ length: CHUNKS }, (_, i) => `chunk ${i} ${"x".repeat(200)} `) }) },
    logLevel: "warn",
  });
  agent = new http.Agent({ keepAlive: true, maxSockets: CALLS });
}, 60_000);

afterAll(async () => {
  agent.destroy();
  await stack.stop();
});

/** One streamed Chat Completions call, read to the end; resolves with the status and the body. */
function streamCall(i: number): Promise<{ status: number; body: string }> {
  const body = JSON.stringify({ model: "gpt-4o-mini", stream: true, messages: [{ role: "user", content: `call ${i}` }] });
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: stack.gateway.port, method: "POST", path: "/v1/chat/completions", agent, headers: { "content-type": "application/json" } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("engine backpressure", () => {
  it(`${CALLS} concurrent streamed calls through one gateway leave no MaxListenersExceededWarning in the engine's output`, async () => {
    const results = await Promise.all(Array.from({ length: CALLS }, (_, i) => streamCall(i)));
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
    // Every stream went through the policy (all-caps) and ended cleanly.
    for (const r of results) {
      expect(r.body).toContain("CHUNK 39");
      expect(r.body.trimEnd().endsWith("data: [DONE]")).toBe(true);
    }
    const engine = stack.engine?.output() ?? "";
    expect(engine).not.toContain("MaxListenersExceededWarning");
    expect(engine).not.toMatch(/memory leak/i);
  }, 120_000);
});
