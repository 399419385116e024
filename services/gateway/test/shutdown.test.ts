import { startStack, waitFor } from "@luthien/testkit";
import { postRaw, readEvents } from "./sse";

const streaming = { model: "gpt-4o-mini", stream: true, messages: [{ role: "user" as const, content: "hi" }] };

describe("gateway SIGTERM", () => {
  it("lets a stream in flight finish, then exits", async () => {
    const stack = await startStack({ gatewayEnv: { GATEWAY_SHUTDOWN_GRACE_MS: "10000" } });
    try {
      await stack.mockControl.script({ chunks: Array.from({ length: 10 }, (_, i) => `w${i} `), chunkDelayMs: 100 });
      const res = await postRaw(`${stack.gateway.url}/v1/chat/completions`, streaming);
      const exited = new Promise<number | null>((resolve) => stack.gateway.process.once("exit", (code) => resolve(code)));
      stack.gateway.signal("SIGTERM");
      const { events } = await readEvents(res);
      expect(events.at(-1)?.data).toBe("[DONE]");
      expect(await exited).toBe(0);
    } finally {
      await stack.stop();
    }
  });

  it("cuts what is still open after GATEWAY_SHUTDOWN_GRACE_MS, cancelling the provider call", async () => {
    const stack = await startStack({ gatewayEnv: { GATEWAY_SHUTDOWN_GRACE_MS: "500" } });
    try {
      await stack.mockControl.script({ chunks: ["a ", "b "], hangAfter: 1 });
      const res = await postRaw(`${stack.gateway.url}/v1/chat/completions`, streaming);
      const exited = new Promise<number | null>((resolve) => stack.gateway.process.once("exit", (code) => resolve(code)));
      const sent = Date.now();
      stack.gateway.signal("SIGTERM");
      // The cut connection ends the body with an error or a bare end; either way no clean end came.
      const seen: string[] = [];
      await readEvents(res, (e) => void seen.push(e.data)).catch(() => undefined);
      expect(seen.length).toBeGreaterThan(0);
      expect(seen).not.toContain("[DONE]");
      expect(await exited).toBe(0);
      expect(Date.now() - sent).toBeLessThan(5000);
      expect(stack.gateway.output()).toMatch(/shutdown grace period over/);
      await waitFor(async () => (await stack.mockControl.requests())[0]?.clientClosed === true, { what: "the provider call to be cancelled" });
    } finally {
      await stack.stop();
    }
  });
});
