/**
 * The monitor: a durable JetStream consumer that stores activity events in PostgreSQL (or embedded PGlite), plus
 * the query API, the live SSE feed and the web UI. `main.ts` runs it as a service (`MONITOR_PORT`, default 8001);
 * tests and tools can also start one in-process.
 */
export { startMonitor, PUBLIC_DIR, DEFAULT_CONSUMER } from "./monitor";
export type { MonitorOptions, RunningMonitor } from "./monitor";
export { openDatabase, isTransientDatabaseError, MIGRATIONS_FOLDER } from "./db/database";
export type { DatabaseConfig, MonitorDatabase, MonitorDb, OpenDatabaseOptions } from "./db/database";
export { calls, events, deadLetters, configEvents, labels, approvalRefusals, replayReports } from "./db/schema";
export { createStore, MAX_PAGE_SIZE, MAX_REPLAY_PAGE_SIZE, LABELS } from "./store";
export type { MonitorStore, CallQuery, CallSummary, CallDetail, CallLabel, ConfigEventRow, IngestResult, Label, LabelFilter, ReplayCall, ReplayQuery, StoreOptions } from "./store";
export { createApprovalStore, APPROVAL_LOST_AFTER_MS } from "./approvals";
export type { Approval, ApprovalListState, ApprovalRefusal, ApprovalStore } from "./approvals";
export { createReplayReportStore } from "./replays";
export type { ReplayPolicyCounts, ReplayReportStore, ReplayReportSummary } from "./replays";
export { storeOriginal, monitorSecretMarker, STORE_ORIGINALS_MODES } from "./originals";
export type { StoreOriginals } from "./originals";
export { escapeString, escapeJson } from "./sanitize";
export { resolveDataDir, checkoutRoot, DEFAULT_DATA_DIR } from "./data-dir";
export { summarize, textOf } from "./summary";
export type { CallPatch } from "./summary";
export { MonitorError, InvalidQueryError, DatabaseStartError, DatabaseUnavailableError } from "./errors";
export { createMonitorMetrics } from "./metrics";
export type { MonitorMetrics, MonitorMetricsOptions } from "./metrics";
