/** Small pieces every Luthien service shares: a readable logger, env parsing, graceful shutdown, glob matching. */
export { createLogger } from "./logger";
export type { Logger, LogFields } from "./logger";
export { envString, envInt, envList, envEnum, ConfigError } from "./env";
export { onShutdown } from "./shutdown";
export { createGlobMatcher } from "./glob";
