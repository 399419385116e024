/**
 * One Prometheus counter or gauge in a `/metrics` page, summed over its series (labels such as `service`); NaN when
 * the page or the metric is not there (a service without it, or one that does not answer).
 */
export async function readMetric(baseUrl: string, name: string): Promise<number> {
  try {
    const res = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) return NaN;
    const series = [...(await res.text()).matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "gm"))];
    return series.length === 0 ? NaN : series.reduce((sum, m) => sum + Number(m[1]), 0);
  } catch {
    return NaN;
  }
}

/** How much activity one gateway published, read from its `/metrics`. */
export interface PublishedActivity {
  /** Events JetStream acknowledged. */
  published: number;
  /** Events dropped (outbox full, or not published at shutdown). */
  dropped: number;
  /** Events waiting in the outbox now. */
  outbox: number;
}

/** What `gatewayUrl`'s publisher did so far (`luthien_gateway_activity_*`). */
export async function publishedActivity(gatewayUrl: string): Promise<PublishedActivity> {
  const [published, dropped, outbox] = await Promise.all(
    ["activity_published_total", "activity_dropped_total", "activity_outbox_events"].map((m) => readMetric(gatewayUrl, `luthien_gateway_${m}`)),
  );
  return { published: published ?? NaN, dropped: dropped ?? NaN, outbox: outbox ?? NaN };
}

/** Events the monitor at `monitorUrl` stored so far (`luthien_monitor_events_stored_total`). */
export function storedActivity(monitorUrl: string): Promise<number> {
  return readMetric(monitorUrl, "luthien_monitor_events_stored_total");
}
