import type { APPROVAL_EVENTS, ApprovalDecidedData, ApprovalRefusedData, ApprovalRequestedData, ApprovalState } from "@luthien/approvals";
import { and, asc, desc, eq, inArray, sql, type SQL } from "drizzle-orm";
import type { MonitorDb } from "./db/database";
import { approvalRefusals, events } from "./db/schema";
import { pageSize } from "./store";

/**
 * `@luthien/approvals` at run time, loaded on the first approvals request: a monitor nobody decides on does not
 * carry its NATS KV client (~1.3 MiB of idle RSS). Types are imported as types only.
 */
export function approvalsLib(): typeof import("@luthien/approvals") {
  return require("@luthien/approvals") as typeof import("@luthien/approvals");
}

// The event types, checked against the package's constant without loading it.
const EVENT: typeof APPROVAL_EVENTS = {
  requested: "approval.requested",
  decided: "approval.decided",
  refused: "approval.refused",
  sessionApproved: "approval.session_approved",
};

/**
 * How long past its `expiresAt` an undecided approval still reads as pending. The engine ends a hold at its expiry
 * and says so (`approval.decided`, state `expired`); one that said nothing by then is gone (crashed, killed).
 */
export const APPROVAL_LOST_AFTER_MS = 10_000;

/** A decision that was not applied: answered so by the engine (`approval.refused`), or sent to no engine at all. */
export interface ApprovalRefusal {
  at: Date;
  decision: string;
  by: string;
  /** `late`, `already_decided`, `invalid` (the engine's), or `not_held` (no engine held it; recorded by a monitor). */
  reason: string;
  message: string;
  /** The approval's state when the decision came, as the engine saw it; null for `not_held`. */
  state: ApprovalState | null;
  recordedBy: "engine" | "monitor";
}

/** One approval, folded from its stored events. */
export interface Approval {
  approvalId: string;
  /** The held call. */
  callId: string;
  /** `expired` also for an approval whose engine vanished without deciding it (`lost`). */
  state: ApprovalState;
  /** Never decided, and its expiry passed by more than {@link APPROVAL_LOST_AFTER_MS}: no engine holds it. */
  lost: boolean;
  requested: ApprovalRequestedData;
  decided: (ApprovalDecidedData & { at: Date }) | null;
  /** Oldest first. */
  refused: ApprovalRefusal[];
  requestedAt: Date;
  expiresAt: string;
}

export type ApprovalListState = "pending" | "decided" | "all";

/** Reads approvals from the stored `approval.*` events; records refusals no engine could record. */
export interface ApprovalStore {
  /** Newest first; `pending` = undecided and still held. @default limit 50, at most 200 */
  list(query: { state: ApprovalListState; limit?: number }): Promise<Approval[]>;
  /** undefined when its `approval.requested` is not stored. */
  get(approvalId: string): Promise<Approval | undefined>;
  /** Records a decision that reached no engine. */
  recordRefusal(refusal: { approvalId: string; decision: string; by: string; reason: string; message: string }): Promise<void>;
}

// Every query on approval events carries this predicate literally: it is the one of the partial index
// events_approval_id_idx, which the planner uses only when it can see the query implies it.
const APPROVAL_TYPES = sql`${events.type} like 'approval.%'`;
const approvalIdOf = sql`(${events.data}->>'approvalId')`;

const decidedExists = sql`exists (select 1 from events d where d.type like 'approval.%' and d.type = ${EVENT.decided} and (d.data->>'approvalId') = ${approvalIdOf})`;

/** The one home of the "lost" rule: an undecided approval is still held until its expiry plus the grace. */
const stillHeld = (now: number): SQL => sql`coalesce(${events.data}->>'expiresAt', '') > ${new Date(now - APPROVAL_LOST_AFTER_MS).toISOString()}`;

const STATE_FILTERS: Record<ApprovalListState, (now: number) => SQL | undefined> = {
  pending: (now) => sql`not ${decidedExists} and ${stillHeld(now)}`,
  decided: (now) => sql`(${decidedExists} or not ${stillHeld(now)})`,
  all: () => undefined,
};

export function createApprovalStore(db: MonitorDb): ApprovalStore {
  /** The approvals whose `approval.requested` matches `where`, with their decisions and refusals: three queries. */
  const load = async (where: SQL | undefined, limit: number): Promise<Approval[]> => {
    const now = Date.now();
    const requested = await db
      .select({ callId: events.callId, time: events.time, data: events.data, held: sql<boolean>`${stillHeld(now)}` })
      .from(events)
      .where(and(eq(events.type, EVENT.requested), APPROVAL_TYPES, where))
      .orderBy(desc(events.time), desc(events.id))
      .limit(limit);
    const ids = requested.map((r) => (r.data as ApprovalRequestedData).approvalId).filter((id) => typeof id === "string");
    if (ids.length === 0) return [];
    const [outcomes, ours] = await Promise.all([
      db
        .select({ type: events.type, time: events.time, data: events.data })
        .from(events)
        .where(and(APPROVAL_TYPES, inArray(events.type, [EVENT.decided, EVENT.refused]), inArray(approvalIdOf, ids)))
        .orderBy(asc(events.time), asc(events.id)),
      db.select().from(approvalRefusals).where(inArray(approvalRefusals.approvalId, ids)).orderBy(asc(approvalRefusals.at), asc(approvalRefusals.id)),
    ]);
    const decided = new Map<string, ApprovalDecidedData & { at: Date }>();
    const refused = new Map<string, ApprovalRefusal[]>();
    const addRefusal = (id: string, r: ApprovalRefusal): void => {
      const list = refused.get(id);
      if (list === undefined) refused.set(id, [r]);
      else list.push(r);
    };
    for (const o of outcomes) {
      if (o.type === EVENT.decided) {
        const d = o.data as ApprovalDecidedData;
        // The first decision is the one that counted; an engine decides once.
        if (!decided.has(d.approvalId)) decided.set(d.approvalId, { ...d, at: o.time });
      } else {
        const r = o.data as ApprovalRefusedData;
        addRefusal(r.approvalId, { at: o.time, decision: r.decision, by: r.by, reason: r.reason, message: r.message, state: r.state, recordedBy: "engine" });
      }
    }
    for (const r of ours) addRefusal(r.approvalId, { at: r.at, decision: r.decision, by: r.by, reason: r.reason, message: r.message, state: null, recordedBy: "monitor" });
    for (const list of refused.values()) list.sort((a, b) => a.at.getTime() - b.at.getTime());
    return requested.map((r) => {
      const data = r.data as ApprovalRequestedData;
      const d = decided.get(data.approvalId) ?? null;
      const lost = d === null && !r.held;
      return {
        approvalId: data.approvalId,
        callId: r.callId,
        state: d !== null ? d.state : lost ? "expired" : "pending",
        lost,
        requested: data,
        decided: d,
        refused: refused.get(data.approvalId) ?? [],
        requestedAt: r.time,
        expiresAt: data.expiresAt,
      };
    });
  };

  return {
    list: ({ state, limit }) => load(STATE_FILTERS[state](Date.now()), pageSize(limit)),
    async get(approvalId) {
      const [a] = await load(eq(approvalIdOf, approvalId), 1);
      return a;
    },
    async recordRefusal(r) {
      await db.insert(approvalRefusals).values(r);
    },
  };
}
