import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { REPO_ROOT, startStack, type MockRecord, type Stack } from "@luthien/testkit";

/**
 * The README's first-run snippets ("The two commands"), run as written against a gateway started as they say, with
 * the server's provider keys set (`pnpm start` with OPENAI_API_KEY/ANTHROPIC_API_KEY, i.e. real providers). The
 * mock stands in for the providers and records what they would have been sent: a snippet works only if its call
 * reaches the provider with the server's key — a made-up key passed through would get a real provider's 401.
 */

const SERVER_OPENAI = "sk-server-openai-readme";
const SERVER_ANTHROPIC = "sk-ant-server-readme";

const readme = readFileSync(path.join(REPO_ROOT, "README.md"), "utf8");
const section = readme.slice(readme.indexOf("## The two commands"), readme.indexOf("### Claude Code"));
const snippets = [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? "");
/** The gateway key the section starts the gateway with (`GATEWAY_API_KEYS=<key> pnpm start`). */
const gatewayKey = /GATEWAY_API_KEYS=([^\s`]+)/.exec(section)?.[1];

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ gatewayEnv: { ...(gatewayKey !== undefined ? { GATEWAY_API_KEYS: gatewayKey } : {}), OPENAI_API_KEY: SERVER_OPENAI, ANTHROPIC_API_KEY: SERVER_ANTHROPIC } });
});
afterAll(() => stack.stop());
beforeEach(() => stack.mockControl.reset());

/** Runs a snippet as a script: its imports become requires, localhost:8000 becomes the test's gateway. */
async function run(snippet: string): Promise<void> {
  const body = snippet.replace(/^import (\w+) from ("[^"]+");$/gm, "const $1 = require($2);").replaceAll("http://localhost:8000", stack.gateway.url);
  const AsyncFunction = Object.getPrototypeOf(async () => undefined).constructor as new (...args: string[]) => (r: NodeRequire) => Promise<void>;
  await new AsyncFunction("require", body)(require);
}

async function credentialUpstream(): Promise<string | undefined> {
  const records: MockRecord[] = await stack.mockControl.requests();
  expect(records).toHaveLength(1);
  const h = records[0]?.headers ?? {};
  return h["x-api-key"] ?? h["authorization"];
}

describe("README first run", () => {
  it("starts the gateway with a gateway key and shows an OpenAI and an Anthropic snippet", () => {
    expect(gatewayKey).toBeDefined();
    expect(snippets.some((s) => s.includes('from "openai"'))).toBe(true);
    expect(snippets.some((s) => s.includes('from "@anthropic-ai/sdk"'))).toBe(true);
  });

  it.each(snippets.map((s) => [/from "([^"]+)"/.exec(s)?.[1] ?? "?", s]))("the %s snippet runs and its call reaches the provider with the server's key", async (sdk, snippet) => {
    await run(snippet);
    expect(await credentialUpstream()).toBe(sdk === "openai" ? `Bearer ${SERVER_OPENAI}` : SERVER_ANTHROPIC);
  });

  it("the curl line works as written, too", async () => {
    const line = /`(curl [^`]+)`/.exec(section)?.[1];
    if (line === undefined) throw new Error("no curl line in the section");
    const args = [...line.replaceAll("http://localhost:8000", stack.gateway.url).matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? "").slice(1);
    const { stdout } = await promisify(execFile)("curl", ["-sS", "--fail-with-body", ...args]);
    expect(JSON.parse(stdout)).toMatchObject({ object: "chat.completion" });
    expect(await credentialUpstream()).toBe(`Bearer ${SERVER_OPENAI}`);
  });
});
