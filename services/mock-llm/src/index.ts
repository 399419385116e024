/**
 * A scriptable OpenAI- and Anthropic-compatible provider for demos, tests and benchmarks: OpenAI Chat Completions,
 * Responses, legacy Completions and Embeddings, Anthropic Messages (with count_tokens), and model lists, all
 * recorded (see {@link createMockLlm} for the routes). `main.ts` runs it as a service (`MOCK_LLM_PORT`, default
 * 8100); tests and tools can also create one in-process.
 */
export { createMockLlm } from "./app";
export type { MockLlm, MockLlmOptions, RecordedRequest, RunningMockLlm } from "./app";
export { DEFAULT_TEXT } from "./script";
export type { MockScript, MockThinking, MockToolCall } from "./script";
