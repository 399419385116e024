import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";

/** Options of {@link startNats}. */
export interface NatsOptions {
  /** Start with JetStream (`-js`), its store in a fresh temp dir. @default true */
  jetstream?: boolean;
  /** The server binary. @default `NATS_SERVER_BIN` or "nats-server" */
  bin?: string;
  /** How long to wait for "Server is ready". @default 10000 */
  startTimeoutMs?: number;
}

/** A `nats-server` process of the test's own, on a free port. */
export interface RunningNats {
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** The JetStream store directory (kept across restarts). */
  readonly storeDir: string;
  /** Everything the current process printed. */
  output(): string;
  /** Sends a signal to the running server: SIGSTOP freezes it (clients see no answer), SIGCONT resumes. */
  signal(sig: NodeJS.Signals): void;
  /** Stops the server (SIGTERM, SIGKILL after 5 s) and waits for it to exit; the store stays for restart(). Idempotent. */
  stop(): Promise<void>;
  /** Starts the server again on the same port with the same store (stopping it first when it runs). */
  restart(): Promise<void>;
  /** Stops the server and deletes its store. */
  dispose(): Promise<void>;
}

/** Reserves a free TCP port on 127.0.0.1 by binding port 0 and closing again. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr !== null ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

/**
 * Spawns `nats-server -a 127.0.0.1 -p <free port> [-js -sd <temp dir>]` and resolves once it logs "Server is
 * ready". Tests that stop or freeze NATS use their own server, never the shared one on 4222.
 * @throws when the server exits or stays silent past the start timeout; the error carries its output
 */
export async function startNats(options: NatsOptions = {}): Promise<RunningNats> {
  const bin = options.bin ?? process.env["NATS_SERVER_BIN"] ?? "nats-server";
  const js = options.jetstream ?? true;
  const storeDir = mkdtempSync(path.join(tmpdir(), "luthien-nats-"));
  const port = await freePort();
  let child: ChildProcess | undefined;
  let out = "";

  const spawnServer = (): Promise<void> => {
    const args = ["-a", "127.0.0.1", "-p", String(port), ...(js ? ["-js", "-sd", storeDir] : [])];
    const c = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
    child = c;
    out = "";
    const onOut = (d: string): void => {
      out += d;
    };
    c.stdout!.setEncoding("utf8").on("data", onOut);
    c.stderr!.setEncoding("utf8").on("data", onOut);
    return new Promise((resolve, reject) => {
      const timeoutMs = options.startTimeoutMs ?? 10_000;
      const timer = setTimeout(() => {
        c.kill("SIGKILL");
        reject(new Error(`nats-server did not start within ${timeoutMs} ms:\n${out}`));
      }, timeoutMs);
      const onExit = (code: number | null): void => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited (code ${code}) before it was ready:\n${out}`));
      };
      c.once("exit", onExit);
      c.once("error", (err) => {
        clearTimeout(timer);
        reject(new Error(`cannot run ${bin}: ${err.message}`));
      });
      const check = (): void => {
        if (!/Server is ready/.test(out)) return;
        clearTimeout(timer);
        c.off("exit", onExit);
        c.stderr!.off("data", check);
        c.stdout!.off("data", check);
        resolve();
      };
      c.stderr!.on("data", check);
      c.stdout!.on("data", check);
    });
  };

  const running = (): boolean => child !== undefined && child.exitCode === null && child.signalCode === null;

  const stop = async (): Promise<void> => {
    const c = child;
    if (c === undefined || !running()) return;
    const exited = new Promise<void>((r) => c.once("exit", () => r()));
    c.kill("SIGCONT");
    c.kill("SIGTERM");
    const force = setTimeout(() => c.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(force);
  };

  // A crashed test run must not leave servers behind.
  const onProcessExit = (): void => {
    if (running()) child!.kill("SIGKILL");
  };
  process.once("exit", onProcessExit);

  await spawnServer();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    output: () => out,
    signal: (sig) => {
      if (running()) child!.kill(sig);
    },
    stop,
    restart: async () => {
      await stop();
      await spawnServer();
    },
    dispose: async () => {
      await stop();
      process.off("exit", onProcessExit);
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
}
