import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { startService, type RunningService } from "./service";

/** One call as the mock provider recorded it (`GET /_mock/requests`). */
export interface MockRecord {
  id: number;
  path: string;
  method: string;
  headers: Record<string, string>;
  body: unknown;
  receivedAt: number;
  finished: boolean;
  clientClosed: boolean;
  closedAt?: number;
}

/** Drives a running mock-llm through its scripting API. */
export interface MockControl {
  /** Queues scripts; each provider call takes the next one. */
  script(...scripts: object[]): Promise<void>;
  requests(): Promise<MockRecord[]>;
  reset(): Promise<void>;
}

export function createMockControl(url: string): MockControl {
  const post = async (p: string, body?: unknown): Promise<void> => {
    const res = await fetch(url + p, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body ?? {}) });
    if (!res.ok) throw new Error(`mock-llm ${p}: ${res.status} ${await res.text()}`);
  };
  return {
    script: (...scripts) => post("/_mock/scripts", { scripts }),
    reset: () => post("/_mock/reset"),
    async requests() {
      const res = await fetch(url + "/_mock/requests");
      return ((await res.json()) as { requests: MockRecord[] }).requests;
    },
  };
}

export interface StackOptions {
  /** The control plane's POLICY_CONFIG document (YAML). @default "policies: [{use: noop}]" */
  policies?: string;
  /** Extra env for the gateway; a function gets the running mock (for config that names its URL). */
  gatewayEnv?: Record<string, string> | ((mock: RunningService) => Record<string, string>);
  /** Extra env for the control plane; a function gets the running mock. */
  engineEnv?: Record<string, string> | ((mock: RunningService) => Record<string, string>);
  /** Start no control plane (the gateway points at a closed port). @default false */
  withoutEngine?: boolean;
  /** Extra env for mock-llm (e.g. MOCK_LLM_DEFAULT_SCRIPT). */
  mockEnv?: Record<string, string>;
  /** NATS_URL for gateway and control plane (activity events). @default "off" */
  natsUrl?: string;
  /** LOG_LEVEL of every service (benchmarks use "warn": a log line per call costs time). @default "debug" */
  logLevel?: string;
}

export interface Stack {
  mock: RunningService;
  mockControl: MockControl;
  /** undefined when started `withoutEngine`. */
  engine: RunningService | undefined;
  gateway: RunningService;
  /** The POLICY_CONFIG file the engine reads. */
  policyFile: string;
  stop(): Promise<void>;
}

/** mock-llm, control plane and gateway wired together, each a real process on a free port. */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const dir = mkdtempSync(path.join(tmpdir(), "luthien-stack-"));
  const policyFile = path.join(dir, "policies.yaml");
  writeFileSync(policyFile, options.policies ?? "policies:\n  - use: noop\n");
  const started: RunningService[] = [];
  const logEnv: Record<string, string> = options.logLevel !== undefined ? { LOG_LEVEL: options.logLevel } : {};
  const natsEnv: Record<string, string> = options.natsUrl !== undefined ? { NATS_URL: options.natsUrl } : {};
  try {
    const mock = await startService("mock-llm", { env: { ...logEnv, ...options.mockEnv } });
    started.push(mock);
    let engine: RunningService | undefined;
    let engineAddress = "127.0.0.1:1";
    if (options.withoutEngine !== true) {
      engine = await startService("control-plane", {
        env: { POLICY_CONFIG: policyFile, ...logEnv, ...natsEnv, ...(typeof options.engineEnv === "function" ? options.engineEnv(mock) : options.engineEnv) },
      });
      started.push(engine);
      engineAddress = engine.address;
    }
    const gateway = await startService("gateway", {
      env: {
        OPENAI_UPSTREAM_URL: `${mock.url}/v1`,
        ANTHROPIC_UPSTREAM_URL: mock.url,
        POLICY_ENGINE_URL: engineAddress,
        ...logEnv,
        ...natsEnv,
        ...(typeof options.gatewayEnv === "function" ? options.gatewayEnv(mock) : options.gatewayEnv),
      },
    });
    started.push(gateway);
    return {
      mock,
      mockControl: createMockControl(mock.url),
      engine,
      gateway,
      policyFile,
      stop: async () => {
        await Promise.all(started.map((s) => s.stop()));
      },
    };
  } catch (err) {
    await Promise.all(started.map((s) => s.stop()));
    throw err;
  }
}
