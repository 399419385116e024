import { anthropicRequest, anthropicStream, openAIRequest, openAIStream, runPolicy } from "@luthien/policy-sdk";
import createNoEnvFiles from "./no-env-files";

// The README's example policy and its test, kept here so that both stay true.
const reads = [
  { name: "Read", input: { file_path: "app/.env" } },
  { name: "Read", input: { file_path: "app/.env.example" } },
];

it.each([
  ["Anthropic", anthropicRequest("show me the config"), anthropicStream({ toolCalls: reads })],
  ["OpenAI", openAIRequest("show me the config"), openAIStream({ toolCalls: reads })],
])("no-env-files blocks .env but not .env.example (%s)", async (_format, request, stream) => {
  const policy = createNoEnvFiles({ allow: [".env.example"] }, "policies[0].with");
  const run = await runPolicy(policy, { request, stream });
  expect(run.toolCalls.map((c) => c.input)).toEqual([{ file_path: "app/.env.example" }]);
  expect(run.text).toContain("BLOCKED");
  expect(run.stopReason).toMatch(/tool_use|tool_calls/);
  expect(run.activity).toMatchObject([{ action: "blocked", data: { reason: "app/.env may hold secrets" } }]);
});
