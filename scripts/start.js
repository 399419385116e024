#!/usr/bin/env node
/**
 * `pnpm start`: runs the whole stack locally from the built packages — control plane, gateway and, when no
 * provider key is set, mock-llm as the provider. Every service's log lines pass through as they are (each line
 * names its service). Ctrl-C stops everything.
 */
"use strict";
const { spawn } = require("node:child_process");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const env = { ...process.env };
const useMock = (env.OPENAI_API_KEY ?? "") === "" && (env.ANTHROPIC_API_KEY ?? "") === "";
env.MOCK_LLM_PORT ??= "8100";
env.CONTROL_PLANE_PORT ??= "50051";
env.GATEWAY_PORT ??= "8000";
env.POLICY_CONFIG ??= path.join(root, "config", "policies.yaml");
env.POLICY_ENGINE_URL ??= `127.0.0.1:${env.CONTROL_PLANE_PORT}`;
if (useMock) env.OPENAI_UPSTREAM_URL ??= `http://127.0.0.1:${env.MOCK_LLM_PORT}/v1`;

const children = [];
let stopping = false;

function stopAll(code) {
  if (stopping) return;
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
  setTimeout(() => process.exit(code), 12_000).unref();
  Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once("exit", r)) : null))).then(() => process.exit(code));
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
  await start("control-plane");
  if (useMock) await start("mock-llm");
  await start("gateway");
  const upstream = useMock ? `mock-llm on :${env.MOCK_LLM_PORT} (no provider key set)` : env.OPENAI_UPSTREAM_URL ?? "https://api.openai.com/v1";
  console.log(
    [
      "",
      `Luthien is up: http://localhost:${env.GATEWAY_PORT}/v1  (provider: ${upstream}; policies: ${env.POLICY_CONFIG})`,
      `  curl http://localhost:${env.GATEWAY_PORT}/v1/chat/completions -H 'content-type: application/json' \\`,
      `    -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'`,
      "",
    ].join("\n"),
  );
})().catch((err) => {
  console.error(err.message);
  stopAll(1);
});
