/**
 * Awaits `work`, calling `ctx.keepalive()` every `intervalMs` until it settles, so a slow step (a judge model, a
 * remote lookup) extends the gateway's verdict deadline instead of tripping it. The gateway bounds the extension
 * (`POLICY_MAX_WAIT_MS`), so `work` should carry its own timeout below that.
 * @param intervalMs @default 1000
 */
export async function withKeepalive<T>(ctx: { keepalive(): void }, work: Promise<T>, intervalMs = 1000): Promise<T> {
  const timer = setInterval(() => ctx.keepalive(), intervalMs);
  // Never the reason a process stays up: `work` itself keeps it alive for as long as it matters.
  timer.unref();
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}
