import * as net from "node:net";
import { startFaultProxy, type FaultProxy } from "../src";

/** An echo server as the proxy's target, and a client helper that collects what comes back. */
let echo: net.Server;
let echoPort: number;
let proxy: FaultProxy;
const clients: net.Socket[] = [];

beforeAll(async () => {
  echo = net.createServer((s) => {
    s.on("error", () => undefined);
    s.pipe(s);
  });
  echoPort = await new Promise<number>((resolve) => echo.listen(0, "127.0.0.1", () => resolve((echo.address() as net.AddressInfo).port)));
});
beforeEach(async () => {
  proxy = await startFaultProxy({ target: `127.0.0.1:${echoPort}` });
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await proxy.stop();
});
afterAll(() => new Promise<void>((r) => echo.close(() => r())));

interface Client {
  socket: net.Socket;
  text(): string;
  /** Resolves with how the connection ended: "reset" (ECONNRESET), "end" (FIN) or "open" after `ms`. */
  ending(ms: number): Promise<"reset" | "end" | "open">;
  /** Resolves with the time until `expected` has come back, or undefined after `ms`. */
  echoed(expected: string, ms: number): Promise<number | undefined>;
}

async function connect(): Promise<Client> {
  const socket = net.connect(proxy.port, "127.0.0.1");
  clients.push(socket);
  await new Promise<void>((r) => socket.once("connect", () => r()));
  let got = "";
  let ended: "reset" | "end" | undefined;
  socket.setEncoding("utf8").on("data", (d: string) => (got += d));
  socket.on("error", (e: NodeJS.ErrnoException) => (ended ??= e.code === "ECONNRESET" ? "reset" : "end"));
  socket.on("end", () => (ended ??= "end"));
  const poll = async <T>(f: () => T | undefined, ms: number): Promise<T | undefined> => {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      const v = f();
      if (v !== undefined) return v;
      await new Promise((r) => setTimeout(r, 5));
    }
    return f();
  };
  return {
    socket,
    text: () => got,
    ending: async (ms) => (await poll(() => ended, ms)) ?? "open",
    echoed: (expected, ms) => {
      const from = Date.now();
      return poll(() => (got.includes(expected) ? Date.now() - from : undefined), ms);
    },
  };
}

describe("fault proxy", () => {
  it("passes bytes both ways", async () => {
    const c = await connect();
    c.socket.write("hello");
    expect(await c.echoed("hello", 2000)).toBeDefined();
    expect(proxy.connections).toBe(1);
  });

  it("adds latency in each direction, order kept, and can go back to pass", async () => {
    const c = await connect();
    proxy.mode("latency", { latencyMs: 150 });
    c.socket.write("a");
    c.socket.write("b");
    const took = await c.echoed("ab", 3000);
    expect(took).toBeGreaterThanOrEqual(280);
    proxy.mode("pass");
    c.socket.write("c");
    expect(await c.echoed("abc", 100)).toBeDefined();
  });

  it("black hole: silence while it lasts, on existing and new connections; the held bytes flow when it ends", async () => {
    const before = await connect();
    proxy.mode("blackhole");
    const after = await connect();
    before.socket.write("one");
    after.socket.write("two");
    expect(await before.echoed("one", 300)).toBeUndefined();
    expect(await after.echoed("two", 10)).toBeUndefined();
    expect(await before.ending(10)).toBe("open");
    proxy.mode("pass");
    expect(await before.echoed("one", 2000)).toBeDefined();
    expect(await after.echoed("two", 2000)).toBeDefined();
  });

  it("reset: existing and new connections get a RST", async () => {
    const c = await connect();
    proxy.mode("reset");
    expect(await c.ending(2000)).toBe("reset");
    const late = net.connect(proxy.port, "127.0.0.1");
    clients.push(late);
    const err = await new Promise<NodeJS.ErrnoException | undefined>((r) => {
      late.on("error", r);
      late.on("close", () => r(undefined));
    });
    expect(err?.code).toBe("ECONNRESET");
  });

  it("close: existing connections get a FIN", async () => {
    const c = await connect();
    proxy.mode("close");
    expect(await c.ending(2000)).toBe("end");
    expect(c.text()).toBe("");
  });
});
