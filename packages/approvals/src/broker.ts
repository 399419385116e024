import { randomUUID } from "node:crypto";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { redactSecretsInJson } from "@luthien/events";
import { grantStore, type GrantStore } from "./grants";
import { connectForever } from "./internal/nats";
import {
  APPROVAL_EVENTS,
  canonicalJson,
  decideSubject,
  parseDecision,
  type ApprovalDecidedData,
  type ApprovalRefusedData,
  type ApprovalRequestedData,
  type ApprovalState,
  type DecideReply,
  type DecisionInput,
} from "./messages";

/** The held call, as the engine knows it. */
export interface HeldCall {
  callId: string;
  keyId: string;
  owner: string;
  userId: string;
  sessionId: string;
  model: string;
}

/** What a policy asked: one tool call, why, and for how long at most. */
export interface HoldRequest {
  policy: string;
  tool: string;
  toolCallId: string;
  input: unknown;
  reason: string;
  timeoutMs: number;
}

/**
 * How a hold ended: the policy SDK's `ApprovalOutcome` (the engine hands one over as the other, so the compiler
 * keeps the two alike; this package stays free of the SDK, which the monitor does not ship).
 */
export type HoldOutcome =
  | { approved: true; by: string; note: string; via: "decision" | "session" }
  | { approved: false; by: string; note: string; reason: "denied" | "expired" | "cancelled" | "unavailable" };

export interface ApprovalBrokerOptions {
  /** NATS servers (comma list); `off`: no approval channel, every hold is refused at once (`unavailable`). */
  url: string;
  /** Publishes an activity event under the call's id (the engine's publisher: outbox, never throws). */
  publish(callId: string, type: string, data: object): void;
  /** This replica's name, in `approval.requested`. @default a random one */
  engine?: string;
  /** How long a decided approval keeps answering late decisions (refused, recorded). @default 600000 */
  lateWindowMs?: number;
  /** Bound on one session-grant read or write. @default 1000 */
  grantTimeoutMs?: number;
  logger: { warn(message: string, fields?: Record<string, unknown>): void };
}

export interface ApprovalBroker {
  /**
   * Holds a tool call until a decision arrives on its subject, the timeout passes, or `signal` aborts (the client
   * left): resolves, never rejects, and only a decision made for it approves it.
   */
  hold(call: HeldCall, request: HoldRequest, signal: AbortSignal): Promise<HoldOutcome>;
  /** Ends every pending hold as `cancelled` (the engine is stopping) and closes the connection. */
  close(): Promise<void>;
}

interface Pending {
  readonly id: string;
  readonly call: HeldCall;
  readonly request: HoldRequest;
  readonly askedAt: number;
  state: ApprovalState;
  settle(outcome: HoldOutcome, decided: Omit<ApprovalDecidedData, "approvalId" | "waitedMs">): void;
}

/**
 * The engine's side of approvals. Each hold subscribes to its own decide subject before `approval.requested` goes
 * out, so the first decision any monitor, CLI or bot sends reaches exactly the replica holding the call; NATS
 * answers "no responders" for a call no engine holds any more. The first valid decision wins; later ones, and ones
 * after the timeout, are refused with a reply and an `approval.refused` event.
 */
