import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { createEventPublisher, type EventPublisher } from "@luthien/events";

export const ADMIN_KEY = "test-admin-key-0123456789";
export const AUTH = { authorization: `Bearer ${ADMIN_KEY}` };

/** Both sources of a real deployment, publishing to `natsUrl`. */
export function createPublishers(natsUrl: string): { gateway: EventPublisher; engine: EventPublisher; flush(): Promise<void>; close(): Promise<void> } {
  const gateway = createEventPublisher({ url: natsUrl, source: "gateway" });
  const engine = createEventPublisher({ url: natsUrl, source: "control-plane" });
  return {
    gateway,
    engine,
    flush: async () => {
      await Promise.all([gateway.flush(20_000), engine.flush(20_000)]);
    },
    close: async () => {
      await Promise.all([gateway.close(), engine.close()]);
    },
  };
}

export interface CallSpec {
  callId: string;
  model?: string;
  keyId?: string;
  owner?: string;
  /** @default "session-1" */
  sessionId?: string;
  costUsd?: number;
  stream?: boolean;
  status?: number;
  outcome?: "ok" | "error" | "denied" | "client_closed";
  prompt?: string;
  answer?: string;
  /** The final answer after policy; when different from `answer`, an all-caps policy event is published. */
  finalAnswer?: string;
}

/** The events one call produces, shaped as the gateway and the control plane publish them. */
export const GATEWAY_EVENTS_PER_CALL = 6;

/** Publishes a whole call: 6 gateway events, plus 1 control-plane event when the answer was modified. */
export function publishCall(pubs: { gateway: EventPublisher; engine: EventPublisher }, spec: CallSpec): void {
  const { gateway, engine } = pubs;
  const model = spec.model ?? "gpt-4o-mini";
  const prompt = spec.prompt ?? "Say hello";
  const answer = spec.answer ?? "Hello there!";
  const finalAnswer = spec.finalAnswer ?? answer;
  const request = { model, messages: [{ role: "user", content: prompt }], stream: spec.stream ?? false };
  const response = (text: string): object => ({
    id: `chatcmpl-${spec.callId}`,
    object: "chat.completion",
    model,
    choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }],
    usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 },
  });
  const modified = finalAnswer !== answer;
  gateway.publish(spec.callId, "call.started", {
    model,
    stream: spec.stream ?? false,
    route: "/v1/chat/completions",
    keyId: spec.keyId ?? "key-a",
    ...(spec.owner !== undefined ? { owner: spec.owner } : {}),
    userId: "user-1",
    sessionId: spec.sessionId ?? "session-1",
    format: "openai",
    provider: "openai",
  });
  gateway.publish(spec.callId, "request.received", { body: request });
  gateway.publish(spec.callId, "request.sent", { body: request });
  gateway.publish(spec.callId, "response.received", { body: response(answer) });
  if (modified) {
    engine.publish(spec.callId, "policy.all-caps.response_modified", { policy: "all-caps", changedChars: finalAnswer.length });
    engine.endCall(spec.callId);
  }
  gateway.publish(spec.callId, "response.sent", { body: response(finalAnswer) });
  gateway.publish(spec.callId, "call.ended", {
    status: spec.status ?? 200,
    outcome: spec.outcome ?? "ok",
    latencyMs: 42,
    ttftMs: 7,
    usage: { inputTokens: 5, outputTokens: 3 },
    ...(spec.costUsd !== undefined ? { costUsd: spec.costUsd } : {}),
    chunksIn: 0,
    chunksOut: 0,
    policyActions: modified ? ["all-caps.response_modified"] : [],
  });
}

/** GET with the admin key, parsed as JSON. */
export async function getJson<T = unknown>(url: string, headers: Record<string, string> = AUTH): Promise<T> {
  const res = await fetch(url, { headers });
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

export interface Stats {
  events: number;
  calls: number;
  deadLetters: number;
}

/** Debian's Chromium, headless, in a throwaway profile; `close` also removes the profile. */
export async function launchChromium(): Promise<{ browser: BrowserContext; page: Page; close(): Promise<void> }> {
  const userDataDir = mkdtempSync(path.join(tmpdir(), "luthien-chromium-"));
  const browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = browser.pages()[0] ?? (await browser.newPage());
  return {
    browser,
    page,
    close: async () => {
      await browser.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}
