/**
 * The monitor: a durable JetStream consumer that stores activity events in PostgreSQL (or embedded PGlite), plus
 * the query API, the live SSE feed and the web UI. `main.ts` runs it as a service (`MONITOR_PORT`, default 8001);
 * tests and tools can also start one in-process.
 */
export { startMonitor, PUBLIC_DIR } from "./monitor";
export type { MonitorOptions, RunningMonitor } from "./monitor";
export { openDatabase, MIGRATIONS_FOLDER } from "./db/database";
export type { DatabaseConfig, MonitorDatabase, MonitorDb } from "./db/database";
export { calls, events, deadLetters } from "./db/schema";
export { createStore, MAX_PAGE_SIZE } from "./store";
export type { MonitorStore, CallQuery, CallSummary, CallDetail, IngestResult } from "./store";
export { escapeString, escapeJson } from "./sanitize";
export { summarize, textOf } from "./summary";
export type { CallPatch } from "./summary";
export { MonitorError, InvalidQueryError, DatabaseStartError } from "./errors";
export { createMonitorMetrics } from "./metrics";
export type { MonitorMetrics, MonitorMetricsOptions } from "./metrics";
