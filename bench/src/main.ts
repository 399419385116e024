/**
 * `pnpm bench`: per-call overhead of the gateway (and its engine round trips) against calling the mock provider
 * directly, measured in one run so both sides see the same machine state.
 *
 * Env: `BENCH_CALLS` sequential calls per scenario (default 1000), `BENCH_WARMUP` (default 200).
 */
import { startStack, type Stack } from "@luthien/testkit";

const CALLS = Number(process.env["BENCH_CALLS"] ?? 1000);
const WARMUP = Number(process.env["BENCH_WARMUP"] ?? 200);

const BODY = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] });
const STREAM_BODY = JSON.stringify({ model: "gpt-4o-mini", stream: true, messages: [{ role: "user", content: "hi" }] });

interface Stats {
  p50: number;
  p99: number;
  mean: number;
}

function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { p50: at(0.5), p99: at(0.99), mean: samples.reduce((a, b) => a + b, 0) / samples.length };
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

async function scenario(stack: Stack, name: string, body: string): Promise<string> {
  const direct = `${stack.mock.url}/v1/chat/completions`;
  const gateway = `${stack.gateway.url}/v1/chat/completions`;
  await timeCalls(direct, body, WARMUP);
  await timeCalls(gateway, body, WARMUP);
  // Interleave halves so drift in machine load hits both sides alike.
  const half = Math.ceil(CALLS / 2);
  const d = [...(await timeCalls(direct, body, half))];
  const g = [...(await timeCalls(gateway, body, half))];
  d.push(...(await timeCalls(direct, body, CALLS - half)));
  g.push(...(await timeCalls(gateway, body, CALLS - half)));
  const sd = stats(d);
  const sg = stats(g);
  const f = (x: number): string => x.toFixed(3);
  return `| ${name} | ${f(sd.p50)} | ${f(sg.p50)} | **${f(sg.p50 - sd.p50)}** | ${f(sd.p99)} | ${f(sg.p99)} | ${(sg.p50 / sd.p50).toFixed(2)}× |`;
}

async function main(): Promise<void> {
  const rows: string[] = [];
  for (const [policy, label] of [
    ["noop", "SKIP (noop)"],
    ["all-caps", "FULL (all-caps)"],
  ] as const) {
    const stack = await startStack({ policies: `policies:\n  - use: ${policy}\n`, logLevel: "warn" });
    try {
      rows.push(await scenario(stack, `${label}, JSON`, BODY));
      rows.push(await scenario(stack, `${label}, stream (whole body)`, STREAM_BODY));
    } finally {
      await stack.stop();
    }
  }
  console.log(`\nLuthien per-call overhead — ${CALLS} sequential calls per side after ${WARMUP} warm-up; Node ${process.version}; ms\n`);
  console.log("| scenario | mock direct p50 | via gateway p50 | added p50 | direct p99 | gateway p99 | ratio p50 |");
  console.log("| --- | --- | --- | --- | --- | --- | --- |");
  for (const r of rows) console.log(r);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
