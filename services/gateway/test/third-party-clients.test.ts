import { createOpenAI } from "@ai-sdk/openai";
import { Agent, run, setDefaultOpenAIClient, setOpenAIAPI, setTracingDisabled, tool as agentTool } from "@openai/agents";
import { generateText, stepCountIs, streamText, tool } from "ai";
import OpenAI from "openai";
import { z } from "zod";
import { startStack, type Stack } from "@luthien/testkit";

/**
 * Real third-party clients that speak the Responses API by default — the Vercel AI SDK's `openai(model)` and the
 * OpenAI Agents SDK — with tools that would really run: `dangerous-commands` must keep a destructive call from ever
 * reaching the tool, and let a harmless one run.
 */
let stack: Stack;
beforeAll(async () => {
  setTracingDisabled(true);
  stack = await startStack({ policies: "policies:\n  - use: dangerous-commands\n" });
});
afterAll(() => stack.stop());
beforeEach(() => stack.mockControl.reset());

const shellCall = (command: string) => ({
  toolCalls: [{ name: "shell", arguments: JSON.stringify({ command }), argumentChunks: [JSON.stringify({ command }).slice(0, 12), JSON.stringify({ command }).slice(12)] }],
});
const done = { text: "All done." };

describe.each(["gpt-4o-mini", "claude-mock-sonnet"])("the AI SDK's default provider (Responses API), model %s", (model) => {
  const setup = () => {
    const ran: string[] = [];
    const openai = createOpenAI({ baseURL: `${stack.gateway.url}/v1`, apiKey: "k" });
    const tools = {
      shell: tool({
        description: "run a shell command",
        inputSchema: z.object({ command: z.string() }),
        execute: async ({ command }) => {
          ran.push(command);
          return "ok";
        },
      }),
    };
    return { ran, model: openai(model), tools };
  };

  it("never runs a blocked command (generateText)", async () => {
    await stack.mockControl.script(shellCall("rm -rf /"), done);
    const { ran, model: m, tools } = setup();
    const r = await generateText({ model: m, tools, prompt: "clean up", stopWhen: stepCountIs(3) });
    expect(ran).toEqual([]);
    expect(r.text).toMatch(/BLOCKED by dangerous-commands/);
    expect((await stack.mockControl.requests())[0]?.path).toBe(model.startsWith("claude") ? "/v1/messages" : "/v1/responses");
  });

  it("never runs a blocked command (streamText)", async () => {
    await stack.mockControl.script(shellCall("rm -rf ~"), done);
    const { ran, model: m, tools } = setup();
    const r = streamText({ model: m, tools, prompt: "clean up", stopWhen: stepCountIs(3) });
    let text = "";
    for await (const t of r.textStream) text += t;
    expect(ran).toEqual([]);
    expect(text).toMatch(/BLOCKED by dangerous-commands/);
  });

  it("runs a harmless command", async () => {
    await stack.mockControl.script(shellCall("ls -la"), done);
    const { ran, model: m, tools } = setup();
    const r = await generateText({ model: m, tools, prompt: "list", stopWhen: stepCountIs(3) });
    expect(ran).toEqual(["ls -la"]);
    expect(r.text).toBe("All done.");
  });
});

describe("the OpenAI Agents SDK (Responses API)", () => {
  const setup = () => {
    setDefaultOpenAIClient(new OpenAI({ apiKey: "k", baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 }) as never);
    setOpenAIAPI("responses");
    const ran: string[] = [];
    const agent = new Agent({
      name: "ops",
      instructions: "You run shell commands.",
      model: "gpt-4o-mini",
      tools: [
        agentTool({
          name: "shell",
          description: "run a shell command",
          parameters: z.object({ command: z.string() }),
          execute: async ({ command }) => {
            ran.push(command);
            return "ok";
          },
        }),
      ],
    });
    return { ran, agent };
  };

  it("never runs a blocked command", async () => {
    await stack.mockControl.script(shellCall("rm -rf /"), done);
    const { ran, agent } = setup();
    const r = await run(agent, "clean up");
    expect(ran).toEqual([]);
    expect(String(r.finalOutput)).toMatch(/BLOCKED by dangerous-commands/);
  });

  it("never runs a blocked command when streaming", async () => {
    await stack.mockControl.script(shellCall("rm -rf /"), done);
    const { ran, agent } = setup();
    const r = await run(agent, "clean up", { stream: true });
    for await (const _ of r) void _;
    await r.completed;
    expect(ran).toEqual([]);
    expect(String(r.finalOutput)).toMatch(/BLOCKED by dangerous-commands/);
  });

  it("runs a harmless command", async () => {
    await stack.mockControl.script(shellCall("git status"), done);
    const { ran, agent } = setup();
    const r = await run(agent, "status?");
    expect(ran).toEqual(["git status"]);
    expect(r.finalOutput).toBe("All done.");
  });
});
