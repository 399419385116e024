import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import type { Stack } from "@luthien/testkit";

/** The policies the calls below meet: each call ends in a different verdict. */
export const OUTCOME_POLICIES = `policies:
  - use: dangerous-commands
  - use: regex-filter
    with: { patterns: ["forbidden-launch-code"], applyTo: request }
  - use: secret-redaction
`;

/** A secret-redaction catch that is not a real key. */
export const FAKE_AWS_KEY = "AKIAIOSFODNN7EXAMPLE";

/** What the client got for a call, as it got it. */
export interface MadeCall {
  callId: string;
  status: number;
  /** The parsed body of an error answer (what `call.ended.errorBody` must equal). */
  errorBody?: unknown;
}

export interface OutcomeCalls {
  allowed: MadeCall;
  modified: MadeCall;
  blocked: MadeCall;
  denied: MadeCall;
  failed: MadeCall;
  /** The request of `allowed` as sent, key order included. */
  allowedRequestText: string;
  /** The config version the engine reports (SHA-256 of its policy file, 12 hex digits). */
  configVersion: string;
}

async function post(stack: Stack, route: string, body: string, headers: Record<string, string> = {}): Promise<MadeCall> {
  const res = await fetch(`${stack.gateway.url}${route}`, { method: "POST", headers: { "content-type": "application/json", authorization: "Bearer k", ...headers }, body });
  const text = await res.text();
  const callId = res.headers.get("x-luthien-call-id") ?? "";
  return { callId, status: res.status, ...(res.status >= 400 ? { errorBody: JSON.parse(text) as unknown } : {}) };
}

/**
 * Five calls through a stack started with {@link OUTCOME_POLICIES}: allowed, modified (a key redacted from the
 * answer), blocked (a streamed `rm -rf /` tool call, read with the Anthropic SDK's accumulator: the client gets a
 * 200), denied (a request with a blocked phrase: 400) and failed (the provider answers 500).
 */
export async function makeOutcomeCalls(stack: Stack, o: { sessionId?: string } = {}): Promise<OutcomeCalls> {
  const session = o.sessionId !== undefined ? { "x-luthien-session-id": o.sessionId } : {};
  const openai = new OpenAI({ apiKey: "k", baseURL: `${stack.gateway.url}/v1`, maxRetries: 0, defaultHeaders: session });
  const anthropic = new Anthropic({ apiKey: "k", baseURL: stack.gateway.url, maxRetries: 0, defaultHeaders: session });

  // Keys in an order no database would sort them into: the monitor must show them so.
  const allowedRequestText = JSON.stringify({ messages: [{ role: "user", content: "Say hello" }], model: "gpt-4o-mini", temperature: 0.5, max_tokens: 20 });
  await stack.mockControl.script({ text: "Hello there, nothing to see." });
  const allowed = await post(stack, "/v1/chat/completions", allowedRequestText, session);

  await stack.mockControl.script({ text: `Your key is ${FAKE_AWS_KEY}, keep it safe.` });
  const modified = await openai.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "What is my key?" }] }).withResponse();

  await stack.mockControl.script({ text: "Cleaning up now.", toolCalls: [{ name: "Bash", arguments: JSON.stringify({ command: "rm -rf /" }) }] });
  const blocked = await anthropic.messages
    .stream({ model: "claude-mock-sonnet", max_tokens: 100, messages: [{ role: "user", content: "clean the disk" }], tools: [{ name: "Bash", input_schema: { type: "object" } }] })
    .withResponse();
  await blocked.data.finalMessage();

  const denied = await post(stack, "/v1/chat/completions", JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "the forbidden-launch-code is 1234" }] }), session);

  await stack.mockControl.script({ error: { status: 500, type: "server_error", message: "the mock provider fell over" } });
  const failed = await post(stack, "/v1/chat/completions", JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }), session);

  return {
    allowed,
    modified: { callId: modified.response.headers.get("x-luthien-call-id") ?? "", status: modified.response.status },
    blocked: { callId: blocked.response.headers.get("x-luthien-call-id") ?? "", status: blocked.response.status },
    denied,
    failed,
    allowedRequestText,
    configVersion: createHash("sha256").update(readFileSync(stack.policyFile)).digest("hex").slice(0, 12),
  };
}
