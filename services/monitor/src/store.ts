import { createHash } from "node:crypto";
import { parseActivityEvent, type ActivityEvent, type ActivityMessage } from "@luthien/events";
import { and, arrayContains, asc, count, desc, eq, gte, ilike, inArray, isNotNull, isNull, lt, sql, type AnyColumn, type SQL } from "drizzle-orm";
import { alias } from "drizzle-orm/pg-core";
import { isTransientDatabaseError, rootCauseMessage, type MonitorDatabase, type MonitorDb } from "./db/database";
import { calls, configEvents, deadLetters, events, labels } from "./db/schema";
import { DatabaseUnavailableError, InvalidQueryError } from "./errors";
import { storeOriginal, type StoreOriginals } from "./originals";
import { escapeJson, escapeString, mayNeedEscaping } from "./sanitize";
import { MAX_SEARCH_TEXT, summarize, type CallPatch } from "./summary";
import { BLOCK_VERBS, changeSummaryOf, decidedBySql, HOLD_VERBS, MODIFY_VERBS, verdictIn, verdictSql, type Verdict } from "./verdict";

/** What storing one batch did. */
export interface IngestResult {
  /**
   * Events stored now, in stream order, as stored (originals redacted per `storeOriginals`; config changes
   * included); redeliveries of stored events are not among them.
   */
  inserted: ActivityEvent[];
  /** Valid events that were already stored. */
  duplicates: number;
  /** Messages stored as dead letters. */
  deadLetters: number;
}

/** Filters and paging of {@link MonitorStore.listCalls}. */
export interface CallQuery {
  model?: string;
  keyId?: string;
  owner?: string;
  userId?: string;
  sessionId?: string;
  status?: number;
  outcome?: string;
  /** A `<policy>.<action>` the call must have. */
  action?: string;
  /** A policy the call must have an action of (shadow ones included). */
  policy?: string;
  /** Calls whose verdict is one of these. */
  verdict?: Verdict[];
  /** Calls labelled so, labelled at all (`any`), or not (`none`). */
  label?: LabelFilter;
  /** Substring (case-insensitive) of ids, model, prompts, answers, error messages. */
  q?: string;
  /** Calls started at or after. */
  from?: Date;
  /** Calls started before. */
  to?: Date;
  /** From a previous page's `nextCursor`. */
  cursor?: string;
  /** What the list is ordered by (ties by call id). @default "started" */
  sort?: CallSort;
  /** `asc`: oldest (smallest) first (a session's calls in order). @default "desc" */
  order?: "asc" | "desc";
  /** @default 50, at most {@link MAX_PAGE_SIZE} */
  limit?: number;
}

export const MAX_PAGE_SIZE = 200;

/** Orders of the call list; each but `started` puts calls without the value last (descending) or first. */
export const CALL_SORTS = ["started", "latency", "ttft", "cost"] as const;
export type CallSort = (typeof CALL_SORTS)[number];
const SORT_COLUMNS = { latency: calls.latencyMs, ttft: calls.ttftMs, cost: calls.costUsd } as const;

/** What a person said of a call: a policy should have stopped it, or it was fine. */
export type Label = "should_block" | "fine";
export const LABELS: readonly Label[] = ["should_block", "fine"];
export type LabelFilter = Label | "any" | "none";
export const LABEL_FILTERS: readonly LabelFilter[] = [...LABELS, "any", "none"];

/** A call's label. */
export interface CallLabel {
  label: Label;
  note: string;
  labeledAt: Date;
}

/** Filters and paging of {@link MonitorStore.replayCalls}. */
export interface ReplayQuery {
  /** Calls started at or after. */
  from?: Date;
  /** Calls started before. */
  to?: Date;
  cursor?: string;
  /** true: labelled calls only; false: unlabelled ones only. @default both */
  labelled?: boolean;
  /** @default 200, at most {@link MAX_REPLAY_PAGE_SIZE} */
  limit?: number;
}

export const MAX_REPLAY_PAGE_SIZE = 1000;

/** An ended call with what a replay needs: its originals, what was sent on, and what happened then. */
export interface ReplayCall {
  callId: string;
  startedAt: Date;
  format: string | null;
  stream: boolean | null;
  model: string | null;
  keyId: string | null;
  owner: string | null;
  sessionId: string | null;
  route: string | null;
  status: number | null;
  outcome: string | null;
  policyActions: string[];
  label: { label: Label; note: string } | null;
  /** `data.body` of `request.received`: the original (redacted as `MONITOR_STORE_ORIGINALS` says). */
  request: unknown;
  /** `data.body` of `request.sent`. */
  finalRequest: unknown;
  /** `data.body` of `response.received`: the original, assembled for a stream. */
  response: unknown;
  /** `data.body` of `response.sent`. */
  finalResponse: unknown;
  /** `data` (`{ event, data }`) of the call's `chunk.received` events in order; null when none are stored with their data. */
  chunks: unknown[] | null;
}

/** The facets that are columns of a call (or its verdict), and the column. */
const FACET_COLUMNS = [
  ["verdicts", "verdict"],
  ["models", "model"],
  ["keys", "key_id"],
  ["owners", "owner"],
  ["sessions", "session_id"],
  ["statuses", "status"],
  ["providers", "provider"],
  ["engines", "engine"],
  ["chains", "chain"],
  ["configVersions", "config_version"],
] as const;

/** A time range. */
export interface RangeQuery {
  /** @default no lower bound */
  from?: Date;
  /** @default no upper bound */
  to?: Date;
}

/** A value of a filter and how many calls in the range have it. */
export interface FacetValue {
  value: string;
  count: number;
}

/** At most {@link MAX_FACET_VALUES} values per facet. */
export interface Facets {
  verdicts: FacetValue[];
  policies: FacetValue[];
  actions: FacetValue[];
  models: FacetValue[];
  keys: FacetValue[];
  owners: FacetValue[];
  sessions: FacetValue[];
  statuses: FacetValue[];
  providers: FacetValue[];
  engines: FacetValue[];
  chains: FacetValue[];
  configVersions: FacetValue[];
}

export const MAX_FACET_VALUES = 200;

export interface DashboardQuery {
  from: Date;
  to: Date;
  /** Bucket width; the range is cut into at most {@link MAX_BUCKETS}. */
  bucketMs: number;
}

export const MAX_BUCKETS = 1000;

