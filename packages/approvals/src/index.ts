/**
 * Tool calls held for a person. The engine holding a call listens on the call's own decide subject
 * (`luthien.approvals.decide.<approval id>`) and publishes `approval.requested`, `approval.decided`,
 * `approval.refused` and `approval.session_approved` activity events; deciders — the monitor, `pnpm luthien
 * approvals`, a bot — send a {@link DecisionInput} there and get a {@link DecideReply}. "Approve for this session"
 * grants live in the JetStream KV bucket `luthien-approvals`, shared by every engine replica.
 */
export { APPROVAL_EVENTS, DECIDE_SUBJECT_PREFIX, canonicalJson, decideSubject, isApprovalId, parseDecision } from "./messages";
export type { ApprovalDecidedData, ApprovalRefusedData, ApprovalRequestedData, ApprovalState, DecideReply, DecisionInput } from "./messages";
export { createApprovalBroker } from "./broker";
export type { ApprovalBroker, ApprovalBrokerOptions, HeldCall, HoldOutcome, HoldRequest } from "./broker";
export { openApprovalClient } from "./client";
export type { ApprovalClient } from "./client";
export { GRANTS_BUCKET } from "./grants";
export type { SessionGrant } from "./grants";
