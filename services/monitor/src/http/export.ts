import type { Response } from "express";
import type { CallQuery, CallSummary, MonitorStore } from "../store";

/** The most rows one export writes; a larger list is cut there (the last line says so in CSV, a field in JSON). */
export const MAX_EXPORT_ROWS = 100_000;

/** The CSV's columns, in order: what a reviewer filters and sorts by in a spreadsheet. */
const COLUMNS: [string, (c: CallSummary) => unknown][] = [
  ["call_id", (c) => c.callId],
  ["started_at", (c) => c.startedAt.toISOString()],
  ["verdict", (c) => c.verdict],
  ["decided_by", (c) => c.decidedBy],
  ["change", (c) => c.changeSummary],
  ["status", (c) => c.status],
  ["outcome", (c) => c.outcome],
  ["model", (c) => c.model],
  ["provider", (c) => c.provider],
  ["route", (c) => c.route],
  ["stream", (c) => c.stream],
  ["key_id", (c) => c.keyId],
  ["owner", (c) => c.owner],
  ["session_id", (c) => c.sessionId],
  ["latency_ms", (c) => c.latencyMs],
  ["ttft_ms", (c) => c.ttftMs],
  ["input_tokens", (c) => c.inputTokens],
  ["output_tokens", (c) => c.outputTokens],
  ["cost_usd", (c) => c.costUsd],
  ["policy_actions", (c) => c.policyActions.join(" ")],
  ["engine", (c) => c.engine],
  ["chain", (c) => c.chain],
  ["config_version", (c) => c.configVersion],
  ["bypassed", (c) => c.bypassed],
  ["error_type", (c) => c.errorType],
  ["error_message", (c) => c.errorMessage],
  ["label", (c) => c.label?.label],
];

/**
 * One CSV field (RFC 4180): quoted when it holds a quote, comma or line break. A text a spreadsheet would run as a
 * formula (`=`, `+`, `-`, `@`, tab, carriage return first) gets a leading `'`: prompts are attacker-written.
 */
export function csvField(v: unknown): string {
  if (v === null || v === undefined) return "";
  let s = typeof v === "string" ? v : String(v);
  if (typeof v === "string" && /^[=+\-@\t\r]/.test(s)) s = "'" + s;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const csvLine = (values: unknown[]): string => values.map(csvField).join(",") + "\r\n";

/**
 * Writes every call of a filtered list as CSV or JSON, page by page, waiting for the client to read (a large export
 * holds one page in memory). Stops when the client leaves.
 */
export async function exportCalls(o: { store: MonitorStore; query: CallQuery; format: "csv" | "json"; max: number; res: Response; signal: AbortSignal }): Promise<void> {
  const { res, format } = o;
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  res.status(200).set({
    "content-type": format === "csv" ? "text/csv; charset=utf-8" : "application/json; charset=utf-8",
    "content-disposition": `attachment; filename="luthien-calls-${stamp}.${format}"`,
    "cache-control": "no-store",
  });
  const write = async (chunk: string): Promise<void> => {
    if (!res.write(chunk)) await new Promise<void>((resolve) => res.once("drain", resolve).once("close", resolve));
  };
  let written = 0;
  let cursor: string | undefined;
  let more = true;
  await write(format === "csv" ? csvLine(COLUMNS.map(([name]) => name)) : '{"calls":[');
  try {
    while (more && written < o.max && !o.signal.aborted) {
      const page = await o.store.listCalls({ ...o.query, limit: Math.min(200, o.max - written), ...(cursor !== undefined ? { cursor } : {}) });
      for (const c of page.calls) {
        await write(format === "csv" ? csvLine(COLUMNS.map(([, get]) => get(c))) : (written > 0 ? "," : "") + JSON.stringify(c));
        written++;
      }
      cursor = page.nextCursor ?? undefined;
      more = page.nextCursor !== null;
    }
  } catch (err) {
    // The status line is sent: a cut connection is the only way left to say the file is incomplete.
    res.destroy(err instanceof Error ? err : new Error(String(err)));
    return;
  }
  const truncated = more && written >= o.max;
  if (format === "json") await write(`],"count":${written},"truncated":${truncated}}`);
  else if (truncated) await write(csvLine([`# cut at ${written} rows; narrow the filters to export the rest`]));
  res.end();
}