/** One bucket of the dashboard's series (every bucket of the range is there, empty ones as zeros). */
export interface DashboardBucket {
  /** The bucket's start. */
  t: Date;
  requests: number;
  /** Calls that failed (`failed` verdict). */
  errors: number;
  /** Calls a policy or the gateway intervened in: blocked, denied, modified or held. */
  interventions: number;
  latencyP50: number | null;
  latencyP95: number | null;
  ttftP50: number | null;
  ttftP95: number | null;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

export interface DashboardGroup {
  value: string;
  calls: number;
  /** Calls blocked, denied, modified or held. */
  interventions: number;
  costUsd: number;
  inputTokens: number;
  outputTokens: number;
}

export interface Dashboard {
  from: Date;
  to: Date;
  bucketMs: number;
  series: DashboardBucket[];
  totals: Omit<DashboardBucket, "t">;
  verdicts: FacetValue[];
  /** `<policy>.<action>` counts (shadow ones included: they read `would_*`). */
  interventions: { policy: string; action: string; count: number }[];
  top: { keys: DashboardGroup[]; owners: DashboardGroup[]; models: DashboardGroup[]; sessions: DashboardGroup[] };
}

/** Filters of the grouped views. */
export interface GroupQuery {
  keyId?: string;
  owner?: string;
  from?: Date;
  to?: Date;
  /** @default 50, at most {@link MAX_PAGE_SIZE} */
  limit?: number;
}

export interface SessionSummary {
  sessionId: string;
  calls: number;
  firstAt: Date;
  lastAt: Date;
  keyIds: string[];
  owners: string[];
  /** Calls with at least one policy intervention. */
  intervened: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

export interface KeyUsage {
  keyId: string;
  owners: string[];
  calls: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  /** Calls refused by a rate limit (`rate_limit_error` from the gateway) or a budget (`budget_exceeded`). */
  limited: number;
  budgetRefused: number;
  denied: number;
  lastAt: Date;
}

/** Error types the gateway gives calls its limits refused; a provider's own 429 carries its own type. */
const LIMIT_TYPES = ["rate_limit_error", "rate_limiter_unavailable"];

/** A `calls` row as the API returns it, with the call's label, verdict and what decided it. */
export type CallSummary = Omit<typeof calls.$inferSelect, "searchText"> & {
  label: CallLabel | null;
  verdict: Verdict;
  /** The policy that decided the verdict, `gateway` for its own refusals; null when no one intervened. */
  decidedBy: string | null;
  /** One line of what the deciding policy did (listCalls and getCall); null when nothing was changed or said. */
  changeSummary: string | null;
};

/** One call with everything the UI shows about it. */
export interface CallDetail {
  call: CallSummary | null;
  events: (typeof events.$inferSelect)[];
  /** More events exist than were returned. */
  eventsTruncated: boolean;
  /** `data.body` of `request.received` (original) and `request.sent` (final); null when not (yet) stored. */
  request: { original: unknown; final: unknown };
  /** The error exactly as the client received it (`call.ended`'s `errorBody`); null when it got none. */
  errorBody: unknown;
  /** `data.body` of `response.received` (original) and `response.sent` (final). */
  response: { original: unknown; final: unknown };
  /**
   * How the originals shown were stored (`MONITOR_STORE_ORIGINALS` when they arrived): `redacted`, `full` or
   * `none`; null when not stored (yet), or stored by a monitor older than the setting (in full).
   */
  originals: { request: StoreOriginals | null; response: StoreOriginals | null };
}

/** A policy configuration change (`policy.config.reloaded` / `policy.config.rejected`). */
export type ConfigEventRow = typeof configEvents.$inferSelect;

/** Options of {@link createStore}. */
export interface StoreOptions {
  /** How originals are stored; see {@link StoreOriginals}. @default "redacted" */
  storeOriginals?: StoreOriginals;
}

/** Reads and writes the monitor's tables. Every query is parameterised (drizzle). */
export interface MonitorStore {
  /**
   * Stores a batch in one transaction: events (`ON CONFLICT (id) DO NOTHING`), the calls they touch, and dead
   * letters for messages that are not valid events. When the database refuses the transaction while it answers,
   * the batch is stored message by message and a message the database still refuses becomes a dead letter.
   * @throws DatabaseUnavailableError when the database does not answer or the connection was lost (the caller
   *   retries the batch; nothing of it is acked until it is committed)
   */
  ingest(messages: readonly ActivityMessage[]): Promise<IngestResult>;
  listCalls(query: CallQuery): Promise<{ calls: CallSummary[]; nextCursor: string | null }>;
  /** undefined when no event of the call is stored. */
  getCall(callId: string, maxEvents?: number): Promise<CallDetail | undefined>;
  /** Policy configuration changes, newest first; at most {@link MAX_PAGE_SIZE}. */
  listConfigEvents(limit: number): Promise<ConfigEventRow[]>;
  stats(): Promise<{ events: number; calls: number; deadLetters: number; configEvents: number }>;
  /** Sessions with calls in the range, most recent first: their calls, keys, owners, interventions, tokens and cost. */
  listSessions(query: GroupQuery): Promise<SessionSummary[]>;
  /** Usage per key in the range: calls, tokens, cost, how often a limit or budget refused it, denials. */
  keyUsage(query: GroupQuery): Promise<KeyUsage[]>;
  listDeadLetters(limit: number): Promise<{ id: number; subject: string; streamSeq: number | null; error: string; receivedAt: Date; raw: string }[]>;
  /** The known values of each filter in the range, most frequent first, for the UI's pickers. */
  facets(query: RangeQuery): Promise<Facets>;
  /** Figures over time and the top groups in a range, for the dashboard. */
  dashboard(query: DashboardQuery): Promise<Dashboard>;
  /** Labels a stored call (replacing its label); undefined when no such call is stored. */
  setLabel(callId: string, label: Label, note: string): Promise<CallLabel | undefined>;
  /** Removes a call's label, if it has one. */
  deleteLabel(callId: string): Promise<void>;
  /** Ended calls, oldest first, with their bodies and labels: one query per page. */
  replayCalls(query: ReplayQuery): Promise<{ calls: ReplayCall[]; nextCursor: string | null }>;
}

interface Decoded {
  /** Call events. */
  good: { event: ActivityEvent; streamSeq: number; storedAs: StoreOriginals | undefined }[];
  /** Policy configuration changes: no call's. */
  config: { event: ActivityEvent; streamSeq: number }[];
  bad: { subject: string; streamSeq: number; error: string; raw: Uint8Array }[];
  /** Every valid event, in stream order. */
  order: ActivityEvent[];
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Config changes are published under a pseudo call id; they are kept apart from calls. */
const isConfigEvent = (type: string): boolean => type.startsWith("policy.config.");

function decode(messages: readonly ActivityMessage[], mode: StoreOriginals): Decoded {
  const out: Decoded = { good: [], config: [], bad: [], order: [] };
  const seen = new Set<string>();
  for (const m of messages) {
    try {
      let text: string;
      try {
        text = utf8.decode(m.data);
      } catch {
        throw new Error("not valid UTF-8");
      }
      let event = parseActivityEvent(text);
      if (mayNeedEscaping(text)) event = escapeJson(event);
      // The same event twice in one batch (a retry racing its original) is stored once.
      if (seen.has(event.id)) continue;
      seen.add(event.id);
      if (isConfigEvent(event.type)) {
        out.config.push({ event, streamSeq: m.streamSeq });
      } else {
        const stored = storeOriginal(event, mode);
        event = stored.event;
        out.good.push({ event, streamSeq: m.streamSeq, storedAs: stored.storedAs });
      }
      out.order.push(event);
    } catch (err) {
      out.bad.push({ subject: m.subject, streamSeq: m.streamSeq, error: err instanceof Error ? err.message : String(err), raw: m.data });
    }
  }
  return out;
}

type Tx = Parameters<Parameters<MonitorDb["transaction"]>[0]>[0];

// Both statements below send the whole batch as ONE jsonb parameter expanded by jsonb_to_recordset: parameterised
// all the same, and ~5x faster than a multi-row VALUES list with thousands of bound parameters (measured: 500
// events in ~40 ms instead of ~180 ms). Column names and types come from the constants here, never from input.

const EVENT_COLUMNS: [string, string][] = [
  ["id", "uuid"],
  ["call_id", "text"],
  ["seq", "integer"],
  ["type", "text"],
  ["source", "text"],
  ["time", "timestamptz"],
  ["data", "json"],
  ["stream_seq", "bigint"],
  ["stored_as", "text"],
];

const CONFIG_EVENT_COLUMNS: [string, string][] = [
  ["id", "uuid"],
  ["type", "text"],
  ["source", "text"],
  ["seq", "integer"],
  ["time", "timestamptz"],
  ["data", "jsonb"],
  ["stream_seq", "bigint"],
];

/** `calls` columns, their types, and how a patch merges into an existing row (order-independent). */
const CALL_COLUMNS: [string, string, string][] = [
  ["call_id", "text", ""],
  ["started_at", "timestamptz", "least(calls.started_at, excluded.started_at)"],
  ["last_event_at", "timestamptz", "greatest(calls.last_event_at, excluded.last_event_at)"],
  ["ended_at", "timestamptz", "keep"],
  ["model", "text", "keep"],
  ["key_id", "text", "keep"],
  ["owner", "text", "keep"],
  ["user_id", "text", "keep"],
  ["session_id", "text", "keep"],
  ["format", "text", "keep"],
  ["provider", "text", "keep"],
  ["route", "text", "keep"],
  ["stream", "boolean", "keep"],
  ["status", "integer", "keep"],
  ["outcome", "text", "keep"],
  ["latency_ms", "integer", "keep"],
  ["ttft_ms", "integer", "keep"],
  ["usage", "jsonb", "keep"],
  ["input_tokens", "integer", "keep"],
  ["output_tokens", "integer", "keep"],
  ["cost_usd", "double precision", "keep"],
  ["chunks_in", "integer", "keep"],
  ["chunks_out", "integer", "keep"],
  ["policy_actions", "text[]", "array(select distinct a from unnest(calls.policy_actions || excluded.policy_actions) as a order by a)"],
  ["bypassed", "text", "keep"],
  ["engine", "text", "keep"],
  ["chain", "text", "keep"],
  ["config_version", "text", "keep"],
  ["error_type", "text", "keep"],
  ["error_message", "text", "keep"],
  ["event_count", "integer", "calls.event_count + excluded.event_count"],
  ["request_received_id", "uuid", "keep"],
  ["request_sent_id", "uuid", "keep"],
  ["response_received_id", "uuid", "keep"],
  ["response_sent_id", "uuid", "keep"],
  [
    "search_text",
    "text",
    `left(case when excluded.search_text = '' then calls.search_text when calls.search_text = '' then excluded.search_text else calls.search_text || chr(10) || excluded.search_text end, ${MAX_SEARCH_TEXT})`,
  ],
];

const recordsetOf = (cols: [string, string, ...string[]][]): SQL => sql.raw(cols.map(([n, t]) => `${n} ${t}`).join(", "));
const namesOf = (cols: [string, ...string[]][]): SQL => sql.raw(cols.map(([n]) => n).join(", "));

// Events go in as `json`, not `jsonb`: jsonb would reorder every body's keys on the way in.
const INSERT_EVENTS_HEAD = sql`insert into events (${namesOf(EVENT_COLUMNS)}) select ${namesOf(EVENT_COLUMNS)} from json_to_recordset(`;
const INSERT_EVENTS_TAIL = sql`::json) as x(${recordsetOf(EVENT_COLUMNS)}) on conflict (id) do nothing returning id`;
const INSERT_CONFIG_HEAD = sql`insert into config_events (${namesOf(CONFIG_EVENT_COLUMNS)}) select ${namesOf(CONFIG_EVENT_COLUMNS)} from jsonb_to_recordset(`;
const INSERT_CONFIG_TAIL = sql`::jsonb) as x(${recordsetOf(CONFIG_EVENT_COLUMNS)}) on conflict (id) do nothing returning id`;

const UPSERT_CALLS_HEAD = sql`insert into calls (${namesOf(CALL_COLUMNS)}) select ${sql.raw(
  CALL_COLUMNS.map(([n]) =>
    n === "policy_actions" ? "coalesce(policy_actions, '{}')" : n === "event_count" ? "coalesce(event_count, 0)" : n === "search_text" ? "coalesce(search_text, '')" : n,
  ).join(", "),
)} from jsonb_to_recordset(`;
const UPSERT_CALLS_TAIL = sql`::jsonb) as x(${recordsetOf(CALL_COLUMNS)}) on conflict (call_id) do update set ${sql.raw(
  CALL_COLUMNS.filter(([n]) => n !== "call_id")
    .map(([n, , rule]) => `${n} = ${rule === "keep" ? `coalesce(excluded.${n}, calls.${n})` : rule}`)
    .join(", "),
)}`;

function rowsOf<T>(result: unknown): T[] {
  // node-postgres and PGlite both answer execute() with an object carrying `rows`.
  return (result as { rows: T[] }).rows;
}

function patchToRecord(p: CallPatch): Record<string, unknown> {
  return {
    call_id: p.callId,
    started_at: p.startedAt.toISOString(),
    last_event_at: p.lastEventAt.toISOString(),
    ended_at: p.endedAt?.toISOString(),
    model: p.model,
    key_id: p.keyId,
    owner: p.owner,
    user_id: p.userId,
    session_id: p.sessionId,
    format: p.format,
    provider: p.provider,
    route: p.route,
    stream: p.stream,
    status: p.status,
    outcome: p.outcome,
    latency_ms: p.latencyMs,
    ttft_ms: p.ttftMs,
    usage: p.usage,
    input_tokens: p.inputTokens,
    output_tokens: p.outputTokens,
    cost_usd: p.costUsd,
    chunks_in: p.chunksIn,
    chunks_out: p.chunksOut,
    policy_actions: p.policyActions,
    bypassed: p.bypassed,
    engine: p.engine,
    chain: p.chain,
    config_version: p.configVersion,
    error_type: p.errorType,
    error_message: p.errorMessage,
    event_count: p.eventCount,
    request_received_id: p.requestReceivedId,
    request_sent_id: p.requestSentId,
    response_received_id: p.responseReceivedId,
    response_sent_id: p.responseSentId,
    search_text: p.searchText,
  };
}

async function write(tx: Tx, batch: Decoded): Promise<IngestResult> {
  const fresh = new Set<string>();
  if (batch.config.length > 0) {
    const records = JSON.stringify(
      batch.config.map(({ event: e, streamSeq }) => ({ id: e.id, type: e.type, source: e.source, seq: e.seq, time: e.time, data: e.data, stream_seq: streamSeq })),
    );
    for (const r of rowsOf<{ id: string }>(await tx.execute(sql`${INSERT_CONFIG_HEAD}${records}${INSERT_CONFIG_TAIL}`))) fresh.add(r.id);
  }
  if (batch.good.length > 0) {
    const records = JSON.stringify(
      batch.good.map(({ event: e, streamSeq, storedAs }) => ({
        id: e.id,
        call_id: e.callId,
        seq: e.seq,
        type: e.type,
        source: e.source,
        time: e.time,
        data: e.data,
        stream_seq: streamSeq,
        stored_as: storedAs,
      })),
    );
    const ids = rowsOf<{ id: string }>(await tx.execute(sql`${INSERT_EVENTS_HEAD}${records}${INSERT_EVENTS_TAIL}`));
    for (const r of ids) fresh.add(r.id);
    const byCall = new Map<string, ActivityEvent[]>();
    for (const { event: e } of batch.good) {
      if (!fresh.has(e.id)) continue;
      const list = byCall.get(e.callId);
      if (list === undefined) byCall.set(e.callId, [e]);
      else list.push(e);
    }
    if (byCall.size > 0) {
      const patches = JSON.stringify([...byCall].map(([callId, evs]) => patchToRecord(summarize(callId, evs))));
      await tx.execute(sql`${UPSERT_CALLS_HEAD}${patches}${UPSERT_CALLS_TAIL}`);
    }
  }
  if (batch.bad.length > 0) {
    await tx
      .insert(deadLetters)
      .values(
        batch.bad.map((b) => ({
          key: createHash("sha256").update(b.subject).update("\n").update(b.raw).digest("hex"),
          subject: escapeString(b.subject),
          streamSeq: b.streamSeq,
          error: escapeString(b.error).slice(0, 2000),
          raw: b.raw,
        })),
      )
      .onConflictDoNothing({ target: deadLetters.key });
  }
  const inserted = batch.order.filter((e) => fresh.has(e.id));
  return { inserted, duplicates: batch.order.length - inserted.length, deadLetters: batch.bad.length };
}

function encodeCursor(startedAt: Date, callId: string): string {
  return Buffer.from(JSON.stringify([startedAt.toISOString(), callId])).toString("base64url");
}

function decodeCursor(cursor: string): { startedAt: string; callId: string } {
  try {
    const v = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as unknown;
    if (Array.isArray(v) && typeof v[0] === "string" && typeof v[1] === "string" && !Number.isNaN(Date.parse(v[0]))) {
      return { startedAt: v[0], callId: v[1] };
    }
  } catch {
    // falls through to the error below
  }
  throw new InvalidQueryError("cursor: not a cursor this API returned");
}

/** A page's size: the asked one within 1 and `max`, `fallback` when none was asked. */
export function pageSize(limit: number | undefined, fallback = 50, max = MAX_PAGE_SIZE): number {
  return Math.min(Math.max(limit ?? fallback, 1), max);
}

/**
 * (column, call id) in the order its index (`desc nulls last`, drizzle's `.desc()`) is read forwards or backwards:
 * PostgreSQL's own default for `desc` is nulls first, which no index here matches, and the list would sort the table.
 */
function byColumn(col: AnyColumn, ascending: boolean): SQL[] {
  return ascending ? [sql`${col} asc nulls first`, sql`${calls.callId} asc nulls first`] : [sql`${col} desc nulls last`, sql`${calls.callId} desc nulls last`];
}

/** A cursor of a list sorted by a nullable column: its name, the last row's value and call id. */
function encodeSortCursor(sort: Exclude<CallSort, "started">, value: number | null, callId: string): string {
  return Buffer.from(JSON.stringify([sort, value, callId])).toString("base64url");
}

/**
 * Calls past a cursor in (column, call_id) order, descending with nulls last or ascending with nulls first: the
 * orders the column's index serves forwards and backwards.
 */
function pastSortCursor(cursor: string, sort: Exclude<CallSort, "started">, ascending: boolean): SQL {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    v = undefined;
  }
  if (!Array.isArray(v) || v[0] !== sort || !(v[1] === null || (typeof v[1] === "number" && Number.isFinite(v[1]))) || typeof v[2] !== "string") {
    throw new InvalidQueryError("cursor: not a cursor this API returned for this sort");
  }
  const col = SORT_COLUMNS[sort];
  const value = v[1] as number | null;
  const id = v[2];
  if (ascending) {
    return value === null ? sql`((${col} is null and ${calls.callId} > ${id}) or ${col} is not null)` : sql`(${col} > ${value} or (${col} = ${value} and ${calls.callId} > ${id}))`;
  }
  return value === null ? sql`(${col} is null and ${calls.callId} < ${id})` : sql`(${col} < ${value} or (${col} = ${value} and ${calls.callId} < ${id}) or ${col} is null)`;
}

/** Calls after (ascending) or before (descending) a cursor's position, in (started_at, call_id) order. */
function pastCursor(cursor: string, ascending: boolean): SQL {
  const c = decodeCursor(cursor);
  return ascending
    ? sql`(${calls.startedAt}, ${calls.callId}) > (${c.startedAt}::timestamptz, ${c.callId})`
    : sql`(${calls.startedAt}, ${calls.callId}) < (${c.startedAt}::timestamptz, ${c.callId})`;
}

/** The condition of a label filter, on a query left-joined with `labels`. */
function labelWhere(filter: LabelFilter): SQL {
  if (filter === "any") return isNotNull(labels.callId);
  if (filter === "none") return isNull(labels.callId);
  return eq(labels.label, filter);
}

/** A page of `limit` out of `limit + 1` rows, and the cursor after it when there is more. */
function paged<T extends { startedAt: Date; callId: string }>(rows: T[], limit: number): { page: T[]; nextCursor: string | null } {
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return { page, nextCursor: rows.length > limit && last !== undefined ? encodeCursor(last.startedAt, last.callId) : null };
}

function groupWhere(query: GroupQuery, base: SQL): SQL | undefined {
  const where: SQL[] = [base];
  if (query.keyId !== undefined) where.push(eq(calls.keyId, query.keyId));
  if (query.owner !== undefined) where.push(eq(calls.owner, query.owner));
  if (query.from !== undefined) where.push(gte(calls.startedAt, query.from));
  if (query.to !== undefined) where.push(lt(calls.startedAt, query.to));
  return and(...where);
}

function rangeWhere(query: RangeQuery): SQL {
  const where: SQL[] = [sql`true`];
  if (query.from !== undefined) where.push(sql`${calls.startedAt} >= ${query.from.toISOString()}::timestamptz`);
  if (query.to !== undefined) where.push(sql`${calls.startedAt} < ${query.to.toISOString()}::timestamptz`);
  return sql.join(where, sql` and `);
}

/** `%`, `_` and `\` taken literally in a LIKE pattern (backslash is PostgreSQL's default escape). */
function likeLiteral(s: string): string {
  return s.replace(/[\\%_]/g, (c) => "\\" + c);
}

/** Creates the store over an open database. */
export function createStore(database: MonitorDatabase, options: StoreOptions = {}): MonitorStore {
  const db = database.db;
  const mode = options.storeOriginals ?? "redacted";
  // Every column but search_text, which is large and only for filtering.
  const summaryColumns = {
    callId: calls.callId,
    startedAt: calls.startedAt,
    endedAt: calls.endedAt,
    lastEventAt: calls.lastEventAt,
    model: calls.model,
    keyId: calls.keyId,
    owner: calls.owner,
    userId: calls.userId,
    sessionId: calls.sessionId,
    format: calls.format,
    provider: calls.provider,
    route: calls.route,
    stream: calls.stream,
    status: calls.status,
    outcome: calls.outcome,
    latencyMs: calls.latencyMs,
    ttftMs: calls.ttftMs,
    usage: calls.usage,
    inputTokens: calls.inputTokens,
    outputTokens: calls.outputTokens,
    costUsd: calls.costUsd,
    chunksIn: calls.chunksIn,
    chunksOut: calls.chunksOut,
    policyActions: calls.policyActions,
    bypassed: calls.bypassed,
    errorType: calls.errorType,
    errorMessage: calls.errorMessage,
    eventCount: calls.eventCount,
    requestReceivedId: calls.requestReceivedId,
    requestSentId: calls.requestSentId,
    responseReceivedId: calls.responseReceivedId,
    responseSentId: calls.responseSentId,
    engine: calls.engine,
    chain: calls.chain,
    configVersion: calls.configVersion,
    verdict: verdictSql,
    decidedBy: decidedBySql,
    // Null (not an object of nulls) when the left join finds no label.
    label: { label: labels.label, note: labels.note, labeledAt: labels.labeledAt },
  };
  /** The change summary of each call, from the first event of the policy that decided it (one query per page). */
  const withSummaries = async <T extends { callId: string; verdict: Verdict; decidedBy: string | null }>(rows: T[]): Promise<(T & { changeSummary: string | null })[]> => {
    const verbs: Partial<Record<Verdict, readonly string[]>> = { blocked: BLOCK_VERBS, denied: BLOCK_VERBS, modified: MODIFY_VERBS, held: HOLD_VERBS };
    const wanted = rows.filter((r) => r.decidedBy !== null && verbs[r.verdict] !== undefined);
    const found = new Map<string, string>();
    if (wanted.length > 0) {
      const types = [...new Set(wanted.flatMap((r) => (verbs[r.verdict] ?? []).map((v) => `policy.${r.decidedBy ?? ""}.${v}`)))];
      const evs = await db
        .select({ callId: events.callId, type: events.type, data: events.data })
        .from(events)
        .where(
          and(
            inArray(
              events.callId,
              wanted.map((r) => r.callId),
            ),
            inArray(events.type, types),
          ),
        )
        .orderBy(asc(events.time), asc(events.seq));
      for (const e of evs) {
        if (found.has(e.callId)) continue;
        const row = wanted.find((r) => r.callId === e.callId);
        if (row === undefined || !e.type.startsWith(`policy.${row.decidedBy ?? ""}.`)) continue;
        const s = changeSummaryOf(e.type, e.data);
        if (s !== undefined) found.set(e.callId, s);
      }
    }
    return rows.map((r) => ({ ...r, changeSummary: found.get(r.callId) ?? null }));
  };
  const request = alias(events, "request_received");
  const finalRequest = alias(events, "request_sent");
  const response = alias(events, "response_received");
  const finalResponse = alias(events, "response_sent");

  return {
    async ingest(messages) {
      const batch = decode(messages, mode);
      // A connection lost mid-batch (a restart, a network error) is no verdict on the data: the whole batch is
      // retried later. Only a refusal while the database answers is looked into message by message.
      const refusal = async (err: unknown): Promise<void> => {
        if (isTransientDatabaseError(err) || !(await database.ping())) {
          throw new DatabaseUnavailableError(`database unavailable: ${rootCauseMessage(err)}`, { cause: err });
        }
      };
      try {
        return await db.transaction((tx) => write(tx, batch));
      } catch (err) {
        await refusal(err);
      }
      // The database answers, so the batch holds something it refuses: find it one message at a time.
      const result: IngestResult = { inserted: [], duplicates: 0, deadLetters: 0 };
      for (const m of messages) {
        const one = decode([m], mode);
        let r: IngestResult;
        try {
          r = await db.transaction((tx) => write(tx, one));
        } catch (err) {
          await refusal(err);
          const reason = `refused by the database: ${err instanceof Error ? err.message : String(err)}`;
          r = await db.transaction((tx) => write(tx, { good: [], config: [], order: [], bad: [{ subject: m.subject, streamSeq: m.streamSeq, error: reason, raw: m.data }] }));
        }
        result.inserted.push(...r.inserted);
        result.duplicates += r.duplicates;
        result.deadLetters += r.deadLetters;
      }
      return result;
    },

    async listCalls(query) {
      const limit = pageSize(query.limit);
      const where: SQL[] = [];
      if (query.model !== undefined) where.push(eq(calls.model, query.model));
      if (query.keyId !== undefined) where.push(eq(calls.keyId, query.keyId));
      if (query.owner !== undefined) where.push(eq(calls.owner, query.owner));
      if (query.userId !== undefined) where.push(eq(calls.userId, query.userId));
      if (query.sessionId !== undefined) where.push(eq(calls.sessionId, query.sessionId));
      if (query.status !== undefined) where.push(eq(calls.status, query.status));
      if (query.outcome !== undefined) where.push(eq(calls.outcome, query.outcome));
      if (query.action !== undefined) where.push(arrayContains(calls.policyActions, [query.action]));
      if (query.policy !== undefined) where.push(sql`exists (select 1 from unnest(${calls.policyActions}) as a where a like ${likeLiteral(query.policy) + ".%"})`);
      if (query.verdict !== undefined && query.verdict.length > 0) where.push(verdictIn(query.verdict));
      if (query.label !== undefined) where.push(labelWhere(query.label));
      if (query.q !== undefined && query.q !== "") where.push(ilike(calls.searchText, `%${likeLiteral(query.q)}%`));
      if (query.from !== undefined) where.push(gte(calls.startedAt, query.from));
      if (query.to !== undefined) where.push(lt(calls.startedAt, query.to));
      const ascending = query.order === "asc";
      const sort = query.sort ?? "started";
      let orderBy: SQL[];
      if (sort === "started") {
        if (query.cursor !== undefined) where.push(pastCursor(query.cursor, ascending));
        orderBy = byColumn(calls.startedAt, ascending);
      } else {
        const col = SORT_COLUMNS[sort];
        if (query.cursor !== undefined) where.push(pastSortCursor(query.cursor, sort, ascending));
        orderBy = byColumn(col, ascending);
      }
      const rows = await db
        .select(summaryColumns)
        .from(calls)
        .leftJoin(labels, eq(labels.callId, calls.callId))
        .where(where.length > 0 ? and(...where) : undefined)
        .orderBy(...orderBy)
        .limit(limit + 1);
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      let nextCursor: string | null = null;
      if (rows.length > limit && last !== undefined) {
        nextCursor =
          sort === "started"
            ? encodeCursor(last.startedAt, last.callId)
            : encodeSortCursor(sort, last[sort === "latency" ? "latencyMs" : sort === "ttft" ? "ttftMs" : "costUsd"], last.callId);
      }
      return { calls: await withSummaries(page), nextCursor };
    },

    async getCall(callId, maxEvents = 5000) {
      const [call] = await db.select(summaryColumns).from(calls).leftJoin(labels, eq(labels.callId, calls.callId)).where(eq(calls.callId, callId));
      const evs = await db
        .select()
        .from(events)
        .where(eq(events.callId, callId))
        // Within one millisecond, the order JetStream received them in (then seq) beats any guess across sources.
        .orderBy(asc(events.time), sql`${events.streamSeq} asc nulls last`, asc(events.seq))
        .limit(maxEvents + 1);
      if (call === undefined && evs.length === 0) return undefined;
      const ended = evs.find((e) => e.type === "call.ended");
      const errorBody = (ended?.data as Record<string, unknown> | undefined)?.["errorBody"] ?? null;
      const refs = [call?.requestReceivedId, call?.requestSentId, call?.responseReceivedId, call?.responseSentId].filter((x): x is string => x !== null && x !== undefined);
      const bodies = new Map<string, { body: unknown; storedAs: StoreOriginals | null }>();
      if (refs.length > 0) {
        const rows = await db.select({ id: events.id, data: events.data, storedAs: events.storedAs }).from(events).where(inArray(events.id, refs));
        for (const r of rows) {
          bodies.set(r.id, { body: (r.data as Record<string, unknown> | null)?.["body"] ?? null, storedAs: (r.storedAs as StoreOriginals | null) ?? null });
        }
      }
      const body = (id: string | null | undefined): unknown => (id !== null && id !== undefined ? (bodies.get(id)?.body ?? null) : null);
      const storedAs = (id: string | null | undefined): StoreOriginals | null => (id !== null && id !== undefined ? (bodies.get(id)?.storedAs ?? null) : null);
      return {
        call: call !== undefined ? ((await withSummaries([call]))[0] ?? null) : null,
        errorBody,
        events: evs.slice(0, maxEvents),
        eventsTruncated: evs.length > maxEvents,
        request: { original: body(call?.requestReceivedId), final: body(call?.requestSentId) },
        response: { original: body(call?.responseReceivedId), final: body(call?.responseSentId) },
        originals: { request: storedAs(call?.requestReceivedId), response: storedAs(call?.responseReceivedId) },
      };
    },

    async listConfigEvents(limit) {
      return db.select().from(configEvents).orderBy(desc(configEvents.time), desc(configEvents.id)).limit(pageSize(limit));
    },

    async listSessions(query) {
      const where = groupWhere(query, sql`${calls.sessionId} is not null and ${calls.sessionId} <> ''`);
      const rows = await db
        .select({
          sessionId: sql<string>`${calls.sessionId}`,
          calls: sql<number>`count(*)::int`,
          firstAt: sql<string>`min(${calls.startedAt})`,
          lastAt: sql<string>`max(${calls.startedAt})`,
          keyIds: sql<string[]>`array_remove(array_agg(distinct ${calls.keyId}), null)`,
          owners: sql<string[]>`array_remove(array_agg(distinct ${calls.owner}), null)`,
          intervened: sql<number>`count(*) filter (where cardinality(${calls.policyActions}) > 0)::int`,
          inputTokens: sql<number>`coalesce(sum(${calls.inputTokens}), 0)::bigint`,
          outputTokens: sql<number>`coalesce(sum(${calls.outputTokens}), 0)::bigint`,
          costUsd: sql<number>`coalesce(sum(${calls.costUsd}), 0)::float8`,
        })
        .from(calls)
        .where(where)
        .groupBy(calls.sessionId)
        .orderBy(sql`max(${calls.startedAt}) desc`)
        .limit(pageSize(query.limit));
      return rows.map((r) => ({
        ...r,
        firstAt: new Date(r.firstAt),
        lastAt: new Date(r.lastAt),
        inputTokens: Number(r.inputTokens),
        outputTokens: Number(r.outputTokens),
        costUsd: Number(r.costUsd),
      }));
    },

    async keyUsage(query) {
      const where = groupWhere(query, sql`${calls.keyId} is not null and ${calls.keyId} <> ''`);
      const rows = await db
        .select({
          keyId: sql<string>`${calls.keyId}`,
          owners: sql<string[]>`array_remove(array_agg(distinct ${calls.owner}), null)`,
          calls: sql<number>`count(*)::int`,
          inputTokens: sql<number>`coalesce(sum(${calls.inputTokens}), 0)::bigint`,
          outputTokens: sql<number>`coalesce(sum(${calls.outputTokens}), 0)::bigint`,
          costUsd: sql<number>`coalesce(sum(${calls.costUsd}), 0)::float8`,
          limited: sql<number>`count(*) filter (where ${calls.status} in (429, 503) and ${inArray(calls.errorType, LIMIT_TYPES)})::int`,
          budgetRefused: sql<number>`count(*) filter (where ${calls.errorType} = 'budget_exceeded')::int`,
          denied: sql<number>`count(*) filter (where ${calls.outcome} = 'denied')::int`,
          lastAt: sql<string>`max(${calls.startedAt})`,
        })
        .from(calls)
        .where(where)
        .groupBy(calls.keyId)
        .orderBy(sql`count(*) desc`)
        .limit(pageSize(query.limit));
      return rows.map((r) => ({ ...r, lastAt: new Date(r.lastAt), inputTokens: Number(r.inputTokens), outputTokens: Number(r.outputTokens), costUsd: Number(r.costUsd) }));
    },

    async stats() {
      const [[e], [c], [d], [k]] = await Promise.all([
        db.select({ n: count() }).from(events),
        db.select({ n: count() }).from(calls),
        db.select({ n: count() }).from(deadLetters),
        db.select({ n: count() }).from(configEvents),
      ]);
      return { events: e?.n ?? 0, calls: c?.n ?? 0, deadLetters: d?.n ?? 0, configEvents: k?.n ?? 0 };
    },

    async setLabel(callId, label, note) {
      const [known] = await db.select({ callId: calls.callId }).from(calls).where(eq(calls.callId, callId));
      if (known === undefined) return undefined;
      const row = { label, note: escapeString(note), labeledAt: new Date() };
      const [stored] = await db
        .insert(labels)
        .values({ callId, ...row })
        .onConflictDoUpdate({ target: labels.callId, set: row })
        .returning({ label: labels.label, note: labels.note, labeledAt: labels.labeledAt });
      return stored;
    },

    async deleteLabel(callId) {
      await db.delete(labels).where(eq(labels.callId, callId));
    },

    async replayCalls(query) {
      const limit = pageSize(query.limit, 200, MAX_REPLAY_PAGE_SIZE);
      // A call still in progress has no response to replay against.
      const where: SQL[] = [isNotNull(calls.endedAt)];
      if (query.from !== undefined) where.push(gte(calls.startedAt, query.from));
      if (query.to !== undefined) where.push(lt(calls.startedAt, query.to));
      if (query.labelled !== undefined) where.push(labelWhere(query.labelled ? "any" : "none"));
      if (query.cursor !== undefined) where.push(pastCursor(query.cursor, true));
      const rows = await db
        .select({
          callId: calls.callId,
          startedAt: calls.startedAt,
          format: calls.format,
          stream: calls.stream,
          model: calls.model,
          keyId: calls.keyId,
          owner: calls.owner,
          sessionId: calls.sessionId,
          route: calls.route,
          status: calls.status,
          outcome: calls.outcome,
          policyActions: calls.policyActions,
          label: { label: labels.label, note: labels.note },
          request: sql<unknown>`${request.data}->'body'`,
          finalRequest: sql<unknown>`${finalRequest.data}->'body'`,
          response: sql<unknown>`${response.data}->'body'`,
          finalResponse: sql<unknown>`${finalResponse.data}->'body'`,
          // Chunks stored without their data (MONITOR_STORE_ORIGINALS=none) say nothing a replay could use.
          chunks: sql<
            unknown[] | null
          >`(select json_agg(c.data order by c.seq) from events c where c.call_id = ${calls.callId} and c.type = 'chunk.received' and c.stored_as is distinct from 'none')`,
        })
        .from(calls)
        .leftJoin(labels, eq(labels.callId, calls.callId))
        .leftJoin(request, eq(request.id, calls.requestReceivedId))
        .leftJoin(finalRequest, eq(finalRequest.id, calls.requestSentId))
        .leftJoin(response, eq(response.id, calls.responseReceivedId))
        .leftJoin(finalResponse, eq(finalResponse.id, calls.responseSentId))
        .where(and(...where))
        .orderBy(...byColumn(calls.startedAt, true))
        .limit(limit + 1);
      const { page, nextCursor } = paged(rows, limit);
      return { calls: page, nextCursor };
    },

    async facets(query) {
      const range = rangeWhere(query);
      // One pass over the range: every facet is a grouping set of the same scan, the verdict computed once per row.
      const names = FACET_COLUMNS.map(([, column]) => column).join(", ");
      const rows = rowsOf<{ g: number | string; value: string | number | null; n: number | string }>(
        await db.execute(
          sql`select g, coalesce(${sql.raw(FACET_COLUMNS.map(([, column]) => `${column}::text`).join(", "))}) as value, n from (
            select grouping(${sql.raw(names)}) as g, ${sql.raw(names)}, count(*) as n,
              row_number() over (partition by grouping(${sql.raw(names)}) order by count(*) desc) as r
            from (select calls.*, ${verdictSql} as verdict from calls where ${range}) c
            group by grouping sets (${sql.raw(FACET_COLUMNS.map(([, column]) => `(${column})`).join(", "))})
          ) x where r <= ${MAX_FACET_VALUES} order by n desc, value`,
        ),
      );
      const all = (1 << FACET_COLUMNS.length) - 1;
      const facets = Object.fromEntries(FACET_COLUMNS.map(([name]) => [name, [] as FacetValue[]])) as Record<(typeof FACET_COLUMNS)[number][0], FacetValue[]>;
      for (const r of rows) {
        const i = FACET_COLUMNS.findIndex((_, k) => Number(r.g) === (all ^ (1 << (FACET_COLUMNS.length - 1 - k))));
        const name = FACET_COLUMNS[i]?.[0];
        if (name === undefined || r.value === null || r.value === "") continue;
        facets[name].push({ value: String(r.value), count: Number(r.n) });
      }
      const actionRows = rowsOf<{ value: string; count: number | string }>(
        await db.execute(sql`select a as value, count(*) as count from calls, unnest(${calls.policyActions}) as a where ${range} group by 1 order by 2 desc, 1`),
      );
      const actions = actionRows.map((r) => ({ value: r.value, count: Number(r.count) }));
      const byPolicy = new Map<string, number>();
      for (const a of actions) {
        const policy = a.value.split(".")[0] as string;
        if (a.value.includes(".")) byPolicy.set(policy, (byPolicy.get(policy) ?? 0) + a.count);
      }
      return {
        ...facets,
        policies: [...byPolicy].map(([value, count]) => ({ value, count })).sort((x, y) => y.count - x.count || x.value.localeCompare(y.value)),
        actions: actions.slice(0, MAX_FACET_VALUES),
      };
    },

    async dashboard(query) {
      const { from, to, bucketMs } = query;
      const range = rangeWhere(query);
      // Each row's verdict once, in a CTE the aggregates below read.
      const base = sql`with c as (select calls.*, ${verdictSql} as verdict from calls where ${range})`;
      const intervened = sql.raw(`verdict in ('blocked', 'denied', 'modified', 'held')`);
      const figures = sql`count(*) as requests,
        count(*) filter (where verdict = 'failed') as errors,
        count(*) filter (where ${intervened}) as interventions,
        percentile_cont(0.5) within group (order by latency_ms) as latency_p50,
        percentile_cont(0.95) within group (order by latency_ms) as latency_p95,
        percentile_cont(0.5) within group (order by ttft_ms) as ttft_p50,
        percentile_cont(0.95) within group (order by ttft_ms) as ttft_p95,
        coalesce(sum(input_tokens), 0) as input_tokens,
        coalesce(sum(output_tokens), 0) as output_tokens,
        coalesce(sum(cost_usd), 0) as cost_usd`;
      type FigureRow = Record<"requests" | "errors" | "interventions" | "input_tokens" | "output_tokens" | "cost_usd", number | string> &
        Record<"latency_p50" | "latency_p95" | "ttft_p50" | "ttft_p95", number | string | null>;
      const num = (v: number | string | null | undefined): number => Number(v ?? 0);
      const opt = (v: number | string | null | undefined): number | null => (v === null || v === undefined ? null : Math.round(Number(v)));
      const figuresOf = (r: FigureRow | undefined): Omit<DashboardBucket, "t"> => ({
        requests: num(r?.requests),
        errors: num(r?.errors),
        interventions: num(r?.interventions),
        latencyP50: opt(r?.latency_p50),
        latencyP95: opt(r?.latency_p95),
        ttftP50: opt(r?.ttft_p50),
        ttftP95: opt(r?.ttft_p95),
        inputTokens: num(r?.input_tokens),
        outputTokens: num(r?.output_tokens),
        costUsd: num(r?.cost_usd),
      });
      const bucketOf = sql`floor((extract(epoch from started_at) * 1000 - ${from.getTime()}) / ${bucketMs})::bigint`;
      const group = async (col: string): Promise<DashboardGroup[]> => {
        const rows = rowsOf<Record<string, number | string>>(
          await db.execute(
            sql`${base} select ${sql.raw(col)} as value, count(*) as calls, count(*) filter (where ${intervened}) as interventions, coalesce(sum(cost_usd), 0) as cost_usd, coalesce(sum(input_tokens), 0) as input_tokens, coalesce(sum(output_tokens), 0) as output_tokens from c where ${sql.raw(col)} is not null and ${sql.raw(col)} <> '' group by 1 order by 2 desc, 1 limit 10`,
          ),
        );
        return rows.map((r) => ({
          value: String(r["value"]),
          calls: num(r["calls"]),
          interventions: num(r["interventions"]),
          costUsd: num(r["cost_usd"]),
          inputTokens: num(r["input_tokens"]),
          outputTokens: num(r["output_tokens"]),
        }));
      };
      const [bucketRows, totalRows, verdictRows, actionRows, keys, owners, models, sessions] = await Promise.all([
        db.execute(sql`${base} select ${bucketOf} as b, ${figures} from c group by 1`),
        db.execute(sql`${base} select ${figures} from c`),
        db.execute(sql`${base} select verdict as value, count(*) as count from c group by 1 order by 2 desc`),
        db.execute(sql`${base} select a as value, count(*) as count from c, unnest(c.policy_actions) as a where position('.' in a) > 0 group by 1 order by 2 desc, 1`),
        group("key_id"),
        group("owner"),
        group("model"),
        group("session_id"),
      ]);
      const byBucket = new Map(rowsOf<FigureRow & { b: number | string }>(bucketRows).map((r) => [Number(r.b), r]));
      const n = Math.max(0, Math.ceil((to.getTime() - from.getTime()) / bucketMs));
      const series: DashboardBucket[] = [];
      for (let i = 0; i < n; i++) series.push({ t: new Date(from.getTime() + i * bucketMs), ...figuresOf(byBucket.get(i)) });
      return {
        from,
        to,
        bucketMs,
        series,
        totals: figuresOf(rowsOf<FigureRow>(totalRows)[0]),
        verdicts: rowsOf<{ value: string; count: number | string }>(verdictRows).map((r) => ({ value: r.value, count: num(r.count) })),
        interventions: rowsOf<{ value: string; count: number | string }>(actionRows).map((r) => {
          const [policy = "", action = ""] = r.value.split(".");
          return { policy, action, count: num(r.count) };
        }),
        top: { keys, owners, models, sessions },
      };
    },

    async listDeadLetters(limit) {
      const rows = await db.select().from(deadLetters).orderBy(desc(deadLetters.id)).limit(pageSize(limit));
      return rows.map((r) => ({
        id: r.id,
        subject: r.subject,
        streamSeq: r.streamSeq,
        error: r.error,
        receivedAt: r.receivedAt,
        raw: Buffer.from(r.raw).toString("base64"),
      }));
    },
  };
}
