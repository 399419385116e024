/**
 * `pnpm bench`: what the gateway (and its engine round trips) adds to calls against the mock provider, measured
 * in one run against direct calls to the same mock, so both sides see the same machine state.
 *
 * Env: `BENCH_CALLS` sequential calls per measurement (default 1000), `BENCH_WARMUP` (default 200),
 * `BENCH_STREAM_CHUNKS` events per stream in the per-event scenarios (default 200).
 */
import { startStack, type Stack } from "@luthien/testkit";

const CALLS = Number(process.env["BENCH_CALLS"] ?? 1000);
const WARMUP = Number(process.env["BENCH_WARMUP"] ?? 200);
const STREAM_CHUNKS = Number(process.env["BENCH_STREAM_CHUNKS"] ?? 200);

const ask = (stream: boolean): string => JSON.stringify({ model: "gpt-4o-mini", stream, messages: [{ role: "user", content: "hi" }] });

interface Stats {
  p50: number;
  p99: number;
}

function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { p50: at(0.5), p99: at(0.99) };
}

/** Times `n` sequential POSTs (whole body read) in milliseconds. */
async function timeCalls(url: string, body: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`${url} answered ${res.status}`);
    out.push(performance.now() - t0);
  }
  return out;
}

/** Direct and gateway calls, warmed up, measured in interleaved halves so drift in machine load hits both alike. */
async function compare(stack: Stack, body: string, calls = CALLS): Promise<{ direct: Stats; gateway: Stats }> {
  const direct = `${stack.mock.url}/v1/chat/completions`;
  const gateway = `${stack.gateway.url}/v1/chat/completions`;
  await timeCalls(direct, body, WARMUP);
  await timeCalls(gateway, body, WARMUP);
  const half = Math.ceil(calls / 2);
  const d = await timeCalls(direct, body, half);
  const g = await timeCalls(gateway, body, half);
  d.push(...(await timeCalls(direct, body, calls - half)));
  g.push(...(await timeCalls(gateway, body, calls - half)));
  return { direct: stats(d), gateway: stats(g) };
}

const f = (x: number, digits = 3): string => x.toFixed(digits);

async function withStack<T>(policies: string[], mockScript: object | undefined, run: (stack: Stack) => Promise<T>): Promise<T> {
  const stack = await startStack({
    policies: `policies:\n${policies.map((p) => `  - ${p}`).join("\n")}\n`,
    logLevel: "warn",
    ...(mockScript !== undefined ? { mockEnv: { MOCK_LLM_DEFAULT_SCRIPT: JSON.stringify(mockScript) } } : {}),
  });
  try {
    return await run(stack);
  } finally {
    await stack.stop();
  }
}

async function main(): Promise<void> {
  console.log(`Luthien per-call overhead — Node ${process.version}; times in ms; ${CALLS} sequential calls per side after ${WARMUP} warm-up\n`);
  console.log("| scenario | mock direct p50 | via gateway p50 | added p50 | direct p99 | gateway p99 |");
  console.log("| --- | --- | --- | --- | --- | --- |");
  const chains: [string, string[]][] = [
    ["SKIP (noop)", ["use: noop"]],
    ["FULL (all-caps)", ["use: all-caps"]],
  ];
  for (const [label, policies] of chains) {
    await withStack(policies, undefined, async (stack) => {
      for (const stream of [false, true]) {
        const { direct, gateway } = await compare(stack, ask(stream));
        console.log(`| ${label}, ${stream ? "stream (whole body)" : "JSON"} | ${f(direct.p50)} | ${f(gateway.p50)} | **${f(gateway.p50 - direct.p50)}** | ${f(direct.p99)} | ${f(gateway.p99)} |`);
      }
    });
  }

  // Per-event cost: long streams through SKIP vs FULL chains; the difference over the event count is what one
  // event's engine round trip (pipelined) adds.
  const script = { chunks: Array.from({ length: STREAM_CHUNKS }, (_, i) => `word${i} `) };
  const streamCalls = Math.max(20, Math.floor(CALLS / 10));
  console.log(`\nPer-event cost — streams of ${STREAM_CHUNKS} events, ${streamCalls} sequential streams per side\n`);
  console.log("| chain | direct p50 | via gateway p50 | added per stream | added per event vs direct | events/s through gateway |");
  console.log("| --- | --- | --- | --- | --- | --- |");
  const perEvent: Record<string, number> = {};
  const streamChains: [string, string[]][] = [
    ["noop (SKIP)", ["use: noop"]],
    ["all-caps (FULL)", ["use: all-caps"]],
    ["all-caps + string-replace + secret-redaction (FULL)", ["use: all-caps", 'use: string-replace\n    with: { replacements: [["word1", "WORD-ONE"]] }', "use: secret-redaction"]],
  ];
  for (const [label, policies] of streamChains) {
    await withStack(policies, script, async (stack) => {
      const { direct, gateway } = await compare(stack, ask(true), streamCalls);
      const added = gateway.p50 - direct.p50;
      perEvent[label] = added / STREAM_CHUNKS;
      console.log(
        `| ${label} | ${f(direct.p50)} | ${f(gateway.p50)} | ${f(added)} | ${f(added / STREAM_CHUNKS, 4)} | ${Math.round(STREAM_CHUNKS / (gateway.p50 / 1000))} |`,
      );
    });
  }
  const skip = perEvent["noop (SKIP)"] ?? 0;
  for (const [label] of streamChains.slice(1)) {
    console.log(`\n${label}: ${f((perEvent[label] ?? 0) - skip, 4)} ms per event more than noop`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
