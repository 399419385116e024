import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import type { Logger } from "@luthien/runtime";
import { createMockLlm, type MockScript, type RecordedRequest, type RunningMockLlm } from "../src/index";

/** A logger that drops everything, for in-process mocks. */
export const silent: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined, notice: () => undefined };

/** The mock's control and provider routes over HTTP; `url` is read on each call, so it may be set in a beforeAll. */
export interface MockClient {
  /** POSTs `body` (JSON-encoded unless it is a string) with a JSON content type. */
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
  /** Queues scripts and expects the mock to accept them. */
  queue(...scripts: MockScript[]): Promise<void>;
  recorded(): Promise<RecordedRequest[]>;
}

export function mockClient(url: () => string): MockClient {
  const post = (path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(`${url()}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
  return {
    post,
    async queue(...scripts) {
      const res = await post("/_mock/scripts", { scripts });
      expect(res.status).toBe(200);
    },
    async recorded() {
      const res = await fetch(`${url()}/_mock/requests`);
      return ((await res.json()) as { requests: RecordedRequest[] }).requests;
    },
  };
}

/** Splits a complete SSE body into its events; enough for the mock's own output (one data line per event). */
export function sseEvents(text: string): { event: string | undefined; data: string }[] {
  return text
    .split("\n\n")
    .filter((block) => block !== "")
    .map((block) => {
      const lines = block.split("\n");
      const event = lines.find((l) => l.startsWith("event: "))?.slice(7);
      const data = lines.find((l) => l.startsWith("data: "))?.slice(6) ?? "";
      return { event, data };
    });
}

/** An in-process mock with SDK clients pointed at it; see {@link useMock}. */
export interface UsedMock extends MockClient {
  url(): string;
  /** `maxRetries: 0`, so scripted errors reach the test. */
  openai(): OpenAI;
  anthropic(): Anthropic;
}

/** Starts an in-process mock on a free port before the file's tests, resets it before each, closes it after all. */
export function useMock(): UsedMock {
  let running: RunningMockLlm | undefined;
  let clients: { openai: OpenAI; anthropic: Anthropic } | undefined;
  const url = (): string => {
    if (running === undefined) throw new Error("the mock is not running (useMock() must be called at a file's top level)");
    return `http://127.0.0.1:${running.port}`;
  };
  const client = mockClient(url);
  beforeAll(async () => {
    running = await createMockLlm({ logger: silent }).listen(0);
    clients = {
      openai: new OpenAI({ apiKey: "test", baseURL: `${url()}/v1`, maxRetries: 0 }),
      anthropic: new Anthropic({ apiKey: "test", baseURL: url(), maxRetries: 0 }),
    };
  });
  afterAll(async () => {
    await running?.close();
  });
  beforeEach(async () => {
    await client.post("/_mock/reset", {});
  });
  const sdk = (): NonNullable<typeof clients> => {
    if (clients === undefined) throw new Error("the mock is not running");
    return clients;
  };
  return { ...client, url, openai: () => sdk().openai, anthropic: () => sdk().anthropic };
}
