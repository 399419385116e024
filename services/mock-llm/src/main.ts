import { createLogger, envInt, envString, onShutdown } from "@luthien/runtime";
import { createMockLlm } from "./app";
import { parseScript } from "./script";

/**
 * Runs the mock provider, configured by env only:
 * - `MOCK_LLM_PORT` (default 8100; 0 = any free port, the bound one is logged as `listening ... port=<n>`)
 * - `MOCK_LLM_HOST` (default 127.0.0.1)
 * - `MOCK_LLM_MAX_RECORDS` (default 1000): how many calls `GET /_mock/requests` remembers
 * - `MOCK_LLM_DEFAULT_SCRIPT` (JSON MockScript): the answer when no script is queued (benchmarks use long streams)
 */
async function main(): Promise<void> {
  const logger = createLogger("mock-llm");
  const port = envInt("MOCK_LLM_PORT", 8100);
  const host = envString("MOCK_LLM_HOST", "127.0.0.1");
  const maxRecords = envInt("MOCK_LLM_MAX_RECORDS", 1000);
  const defaultScriptJson = envString("MOCK_LLM_DEFAULT_SCRIPT", "");
  const defaultScript = defaultScriptJson === "" ? undefined : parseScript(JSON.parse(defaultScriptJson) as unknown, "MOCK_LLM_DEFAULT_SCRIPT");
  const running = await createMockLlm({ logger, maxRecords, ...(defaultScript !== undefined ? { defaultScript } : {}) }).listen(port, host);
  // Logged only once bound: the testkit and operators read the real port from this line.
  logger.notice("listening", { host, port: running.port });
  onShutdown(async (signal) => {
    logger.notice("stopping", { signal });
    await running.close();
  });
}

main().catch((err: unknown) => {
  createLogger("mock-llm").error("failed to start", { error: err instanceof Error ? err.message : String(err) });
  process.exit(1);
});
