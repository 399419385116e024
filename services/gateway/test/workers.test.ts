import { execFileSync } from "node:child_process";
import { freePort, startStack, waitFor } from "@luthien/testkit";

const children = (pid: number): number[] => {
  try {
    return execFileSync("pgrep", ["-P", String(pid)], { encoding: "utf8" })
      .trim()
      .split("\n")
      .filter((l) => l !== "")
      .map(Number);
  } catch {
    return [];
  }
};
const call = (url: string): Promise<number> =>
  fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    // A connection per call, so the primary hands calls to both workers.
    headers: { "content-type": "application/json", connection: "close" },
    body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }),
  }).then((r) => r.status);

describe("GATEWAY_WORKERS", () => {
  it("serves one port from several processes, replaces a worker that dies, and drains all on SIGTERM", async () => {
    const metricsPort = await freePort();
    const stack = await startStack({ gatewayEnv: { GATEWAY_WORKERS: "2", GATEWAY_METRICS_PORT: String(metricsPort) } });
    try {
      const pid = stack.gateway.process.pid as number;
      const workers = await waitFor(() => (children(pid).length === 2 ? children(pid) : undefined), { what: "two workers" });
      expect(await Promise.all(Array.from({ length: 20 }, () => call(stack.gateway.url)))).toEqual(Array(20).fill(200));

      // The primary sums what every worker counted: all 20 calls, whichever worker served them.
      const served = async (): Promise<number> => {
        const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
        return Number(/^luthien_gateway_http_requests_total\{[^}]*route="\/v1\/chat\/completions"[^}]*status="200"[^}]*\} (\d+)/m.exec(text)?.[1] ?? 0);
      };
      await waitFor(async () => (await served()) === 20, { what: "20 calls in the summed metrics" });

      process.kill(workers[0] as number, "SIGKILL");
      await waitFor(() => children(pid).length === 2 && !children(pid).includes(workers[0] as number), { timeoutMs: 10000, what: "a replacement worker" });
      await waitFor(() => (stack.gateway.output().match(/listening port=/g) ?? []).length >= 3, { timeoutMs: 10000, what: "the replacement listening" });
      expect(await Promise.all(Array.from({ length: 10 }, () => call(stack.gateway.url)))).toEqual(Array(10).fill(200));
      expect(stack.gateway.output()).toMatch(/gateway worker exited; starting another/);
    } finally {
      await stack.stop();
    }
    expect(stack.gateway.process.exitCode).toBe(0);
  });
});
