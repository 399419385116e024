/**
 * Test helpers that run Luthien's services the way operators do: as real processes, configured by env only, on
 * free ports. Services must be built (`pnpm build`; `pnpm test` builds first).
 */
export { startService, REPO_ROOT } from "./service";
export type { ServiceName, ServiceOptions, RunningService } from "./service";
export { waitFor } from "./wait";
export { startStack, createMockControl } from "./stack";
export type { Stack, StackOptions, MockControl, MockRecord } from "./stack";
export { startNats, freePort } from "./nats";
export type { NatsOptions, RunningNats } from "./nats";
export { createTestDatabase, startPostgres } from "./postgres";
export type { TestDatabase, TestDatabaseOptions, PostgresOptions, PostgresStopMode, RunningPostgres } from "./postgres";
export { startFaultProxy } from "./fault-proxy";
export type { FaultMode, FaultProxy, FaultProxyOptions } from "./fault-proxy";
export { startFakeEngine } from "./fake-engine";
export type { FakeEngine, FakeEngineAction, FakeEngineBehaviour, FakeEngineContext, FakeEngineOptions, FakeEngineRecord } from "./fake-engine";
export { recordScenario, runScenario, FAULTS_REPORT_ENV } from "./scorecard";
export type { ScenarioResult } from "./scorecard";
// The policy test kit's seeded source, for the variant generators of every test.
export { seededRandom } from "@luthien/policy-sdk";