export function createApprovalBroker(options: ApprovalBrokerOptions): ApprovalBroker {
  const engine = options.engine ?? `engine-${randomUUID().slice(0, 8)}`;
  const lateWindowMs = options.lateWindowMs ?? 600_000;
  const pending = new Set<Pending>();
  // Events are kept at rest: arguments and reasons go out with detected secrets replaced (`[REDACTED:<kind>]`).
  const publish = (callId: string, type: string, data: object): void => options.publish(callId, type, redactSecretsInJson(data).value);
  let closed = false;
  const off = options.url === "off";
  const nc: Promise<NatsConnection> | undefined = off ? undefined : connectForever(options.url, `luthien-approvals-${engine}`, () => closed);
  nc?.catch((err: unknown) => options.logger.warn("approval channel failed", { error: (err as Error).message }));
  const grants: GrantStore | undefined = nc === undefined ? undefined : grantStore(nc, { timeoutMs: options.grantTimeoutMs ?? 1000 });

  const reply = (msg: Msg, r: DecideReply): void => {
    try {
      msg.respond(JSON.stringify(r));
    } catch {
      // The decider is gone; the decision stands (or the refusal is recorded) all the same.
    }
  };

  /** Applies one message on a hold's subject. */
  const onDecision = (p: Pending, msg: Msg): void => {
    const parsed = parseDecision(msg.data);
    const refuse = (reason: ApprovalRefusedData["reason"], message: string, decision: Partial<DecisionInput>): void => {
      const data: ApprovalRefusedData = { approvalId: p.id, decision: decision.decision ?? "", by: decision.by ?? "", reason, state: p.state, message };
      publish(p.call.callId, APPROVAL_EVENTS.refused, data);
      reply(msg, { ok: false, reason, message, state: p.state });
    };
    if (!parsed.ok) return refuse("invalid", parsed.message, {});
    const d = parsed.decision;
    if (p.state === "expired" || p.state === "cancelled") return refuse("late", `the approval already ended (${p.state}); the call was refused`, d);
    if (p.state !== "pending") return refuse("already_decided", `the approval was already ${p.state}`, d);
    const note = d.note ?? "";
    const scope = d.scope ?? "once";
    if (d.decision === "deny") {
      p.settle({ approved: false, by: d.by, note, reason: "denied" }, { state: "denied", by: d.by, note, scope });
      return reply(msg, { ok: true, state: "denied" });
    }
    p.settle({ approved: true, by: d.by, note, via: "decision" }, { state: "approved", by: d.by, note, scope, ...(d.pattern !== undefined ? { pattern: d.pattern } : {}) });
    reply(msg, { ok: true, state: "approved" });
    if (scope === "session") {
      const grant = {
        policy: p.request.policy,
        tool: p.request.tool,
        ...(d.pattern !== undefined ? { pattern: d.pattern } : { input: canonicalJson(p.request.input) }),
        approvalId: p.id,
        by: d.by,
        at: new Date().toISOString(),
      };
      grants?.add(p.call, grant).catch((err: unknown) => options.logger.warn("session grant not stored", { approvalId: p.id, error: (err as Error).message }));
    }
  };

  const hold = async (call: HeldCall, request: HoldRequest, signal: AbortSignal): Promise<HoldOutcome> => {
    if (nc === undefined || closed) return { approved: false, by: "", note: "approvals need NATS (NATS_URL is off)", reason: "unavailable" };
    const grant = await grants?.find(call, request);
    if (grant !== undefined) {
      publish(call.callId, APPROVAL_EVENTS.sessionApproved, {
        grantedBy: grant.approvalId,
        by: grant.by,
        policy: request.policy,
        tool: request.tool,
        toolCallId: request.toolCallId,
        input: request.input,
        sessionId: call.sessionId,
      });
      return { approved: true, by: grant.by, note: `approved for this session (${grant.approvalId})`, via: "session" };
    }
    const id = randomUUID();
    const askedAt = Date.now();
    let subscription: Subscription | undefined;
    let unsubscribeAt: NodeJS.Timeout | undefined;
    return new Promise<HoldOutcome>((resolve) => {
      const p: Pending = {
        id,
        call,
        request,
        askedAt,
        state: "pending",
        settle(outcome, decided) {
          if (p.state !== "pending") return;
          p.state = decided.state;
          pending.delete(p);
          clearTimeout(expiry);
          signal.removeEventListener("abort", onAbort);
          const data: ApprovalDecidedData = { approvalId: id, waitedMs: Date.now() - askedAt, ...decided };
          publish(call.callId, APPROVAL_EVENTS.decided, data);
          // Late decisions still get an answer (refused) for a while, then NATS says no one holds the call.
          unsubscribeAt = setTimeout(() => subscription?.unsubscribe(), closed ? 0 : lateWindowMs);
          unsubscribeAt.unref();
          resolve(outcome);
        },
      };
      const expiry = setTimeout(
        () => p.settle({ approved: false, by: "", note: "", reason: "expired" }, { state: "expired", by: "", note: `no decision within ${request.timeoutMs} ms`, scope: "once" }),
        request.timeoutMs,
      );
      expiry.unref();
      const onAbort = (): void =>
        p.settle({ approved: false, by: "", note: "the call ended", reason: "cancelled" }, { state: "cancelled", by: "", note: "the client left or the call ended", scope: "once" });
      if (signal.aborted) return onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      pending.add(p);
      const requested: ApprovalRequestedData = {
        approvalId: id,
        policy: request.policy,
        tool: request.tool,
        toolCallId: request.toolCallId,
        input: request.input,
        reason: request.reason,
        keyId: call.keyId,
        owner: call.owner,
        userId: call.userId,
        sessionId: call.sessionId,
        model: call.model,
        timeoutMs: request.timeoutMs,
        expiresAt: new Date(askedAt + request.timeoutMs).toISOString(),
        subject: decideSubject(id),
        engine,
      };
      // Subscribed (and the server told) before anyone can see the request, so the first decision is never missed.
      void nc
        .then(async (c) => {
          if (p.state !== "pending") return;
          subscription = c.subscribe(decideSubject(id), { callback: (err, msg) => (err === null ? onDecision(p, msg) : undefined) });
          await c.flush();
        })
        .catch((err: unknown) => options.logger.warn("approval subscription failed", { approvalId: id, error: (err as Error).message }))
        .finally(() => publish(call.callId, APPROVAL_EVENTS.requested, requested));
    });
  };

  return {
    hold,
    async close() {
      closed = true;
      for (const p of [...pending])
        p.settle({ approved: false, by: "", note: "the policy engine stopped", reason: "cancelled" }, { state: "cancelled", by: "", note: "the policy engine stopped", scope: "once" });
      if (nc === undefined) return;
      // A connection that never came up is not waited for.
      const c = await Promise.race([nc, new Promise<undefined>((r) => setTimeout(() => r(undefined), 100).unref())]).catch(() => undefined);
      await c?.drain().catch(() => undefined);
    },
  };
}
