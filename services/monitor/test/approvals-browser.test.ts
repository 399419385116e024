import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { createTestDatabase, startNats, startService, startStack, type RunningNats, type RunningService, type Stack, type TestDatabase } from "@luthien/testkit";
import type { Page } from "playwright-core";
import { ADMIN_KEY, launchChromium } from "./helpers";

/**
 * The whole loop a safety engineer sees: a coding agent's `rm -rf` tool call, held by `dangerous-commands` with
 * `onMatch: ask` in a real engine behind a real gateway, waits in the monitor's inbox; a click in Chromium releases
 * it to the Anthropic SDK's stream accumulator, or blocks it for the OpenAI SDK's, with the approver's note.
 */

let nats: RunningNats;
let db: TestDatabase;
let monitor: RunningService;
let stack: Stack;
let chromium: Awaited<ReturnType<typeof launchChromium>>;
let page: Page;

const bash = (command: string) => ({ name: "Bash", arguments: JSON.stringify({ command }) });

beforeAll(async () => {
  [nats, db] = await Promise.all([startNats({ jetstream: true }), createTestDatabase()]);
  monitor = await startService("monitor", { env: { NATS_URL: nats.url, DATABASE_URL: db.url, ADMIN_API_KEY: ADMIN_KEY } });
  stack = await startStack({ natsUrl: nats.url, policies: "policies:\n  - use: dangerous-commands\n    with: { onMatch: ask }\n" });
  chromium = await launchChromium();
  page = chromium.page;
  await page.goto(monitor.url);
  await page.locator("#login-key").fill(ADMIN_KEY);
  await page.locator("#login-form button[type=submit]").click();
  await page.locator("#view-home").waitFor({ state: "visible", timeout: 10_000 });
  await page.goto(`${monitor.url}/#/approvals`);
  await page.locator("#view-approvals").waitFor({ state: "visible" });
}, 90_000);

afterAll(async () => {
  await chromium?.close();
  await stack?.stop();
  await monitor?.stop();
  await db?.drop();
  await nats?.dispose();
});

describe("a held rm -rf in the monitor's inbox", () => {
  it("Approve: the Anthropic SDK's stream gets the tool call unchanged", async () => {
    await stack.mockControl.script({ text: "Cleaning up.", toolCalls: [bash("rm -rf /")] });
    const anthropic = new Anthropic({ apiKey: "k", baseURL: stack.gateway.url, maxRetries: 0 });
    const stream = anthropic.messages.stream({
      model: "claude-mock-sonnet",
      max_tokens: 200,
      tools: [{ name: "Bash", input_schema: { type: "object", properties: { command: { type: "string" } } } }],
      messages: [{ role: "user", content: "clean up" }],
    });
    const item = page.locator("#approvals-pending li.approval", { hasText: "rm -rf /" });
    await item.waitFor({ timeout: 15_000 });
    expect(await item.locator("pre.arguments").textContent()).toContain('"command": "rm -rf /"');
    await item.locator("button", { hasText: /^Approve$/ }).click();
    const message = await stream.finalMessage();
    expect(message.content.filter((b) => b.type === "tool_use").map((b) => (b as { input: unknown }).input)).toEqual([{ command: "rm -rf /" }]);
    expect(message.stop_reason).toBe("tool_use");
    await page.locator("#approvals-decided li.approval", { hasText: "rm -rf /" }).filter({ hasText: "approved" }).first().waitFor({ timeout: 15_000 });
  }, 60_000);

  it("Deny with a note: the OpenAI SDK's stream has no tool call, and the block text carries the note", async () => {
    await stack.mockControl.script({ text: "Running it.", toolCalls: [bash("rm -rf ~")] });
    const openai = new OpenAI({ apiKey: "k", baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
    const stream = openai.chat.completions.stream({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "clean" }],
      tools: [{ type: "function", function: { name: "Bash", parameters: { type: "object" } } }],
    });
    const item = page.locator("#approvals-pending li.approval", { hasText: "rm -rf ~" });
    await item.waitFor({ timeout: 15_000 });
    await item.locator("input.note").fill("not on my machine");
    await item.locator("button", { hasText: /^Deny$/ }).click();
    const completion = await stream.finalChatCompletion();
    const choice = completion.choices[0];
    expect(choice?.message.tool_calls ?? []).toEqual([]);
    expect(choice?.message.content).toContain("denied by monitor: not on my machine");
    expect(choice?.finish_reason).toBe("stop");
  }, 60_000);
});
