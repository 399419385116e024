import * as http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { waitFor } from "@luthien/testkit";
import { createMockLlm } from "../src/index";
import { silent } from "./support";

describe("mock-llm streaming", () => {
  it("waits for drain instead of buffering a stream the client does not read", async () => {
    const mock = createMockLlm({ logger: silent });
    // Our own http server around the app, so the test can look at the server side of the socket.
    const server = http.createServer(mock.app);
    const sockets: Socket[] = [];
    server.on("connection", (s) => sockets.push(s));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;

    const piece = "x".repeat(64 * 1024);
    const chunks = Array.from({ length: 300 }, () => piece); // ~19 MB of text
    mock.enqueue({ chunks });
    try {
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        const req = http.request({ port, host: "127.0.0.1", method: "POST", path: "/v1/chat/completions" }, resolve);
        req.on("error", reject);
        req.end(JSON.stringify({ model: "m", stream: true }));
      });
      res.pause();
      expect(res.statusCode).toBe(200);
      await new Promise((r) => setTimeout(r, 300));
      const buffered = sockets.reduce((n, s) => n + s.writableLength, 0);
      // Without backpressure the whole answer would sit in the socket's user-space buffer.
      expect(buffered).toBeLessThan(2 * 1024 * 1024);
      expect(mock.requests()[0]?.finished).toBe(false);

      let received = 0;
      res.setEncoding("utf8");
      res.on("data", (d: string) => (received += d.length));
      res.resume();
      await new Promise((resolve) => res.on("end", resolve));
      expect(received).toBeGreaterThan(chunks.length * piece.length);
      await waitFor(() => mock.requests()[0]?.finished === true, { what: "finished" });
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("stops a slow stream as soon as the client leaves, and close() ends hung streams", async () => {
    const mock = createMockLlm({ logger: silent });
    const running = await mock.listen(0);
    const url = `http://127.0.0.1:${running.port}/v1/messages`;
    try {
      const controller = new AbortController();
      const res = await fetch(url, {
        method: "POST",
        headers: { "x-mock-script": JSON.stringify({ chunks: ["a", "b", "c", "d"], chunkDelayMs: 200 }) },
        body: JSON.stringify({ model: "m", stream: true }),
        signal: controller.signal,
      });
      const reader = res.body?.getReader();
      await reader?.read();
      controller.abort();
      const record = await waitFor(() => mock.requests().find((r) => r.clientClosed), { timeoutMs: 1000, what: "clientClosed" });
      expect(record.finished).toBe(false);

      const hung = await fetch(url, {
        method: "POST",
        headers: { "x-mock-script": JSON.stringify({ hangAfter: 0 }) },
        body: JSON.stringify({ model: "m", stream: true }),
      });
      const body = hung.text().catch((e: unknown) => e);
      await running.close();
      expect(await body).toMatchObject({ name: "TypeError" });
    } finally {
      await running.close().catch(() => undefined);
    }
  });
});
