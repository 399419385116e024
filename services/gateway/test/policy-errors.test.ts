import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { startStack, type Stack } from "@luthien/testkit";
import { postRaw, readEvents } from "./sse";

/**
 * A policy that throws decided nothing — and a client or provider can craft the input that makes it throw. So a
 * policy error fails the call closed even in a pool that fails open (which serves through engine outages only):
 * no bypass header, nothing unapproved reaches the provider or the client.
 */
const dir = mkdtempSync(path.join(tmpdir(), "luthien-throwing-policy-"));
const POLICY = path.join(dir, "throws.js");
writeFileSync(
  POLICY,
  `module.exports = () => ({
    name: "throws",
    mode: "FULL",
    onRequest(request) {
      if (JSON.stringify(request.body).includes("BOOM-REQUEST")) throw new Error("cannot read this request");
      return request;
    },
    onEvent(event) {
      if (JSON.stringify(event).includes("boom")) throw new Error("cannot read this event");
      return [event];
    },
  });\n`,
);

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ policies: `policies:\n  - use: ${POLICY}\n`, gatewayEnv: { POLICY_FAILURE_MODE: "open" } });
});
afterAll(() => stack.stop());
beforeEach(() => stack.mockControl.reset());

const body = (content: string, stream: boolean) => ({ model: "gpt-4o-mini", stream, messages: [{ role: "user", content }] });

describe("a policy that throws, in a pool that fails open", () => {
  it.each([false, true])("on the request (stream %s): 502 policy_failed, the provider never called", async (stream) => {
    const res = await postRaw(`${stack.gateway.url}/v1/chat/completions`, body("BOOM-REQUEST", stream));
    expect(res.status).toBe(502);
    expect(res.headers.get("x-luthien-policy-bypassed")).toBeNull();
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe("policy_failed");
    expect(await stack.mockControl.requests()).toEqual([]);
  });

  it("mid-stream: the stream ends with an error event; nothing after the failing event reaches the client", async () => {
    await stack.mockControl.script({ chunks: ["fine ", "then boom ", "secret tail"] });
    const res = await postRaw(`${stack.gateway.url}/v1/chat/completions`, body("go", true));
    expect(res.headers.get("x-luthien-policy-bypassed")).toBeNull();
    const { events } = await readEvents(res);
    const text = events.map((e) => e.data).join("\n");
    expect(text).not.toContain("boom");
    expect(text).not.toContain("secret tail");
    expect(events.at(-1)?.data).toMatch(/policy_failed/);
  });
});
