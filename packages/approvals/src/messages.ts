/**
 * The approval contract shared by the engine that holds a call and whoever decides it (the monitor, the CLI, a
 * bot): the decide subject, its request and reply, and the activity events an approval goes through.
 */

/** Decisions are NATS requests to `luthien.approvals.decide.<approval id>`; only the engine holding the call listens. */
export const DECIDE_SUBJECT_PREFIX = "luthien.approvals.decide";

const ID_RE = /^[A-Za-z0-9_-]{1,100}$/;

/** True when `id` can be an approval id (and so a subject token). */
export function isApprovalId(id: string): boolean {
  return ID_RE.test(id);
}

/** The subject the decision for `approvalId` goes to. @throws TypeError for an id that is not one */
export function decideSubject(approvalId: string): string {
  if (!isApprovalId(approvalId)) throw new TypeError(`not an approval id: ${JSON.stringify(approvalId.slice(0, 100))}`);
  return `${DECIDE_SUBJECT_PREFIX}.${approvalId}`;
}

/** Activity event types of an approval (published by the engine, under the held call's id). */
export const APPROVAL_EVENTS = {
  requested: "approval.requested",
  decided: "approval.decided",
  /** A decision that came too late, twice, or malformed: refused, and recorded. */
  refused: "approval.refused",
  /** The call passed on an earlier "approve for this session" grant, without asking. */
  sessionApproved: "approval.session_approved",
} as const;

/** What a decider sends. */
export interface DecisionInput {
  decision: "approve" | "deny";
  /** Who decided (a name, not a secret). */
  by: string;
  /** Shown to the client in a denial's text and kept with the decision. @default "" */
  note?: string;
  /**
   * `session`: the same tool with the same arguments (or with arguments matching `pattern`) in the same session
   * passes later without asking, recorded as `approval.session_approved`. Approvals only. @default "once"
   */
  scope?: "once" | "session";
  /** With `scope: session`: a glob (`*` any run, `?` one character) the call's arguments, as canonical JSON, must match. */
  pattern?: string;
}

/** What the holding engine answers. `not_held` and `timeout` are the deciders' own: no engine answered. */
export type DecideReply =
  | { ok: true; state: "approved" | "denied" }
  | { ok: false; reason: "late" | "already_decided" | "invalid" | "not_held" | "timeout"; message: string; state?: ApprovalState };

/** Where an approval stands. */
export type ApprovalState = "pending" | "approved" | "denied" | "expired" | "cancelled";

/** `approval.requested`: everything an approver needs to decide. */
export interface ApprovalRequestedData {
  approvalId: string;
  policy: string;
  tool: string;
  toolCallId: string;
  /** The arguments in full, but for detected secrets (`[REDACTED:<kind>]`, as the monitor keeps originals). */
  input: unknown;
  reason: string;
  keyId: string;
  owner: string;
  userId: string;
  sessionId: string;
  model: string;
  timeoutMs: number;
  /** ISO time after which the call is refused undecided. */
  expiresAt: string;
  /** Where to send the decision ({@link decideSubject}). */
  subject: string;
  /** The engine replica holding the call. */
  engine: string;
}

/** `approval.decided`: the approval's end, whoever or whatever ended it. */
export interface ApprovalDecidedData {
  approvalId: string;
  state: Exclude<ApprovalState, "pending">;
  by: string;
  note: string;
  scope: "once" | "session";
  pattern?: string;
  /** From the request to the decision. */
  waitedMs: number;
}

/** `approval.refused`: a decision that was not applied. */
export interface ApprovalRefusedData {
  approvalId: string;
  decision: string;
  by: string;
  reason: "late" | "already_decided" | "invalid";
  /** The approval's state when the decision came. */
  state: ApprovalState;
  message: string;
}

const MAX_BY = 200;
const MAX_NOTE = 2000;
const MAX_PATTERN = 2000;

/** Reads a decision request; anything unexpected is refused (`invalid`), never read as an approval. */
export function parseDecision(bytes: Uint8Array): { ok: true; decision: DecisionInput } | { ok: false; message: string } {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return { ok: false, message: "the decision is not UTF-8 JSON" };
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return { ok: false, message: "the decision is not a JSON object" };
  const { decision, by, note = "", scope = "once", pattern, ...rest } = doc as Record<string, unknown>;
  const extra = Object.keys(rest)[0];
  if (extra !== undefined) return { ok: false, message: `unknown field ${JSON.stringify(extra.slice(0, 50))} (known: decision, by, note, scope, pattern)` };
  if (decision !== "approve" && decision !== "deny") return { ok: false, message: "decision must be approve or deny" };
  if (typeof by !== "string" || by.trim() === "" || by.length > MAX_BY) return { ok: false, message: `by must name the decider (1–${MAX_BY} characters)` };
  if (typeof note !== "string" || note.length > MAX_NOTE) return { ok: false, message: `note must be a string of at most ${MAX_NOTE} characters` };
  if (scope !== "once" && scope !== "session") return { ok: false, message: "scope must be once or session" };
  if (scope === "session" && decision !== "approve") return { ok: false, message: "only an approval can cover the session" };
  if (pattern !== undefined && (typeof pattern !== "string" || pattern === "" || pattern.length > MAX_PATTERN || scope !== "session")) {
    return { ok: false, message: `pattern must be a non-empty glob of at most ${MAX_PATTERN} characters, with scope session` };
  }
  return { ok: true, decision: { decision, by: by.trim(), note, scope, ...(pattern !== undefined ? { pattern } : {}) } };
}

/** JSON with object keys sorted at every level: the arguments a session grant is matched against. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const o = value as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}
