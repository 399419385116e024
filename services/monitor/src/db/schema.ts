/**
 * The monitor's tables. `drizzle-kit generate` turns changes here into a migration under `services/monitor/drizzle/`
 * (committed); the monitor applies them at start on PostgreSQL and PGlite alike, so keep to SQL both run
 * (PostgreSQL 15 and PGlite's 18): no extensions.
 */
import { sql } from "drizzle-orm";
import { bigint, boolean, check, customType, doublePrecision, index, integer, json, jsonb, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";

const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({ dataType: () => "bytea" });

/** Every activity event, once (the primary key is the event id, inserts are `ON CONFLICT DO NOTHING`). */
export const events = pgTable(
  "events",
  {
    id: uuid("id").primaryKey(),
    callId: text("call_id").notNull(),
    seq: integer("seq").notNull(),
    type: text("type").notNull(),
    source: text("source").notNull(),
    time: timestamp("time", { withTimezone: true, mode: "date" }).notNull(),
    /** `json`, not `jsonb`: bodies keep their keys in the order they were received and sent on the wire. */
    data: json("data").notNull(),
    /** The JetStream stream sequence it arrived with (for tracing; not unique across stream re-creations). */
    streamSeq: bigint("stream_seq", { mode: "number" }),
    receivedAt: timestamp("received_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    /**
     * How an original's body was stored (`request.received`, `response.received`, `chunk.received`), by
     * `MONITOR_STORE_ORIGINALS` at the time: `redacted` (detected secrets replaced), `full`, or `none` (body
     * dropped). Null for every other type, and for originals stored before the setting existed (in full).
     */
    storedAs: text("stored_as"),
  },
  (t) => [
    index("events_call_id_seq_idx").on(t.callId, t.seq),
    index("events_type_idx").on(t.type),
    index("events_time_idx").on(t.time),
    // An approval's events by its id (the approvals API folds them); queries repeat this predicate to use it.
    index("events_approval_id_idx").on(sql`(${t.data}->>'approvalId')`).where(sql`${t.type} like 'approval.%'`),
  ],
);

/**
 * One summary row per call, upserted from the call's events as they are stored. Every merge is order-independent
 * (least/greatest, coalesce, set union), so events may arrive in any order and a redelivered event, which is not
 * re-inserted, never counts twice.
 */
export const calls = pgTable(
  "calls",
  {
    callId: text("call_id").primaryKey(),
    /** The earliest event time seen (the `call.started` time once that arrived). */
    startedAt: timestamp("started_at", { withTimezone: true, mode: "date" }).notNull(),
    endedAt: timestamp("ended_at", { withTimezone: true, mode: "date" }),
    lastEventAt: timestamp("last_event_at", { withTimezone: true, mode: "date" }).notNull(),
    model: text("model"),
    keyId: text("key_id"),
    /** The virtual key's owner. */
    owner: text("owner"),
    userId: text("user_id"),
    sessionId: text("session_id"),
    format: text("format"),
    provider: text("provider"),
    route: text("route"),
    stream: boolean("stream"),
    status: integer("status"),
    outcome: text("outcome"),
    latencyMs: integer("latency_ms"),
    ttftMs: integer("ttft_ms"),
    usage: jsonb("usage"),
    inputTokens: integer("input_tokens"),
    outputTokens: integer("output_tokens"),
    /** USD at the gateway's price table, when its model had a price. */
    costUsd: doublePrecision("cost_usd"),
    chunksIn: integer("chunks_in"),
    chunksOut: integer("chunks_out"),
    /** `<policy>.<action>` of every intervention, sorted, no duplicates. */
    policyActions: text("policy_actions").array().notNull().default(sql`'{}'::text[]`),
    bypassed: text("bypassed"),
    /** The engine replica, chain and policy config version that decided the call (its `call.engine` event). */
    engine: text("engine"),
    chain: text("chain"),
    configVersion: text("config_version"),
    errorType: text("error_type"),
    errorMessage: text("error_message"),
    eventCount: integer("event_count").notNull().default(0),
    requestReceivedId: uuid("request_received_id"),
    requestSentId: uuid("request_sent_id"),
    responseReceivedId: uuid("response_received_id"),
    responseSentId: uuid("response_sent_id"),
    /** Text for `q` searches (ILIKE): ids, model, prompts and answers, capped. */
    searchText: text("search_text").notNull().default(""),
  },
  (t) => [
    index("calls_started_at_idx").on(t.startedAt.desc(), t.callId.desc()),
    index("calls_model_idx").on(t.model),
    index("calls_key_id_idx").on(t.keyId),
    index("calls_owner_idx").on(t.owner),
    index("calls_session_id_idx").on(t.sessionId, t.startedAt),
    index("calls_status_idx").on(t.status),
    // Sorted lists page by (value, call id); these keep a sorted first page an index scan at any table size.
    index("calls_latency_idx").on(t.latencyMs.desc().nullsLast(), t.callId.desc()),
    index("calls_ttft_idx").on(t.ttftMs.desc().nullsLast(), t.callId.desc()),
    index("calls_cost_idx").on(t.costUsd.desc().nullsLast(), t.callId.desc()),
    index("calls_policy_actions_idx").using("gin", t.policyActions),
  ],
);

/** Messages that are not valid activity events, with their raw bytes; acked so they never block the stream. */
export const deadLetters = pgTable("dead_letters", {
  id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
  /** sha256 of subject and bytes: a redelivered message is stored once. */
  key: text("key").notNull().unique(),
  subject: text("subject").notNull(),
  streamSeq: bigint("stream_seq", { mode: "number" }),
  error: text("error").notNull(),
  raw: bytea("raw").notNull(),
  receivedAt: timestamp("received_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
});

/**
 * Policy configuration changes (`policy.config.reloaded`, `policy.config.rejected`). They belong to no client call,
 * so they are kept here instead of in `events`, and never make a `calls` row.
 */
export const configEvents = pgTable(
  "config_events",
  {
    id: uuid("id").primaryKey(),
    type: text("type").notNull(),
    source: text("source").notNull(),
    seq: integer("seq").notNull(),
    time: timestamp("time", { withTimezone: true, mode: "date" }).notNull(),
    /** `{ file, trigger, chains }` (reloaded) or `{ file, trigger, error }` (rejected). */
    data: jsonb("data").notNull(),
    streamSeq: bigint("stream_seq", { mode: "number" }),
    receivedAt: timestamp("received_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [index("config_events_time_idx").on(t.time.desc(), t.id.desc())],
);

/** A person's verdict on a stored call, for replays: should a policy have stopped it? */
export const labels = pgTable(
  "labels",
  {
    callId: text("call_id")
      .primaryKey()
      .references(() => calls.callId, { onDelete: "cascade" }),
    /** `should_block` or `fine`. */
    label: text("label").$type<"should_block" | "fine">().notNull(),
    note: text("note").notNull().default(""),
    labeledAt: timestamp("labeled_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [check("labels_label_check", sql`${t.label} in ('should_block', 'fine')`)],
);

/**
 * Decisions the monitor sent that no engine received (`not_held`: the engine holding the approval is gone). An
 * engine records the refusals it answers itself (`approval.refused` events); these it never saw.
 */
export const approvalRefusals = pgTable(
  "approval_refusals",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    approvalId: text("approval_id").notNull(),
    decision: text("decision").notNull(),
    by: text("by").notNull(),
    reason: text("reason").notNull(),
    message: text("message").notNull(),
    at: timestamp("at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [index("approval_refusals_approval_id_idx").on(t.approvalId)],
);

/** Reports of `pnpm luthien replay` (a candidate policy configuration run over stored calls), as posted. */
export const replayReports = pgTable(
  "replay_reports",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    report: jsonb("report").notNull(),
  },
  (t) => [index("replay_reports_created_at_idx").on(t.createdAt.desc(), t.id.desc())],
);
