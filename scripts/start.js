#!/usr/bin/env node
/**
 * `pnpm start`: runs the whole stack locally from the built packages — NATS (when none answers at NATS_URL and
 * `nats-server` is installed), control plane, monitor (embedded PGlite unless DATABASE_URL is set), gateway and,
 * when no provider key is set, mock-llm as the provider. Every service's log lines pass through as they are (each
 * line names its service). Ctrl-C stops everything.
 */
"use strict";
const { spawn, spawnSync } = require("node:child_process");
const fs = require("node:fs");
const net = require("node:net");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const env = { ...process.env };
const useMock = (env.OPENAI_API_KEY ?? "") === "" && (env.ANTHROPIC_API_KEY ?? "") === "";
env.MOCK_LLM_PORT ??= "8100";
env.CONTROL_PLANE_PORT ??= "50051";
env.GATEWAY_PORT ??= "8000";
env.MONITOR_PORT ??= "8001";
env.NATS_URL ??= "nats://127.0.0.1:4222";
env.POLICY_CONFIG ??= path.join(root, "config", "policies.yaml");
env.POLICY_ENGINE_URL ??= `127.0.0.1:${env.CONTROL_PLANE_PORT}`;
if (useMock) {
  env.OPENAI_UPSTREAM_URL ??= `http://127.0.0.1:${env.MOCK_LLM_PORT}/v1`;
  env.ANTHROPIC_UPSTREAM_URL ??= `http://127.0.0.1:${env.MOCK_LLM_PORT}`;
}
/**
 * The gateway refuses every call without a gateway key (AUTH_MODE=client_key). With none configured, `pnpm start`
 * gives it the README's `luthien-dev-key` and listens on loopback only, so that a well-known key unlocks nothing
 * beyond this machine (set GATEWAY_HOST to listen wider, with keys of your own).
 */
const givenKey = (env.GATEWAY_API_KEYS ?? "") === "" && (env.AUTH_MODE ?? "") === "" ? "luthien-dev-key" : undefined;
if (givenKey !== undefined) {
  env.GATEWAY_API_KEYS = givenKey;
  env.GATEWAY_HOST ??= "127.0.0.1";
}

const children = [];
let stopping = false;

function stopAll(code) {
  if (stopping) return;
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
  setTimeout(() => process.exit(code), 12_000).unref();
  void Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once("exit", r)) : null))).then(() => process.exit(code));
}

/** Resolves true when something accepts TCP connections at host:port within a second. */
function answers(host, port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port: Number(port) }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.setTimeout(1000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.on("error", () => resolve(false));
  });
}

/** Makes sure NATS (JetStream) answers at NATS_URL: starts a local nats-server if it is installed and none runs. */
async function ensureNats() {
  const url = new URL(env.NATS_URL.split(",")[0]);
  const host = url.hostname;
  const port = url.port === "" ? "4222" : url.port;
  if (await answers(host, port)) return `NATS at ${env.NATS_URL}`;
  const local = host === "127.0.0.1" || host === "localhost";
  if (!local || spawnSync("nats-server", ["--version"]).status !== 0) {
    console.warn(`NATS does not answer at ${env.NATS_URL} and cannot be started here (install nats-server, or set NATS_URL);`);
    console.warn("activity events wait in bounded outboxes until it does — the gateway serves calls regardless.");
    return "NATS unavailable";
  }
  const dir = path.join(root, ".luthien", "nats");
  fs.mkdirSync(dir, { recursive: true });
  const child = spawn("nats-server", ["-a", "127.0.0.1", "-p", port, "-js", "-sd", dir], { stdio: "ignore" });
  children.push(child);
  for (let i = 0; i < 50 && !(await answers("127.0.0.1", port)); i++) await new Promise((r) => setTimeout(r, 100));
  return `NATS started locally on :${port} (store ${dir})`;
}

/** Starts one service and resolves once it logs that it is listening. */
function start(name) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, "services", name, "dist", "main.js")], { env, stdio: ["ignore", "pipe", "inherit"] });
    children.push(child);
    let ready = false;
    child.stdout.setEncoding("utf8").on("data", (d) => {
      process.stdout.write(d);
      if (!ready && /\blistening\b/.test(d)) {
        ready = true;
        resolve();
      }
    });
    child.once("exit", (code, signal) => {
      if (!ready) reject(new Error(`${name} exited before it was ready (${signal ?? code})`));
      else if (!stopping) {
        console.error(`${name} exited (${signal ?? code}); stopping the stack`);
        stopAll(1);
      }
    });
  });
}

process.on("SIGINT", () => stopAll(0));
process.on("SIGTERM", () => stopAll(0));

(async () => {
  const nats = await ensureNats();
  await start("control-plane");
  if (useMock) await start("mock-llm");
  await start("monitor");
  await start("gateway");
  const upstream = useMock ? `mock-llm on :${env.MOCK_LLM_PORT} (no provider key set)` : (env.OPENAI_UPSTREAM_URL ?? "https://api.openai.com/v1");
  console.log(
    [
      "",
      `Luthien is up: http://localhost:${env.GATEWAY_PORT}/v1  (provider: ${upstream}; policies: ${env.POLICY_CONFIG})`,
      `  monitor: http://localhost:${env.MONITOR_PORT}/  (${env.DATABASE_URL !== undefined ? "PostgreSQL" : "embedded PGlite under .luthien/"}; ${nats})`,
      ...(givenKey !== undefined ? [`  gateway key: ${givenKey}  (GATEWAY_API_KEYS was empty, so the gateway listens on loopback only; virtual keys: pnpm luthien keys create)`] : []),
      `  curl http://localhost:${env.GATEWAY_PORT}/v1/chat/completions -H 'content-type: application/json' \\`,
      ...(env.AUTH_MODE !== "off" ? [`    -H 'authorization: Bearer ${givenKey ?? "<one of GATEWAY_API_KEYS>"}' \\`] : []),
      `    -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'`,
      "",
    ].join("\n"),
  );
})().catch((err) => {
  console.error(err.message);
  stopAll(1);
});
