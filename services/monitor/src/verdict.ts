/**
 * A call's verdict: the one word a safety engineer reads first. One rule, here, used by the list, the filters, the
 * dashboard and the export alike:
 *
 * | verdict       | when                                                                                     |
 * |---------------|------------------------------------------------------------------------------------------|
 * | `in_progress` | not ended, no tool call held                                                             |
 * | `held`        | not ended, a policy holds a tool call for a person                                       |
 * | `bypassed`    | served without policy (fail-open, unchecked route)                                       |
 * | `denied`      | refused with an error: a policy denied it, or the gateway refused its key, scope or limit |
 * | `failed`      | ended in an error otherwise (provider, timeout, client gone)                             |
 * | `blocked`     | answered, but a policy blocked content or a tool call (the client saw a 200)             |
 * | `modified`    | answered with content a policy changed (redacted, rewritten, clamped, routed)            |
 * | `allowed`     | answered unchanged                                                                       |
 *
 * Shadow outcomes (`would_*`) never count: they changed nothing.
 */
import { sql, type SQL } from "drizzle-orm";
import { calls } from "./db/schema";

export const VERDICTS = ["allowed", "modified", "blocked", "denied", "held", "failed", "bypassed", "in_progress"] as const;
export type Verdict = (typeof VERDICTS)[number];

/** Action verbs (the part after `<policy>.`, or the gateway's own bare action) by what they did to the call. */
export const BLOCK_VERBS = ["blocked", "denied", "responded"] as const;
export const MODIFY_VERBS = ["redacted", "rewritten", "clamped", "routed", "modified", "request_modified", "response_modified", "logprobs_dropped"] as const;
export const HOLD_VERBS = ["held"] as const;

/** Statuses the gateway refuses a call with before it reaches an engine or provider (key, scope, limit). */
const GATEWAY_REFUSALS = [401, 403, 429];

const list = (verbs: readonly string[]): SQL => sql.raw(verbs.map((v) => `'${v}'`).join(", "));
/** The verb of `<policy>.<verb>` or of a bare gateway action. */
const verbOf = (a: string): SQL => sql.raw(`case when position('.' in ${a}) > 0 then split_part(${a}, '.', 2) else ${a} end`);
// The cardinality test first: most calls have no action, and skipping their subquery makes a count over every call
// (facets, dashboard) several times faster.
const hasVerb = (verbs: readonly string[]): SQL =>
  sql`(cardinality(${calls.policyActions}) > 0 and exists (select 1 from unnest(${calls.policyActions}) as a where ${verbOf("a")} in (${list(verbs)})))`;

/** The verdict of a `calls` row, as SQL. */
export const verdictSql: SQL<Verdict> = sql<Verdict>`(case
  when ${calls.endedAt} is null then case when ${hasVerb(HOLD_VERBS)} then 'held' else 'in_progress' end
  when ${calls.bypassed} is not null then 'bypassed'
  when ${calls.outcome} = 'denied' or (${calls.status} in (${sql.raw(GATEWAY_REFUSALS.join(", "))}) and coalesce(${calls.provider}, '') = '') then 'denied'
  when ${calls.outcome} in ('error', 'client_closed') or ${calls.status} >= 400 then 'failed'
  when ${hasVerb(BLOCK_VERBS)} then 'blocked'
  when ${hasVerb(MODIFY_VERBS)} then 'modified'
  else 'allowed'
end)`;

const policyWith = (verbs: readonly string[]): SQL =>
  sql`(select split_part(a, '.', 1) from unnest(${calls.policyActions}) as a where position('.' in a) > 0 and split_part(a, '.', 2) in (${list(verbs)}) order by a limit 1)`;

/**
 * The policy that decided the verdict (blocked, denied, modified, held), or `gateway` for a refusal of the gateway's
 * own (key, scope, limit); null when no one intervened.
 */
export const decidedBySql: SQL<string | null> = sql<string | null>`(case
  when ${calls.endedAt} is null then ${policyWith(HOLD_VERBS)}
  when ${calls.bypassed} is not null then null
  when ${calls.outcome} = 'denied' then coalesce(${policyWith(BLOCK_VERBS)}, 'policy')
  when ${calls.status} in (${sql.raw(GATEWAY_REFUSALS.join(", "))}) and coalesce(${calls.provider}, '') = '' then 'gateway'
  when ${calls.outcome} in ('error', 'client_closed') or ${calls.status} >= 400 then null
  else coalesce(${policyWith(BLOCK_VERBS)}, ${policyWith(MODIFY_VERBS)})
end)`;

/** The condition "the call's verdict is one of these". */
export function verdictIn(verdicts: readonly Verdict[]): SQL {
  return sql`${verdictSql} in (${sql.join(
    verdicts.map((v) => sql`${v}`),
    sql`, `,
  )})`;
}

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
const clip = (s: string, n = 80): string => (s.length > n ? s.slice(0, n - 1) + "…" : s);

/**
 * One line saying what the deciding policy did, from its event's data (e.g. "tool call Bash blocked: rm -rf /
 * deletes …"); undefined when the event says nothing more than its name.
 */
export function changeSummaryOf(type: string, data: unknown): string | undefined {
  const m = /^policy\.([^.]+)\.([^.]+)$/.exec(type);
  if (m === null) return undefined;
  const verb = m[2] as string;
  const d = (typeof data === "object" && data !== null ? data : {}) as Record<string, unknown>;
  const tool = str(d["tool"]);
  const reason = str(d["reason"]);
  const side = str(d["side"]);
  const what = tool !== undefined ? `tool call ${tool}` : side !== undefined ? side : "content";
  switch (verb) {
    case "blocked":
    case "denied":
      return clip(`${what} ${verb}${reason !== undefined ? `: ${reason}` : str(d["pattern"]) !== undefined ? ` (matched ${String(d["pattern"])})` : ""}`, 160);
    case "held":
      return clip(`${what} held for approval${reason !== undefined ? `: ${reason}` : ""}`, 160);
    case "redacted": {
      const kinds = d["kinds"];
      const named = typeof kinds === "object" && kinds !== null ? Object.entries(kinds as Record<string, unknown>).map(([k, n]) => `${String(n)} ${k}`) : [];
      const count = typeof d["count"] === "number" ? `${d["count"]} match${d["count"] === 1 ? "" : "es"}` : undefined;
      return `${named.length > 0 ? named.join(", ") : (count ?? "content")} redacted${side !== undefined ? ` in the ${side}` : ""}`;
    }
    case "rewritten":
      return `${what} rewritten`;
    case "routed":
      return str(d["from"]) !== undefined && str(d["to"]) !== undefined ? `model ${String(d["from"])} → ${String(d["to"])}` : "model routed";
    case "clamped": {
      const field = str(d["field"]);
      return field !== undefined && d["to"] !== undefined ? `${field} clamped to ${String(d["to"])}` : "limits clamped";
    }
    case "modified":
    case "response_modified":
      return "response text modified";
    case "request_modified":
      return "request modified";
    default:
      return undefined;
  }
}
