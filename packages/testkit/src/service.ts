import { spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";

export const REPO_ROOT = path.resolve(__dirname, "../../..");

export type ServiceName = "gateway" | "control-plane" | "mock-llm" | "monitor";

/** The env variable that carries each service's listening port; the testkit sets it to 0 (any free port). */
const PORT_VARS: Record<ServiceName, string> = {
  gateway: "GATEWAY_PORT",
  "control-plane": "CONTROL_PLANE_PORT",
  "mock-llm": "MOCK_LLM_PORT",
  monitor: "MONITOR_PORT",
};

export interface ServiceOptions {
  /** Extra env for the process, on top of a clean copy of this process's env. */
  env?: Record<string, string>;
  /** How long to wait for the "listening" log line. @default 15000 */
  startTimeoutMs?: number;
  /** Node flags before the script (e.g. `--cpu-prof`, which NODE_OPTIONS does not accept). @default none */
  nodeArgs?: readonly string[];
}

export interface RunningService {
  readonly name: ServiceName;
  readonly port: number;
  /** `http://127.0.0.1:<port>` (or `127.0.0.1:<port>` for gRPC targets via `address`). */
  readonly url: string;
  readonly address: string;
  /** The control plane's `/metrics` port (its `metricsPort=<n>` log line), when it logged one before listening. */
  readonly metricsPort?: number;
  readonly process: ChildProcess;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** Sends a signal (SIGKILL, SIGSTOP, SIGCONT, ...). */
  signal(sig: NodeJS.Signals): void;
  /** Stops the process (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Spawns `node services/<name>/dist/main.js` and resolves once it logs `listening ... port=<n>`.
 * @throws when the process exits or stays silent past the start timeout; the error carries its output
 */
export function startService(name: ServiceName, options: ServiceOptions = {}): Promise<RunningService> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    // Jest's and the test runner's variables are not the service's business.
    if (v !== undefined && !k.startsWith("JEST") && k !== "NODE_OPTIONS") env[k] = v;
  }
  // Tests publish activity only to a NATS they started themselves (NATS_URL in `env`), never the machine's own.
  // A gateway runs with AUTH_MODE=off unless the test sets auth: most tests are about something else, and the
  // default (client_key: no gateway key, 401) has its own tests (auth-default.test.ts). Nothing else is overridden:
  // services run with the operator's defaults (the control plane's metrics port included, which a second engine on
  // the host must survive), so the tests see what operators see.
  const harness: Record<string, string> = { [PORT_VARS[name]]: "0", LOG_LEVEL: "debug", NATS_URL: "off" };
  // Set by the test, or by the process that runs the services (the bench runs them with auth as deployed).
  const wantsAuth = [options.env ?? {}, process.env].some((e) => "AUTH_MODE" in e || "GATEWAY_API_KEYS" in e || "KEYS_NATS_URL" in e);
  if (name === "gateway" && !wantsAuth) harness["AUTH_MODE"] = "off";
  Object.assign(env, harness, options.env ?? {});
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), path.join(REPO_ROOT, "services", name, "dist", "main.js")], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (out += d));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${name} did not start within ${options.startTimeoutMs ?? 15000} ms:\n${out}`));
    }, options.startTimeoutMs ?? 15000);
    const onExit = (code: number | null): void => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (code ${code}) before listening:\n${out}`));
    };
    child.once("exit", onExit);
    const onData = (): void => {
      const m = /listening\b.*\bport=(\d+)/.exec(out);
      if (m === null) return;
      clearTimeout(timer);
      child.off("exit", onExit);
      child.stdout.off("data", onData);
      const port = Number(m[1]);
      const metricsPort = /\bmetricsPort=(\d+)/.exec(out);
      resolve({
        name,
        port,
        ...(metricsPort !== null ? { metricsPort: Number(metricsPort[1]) } : {}),
        url: `http://127.0.0.1:${port}`,
        address: `127.0.0.1:${port}`,
        process: child,
        output: () => out,
        signal: (sig) => {
          if (child.exitCode === null && child.signalCode === null) child.kill(sig);
        },
        stop: async () => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          child.kill("SIGCONT");
          child.kill("SIGTERM");
          const force = setTimeout(() => child.kill("SIGKILL"), 5000);
          await exited;
          clearTimeout(force);
        },
      });
    };
    child.stdout.on("data", onData);
  });
}
