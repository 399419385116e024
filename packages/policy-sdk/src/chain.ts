import {
  isDeny,
  type ApprovalOutcome,
  type ApprovalRequest,
  isRespond,
  type AnyPolicy,
  type CallInfo,
  type DenyDecision,
  type PolicyContext,
  type PolicyEvent,
  type PolicyRequest,
  type PolicyResponse,
  type RequestOutcome,
  type ResponseMode,
} from "./policy";
import { derivedEvent, derivedResponse } from "./derived-fields";
import { createLogprobsGuard } from "./logprobs";

const MODE_STRENGTH: Record<ResponseMode, number> = { SKIP: 0, OBSERVE: 1, FULL: 2 };

/** The default of {@link Policy.approvalTimeoutMs}: five minutes, inside every SDK's default request timeout. */
export const DEFAULT_APPROVAL_TIMEOUT_MS = 300_000;

/**
 * The strongest response mode among `policies` (SKIP for an empty chain). A shadow policy needs to see the events
 * but never to decide them, so it asks for OBSERVE at most.
 */
export function chainMode(policies: readonly AnyPolicy[]): ResponseMode {
  let mode: ResponseMode = "SKIP";
  for (const p of policies) {
    const m = p.shadow === true && p.mode === "FULL" ? "OBSERVE" : p.mode;
    if (MODE_STRENGTH[m] > MODE_STRENGTH[mode]) mode = m;
  }
  return mode;
}

// How a shadow policy's action reads as what it would have done: `blocked` → `would_block`.
const WOULD: Readonly<Record<string, string>> = {
  blocked: "block",
  redacted: "redact",
  rewritten: "rewrite",
  clamped: "clamp",
  routed: "route",
  allowed: "allow",
  denied: "deny",
  held: "hold",
  approved: "approve",
  request_modified: "modify_request",
  response_modified: "modify_response",
};

/** The action a shadow policy's `action` is recorded as. */
export function shadowAction(action: string): string {
  return `would_${WOULD[action] ?? action}`;
}

export interface ChainHooks {
  /** Records a policy activity event (`policy.<name>.<action>`). */
  emit(policy: string, action: string, data: Record<string, unknown> | undefined): void;
  /** The policy is still working on the current verdict. */
  keepalive(): void;
  /**
   * Holds the call for a person's decision (the engine's approval broker). Resolves, never rejects.
   * @default refuses at once (`unavailable`)
   */
  requestApproval?(policy: string, request: ApprovalRequest, timeoutMs: number): Promise<ApprovalOutcome>;
}

const NO_APPROVER: ApprovalOutcome = { approved: false, by: "", note: "no approval channel is configured", reason: "unavailable" };

/**
 * One call's run through a chain. Each policy sees the previous one's output; a deny or respond stops the request
 * side at that policy. Whatever the policies did, logprobs never spell text they changed (`policy.chain.logprobs_dropped`),
 * and derived fields (Responses `output_text`) say what the items they derive from say.
 */
export interface ChainRun {
  onRequest(request: PolicyRequest): Promise<RequestOutcome>;
  onResponse(response: PolicyResponse): Promise<PolicyResponse | DenyDecision>;
  onEvent(event: PolicyEvent): Promise<PolicyEvent[]>;
  onStreamEnd(): Promise<PolicyEvent[]>;
}

/**
 * Starts one call's run. A shadow policy ({@link Policy.shadow}) sees what the policy after it would see, its
 * actions are recorded as `would_<action>` (and a changed request or response it did not report itself as
 * `would_modify_request`, `would_deny`, ...), its approval requests are granted at once as `would_hold`, and its
 * output is dropped: the next policy gets exactly what the shadow policy got.
 */
export function startChainRun(policies: readonly AnyPolicy[], info: CallInfo, hooks: ChainHooks): ChainRun {
  /** Per policy: how many events it emitted so far (a shadow policy that reported its change needs no generic one). */
  const emitted = policies.map(() => 0);
  const contexts: PolicyContext<unknown>[] = policies.map((p, i) => {
    const shadow = p.shadow === true;
    const emit = (action: string, data?: Record<string, unknown>): void => {
      emitted[i] = (emitted[i] as number) + 1;
      hooks.emit(p.name, shadow ? shadowAction(action) : action, data);
    };
    return {
      ...info,
      state: p.createState?.(info),
      shadow,
      emit,
      keepalive: () => hooks.keepalive(),
      requestApproval: async (request: ApprovalRequest): Promise<ApprovalOutcome> => {
        if (shadow) {
          hooks.emit(p.name, "would_hold", { tool: request.tool, id: request.toolCallId, reason: request.reason });
          return { approved: true, by: "", note: "shadow", via: "decision" };
        }
        emit("held", { tool: request.tool, id: request.toolCallId, reason: request.reason });
        if (hooks.requestApproval === undefined) return NO_APPROVER;
        return hooks.requestApproval(p.name, request, p.approvalTimeoutMs ?? DEFAULT_APPROVAL_TIMEOUT_MS);
      },
    };
  });
  const ctx = (i: number): PolicyContext<unknown> => contexts[i] as PolicyContext<unknown>;
  const logprobs = createLogprobsGuard((where) => hooks.emit("chain", "logprobs_dropped", { where }));
  /** Records what a shadow policy's hook would have done, unless the policy said so itself. */
  const wouldHave = (i: number, before: number, action: string, data: Record<string, unknown>): void => {
    if (emitted[i] === before) hooks.emit((policies[i] as AnyPolicy).name, action, data);
  };

  /** Runs `events` through the policies from `from` on. */
  const passOn = async (events: PolicyEvent[], from: number): Promise<PolicyEvent[]> => {
    let current = events;
    for (let i = from; i < policies.length; i++) {
      const p = policies[i] as AnyPolicy;
      if (p.onEvent === undefined) continue;
      const next: PolicyEvent[] = [];
      for (const e of current) next.push(...(await p.onEvent(e, ctx(i))));
      if (p.shadow !== true) current = next;
    }
    return current;
  };

  return {
    async onRequest(request) {
      let current = request;
      for (const [i, p] of policies.entries()) {
        if (p.onRequest === undefined) continue;
        const before = emitted[i] as number;
        const outcome = await p.onRequest(current, ctx(i));
        if (p.shadow === true) {
          if (isDeny(outcome)) wouldHave(i, before, "would_deny", { status: outcome.status, type: outcome.type, message: outcome.message });
          else if (isRespond(outcome)) wouldHave(i, before, "would_respond", { response: outcome.response.body as unknown as Record<string, unknown> });
          else if (outcome !== current) wouldHave(i, before, "would_modify_request", { request: outcome.body as unknown as Record<string, unknown> });
          continue;
        }
        if (isDeny(outcome) || isRespond(outcome)) return outcome;
        current = outcome;
      }
      return current;
    },
    async onResponse(response) {
      let current = response;
      for (const [i, p] of policies.entries()) {
        if (p.onResponse === undefined) continue;
        const before = emitted[i] as number;
        const outcome = await p.onResponse(current, ctx(i));
        if (p.shadow === true) {
          if (isDeny(outcome)) wouldHave(i, before, "would_deny", { status: outcome.status, type: outcome.type, message: outcome.message });
          else if (outcome !== current) wouldHave(i, before, "would_modify_response", { response: outcome.body as unknown as Record<string, unknown> });
          continue;
        }
        if (isDeny(outcome)) return outcome;
        current = outcome;
      }
      return derivedResponse(current === response ? current : logprobs.response(response, current));
    },
    onEvent: async (event) => logprobs.events(event, await passOn([event], 0)).map(derivedEvent),
    async onStreamEnd() {
      // What one policy releases at the end still passes through the policies after it.
      const out: PolicyEvent[] = [];
      for (const [i, p] of policies.entries()) {
        if (p.onStreamEnd === undefined) continue;
        const released = await p.onStreamEnd(ctx(i));
        if (p.shadow !== true) out.push(...(await passOn(released, i + 1)));
      }
      return logprobs.events(undefined, out).map(derivedEvent);
    },
  };
}

/** What to send in place of a stream event: the event itself (no policy changed, held or split it), or these events. */
export type EventOutcome = "unchanged" | PolicyEvent[];

/**
 * One call's run through a chain in the chain's response mode, as the engine runs it (and the test kit, so a
 * policy's tests see what production does):
 * - SKIP: the policies see nothing after the request; the response and every event go out as they came.
 * - OBSERVE: the policies see the response and every event, and what they return is ignored: the output is the input.
 * - FULL: the policies decide the response and every event.
 */
export interface CallRun {
  /** The chain's mode ({@link chainMode}). */
  readonly mode: ResponseMode;
  onRequest(request: PolicyRequest): Promise<RequestOutcome>;
  /** The response to send (the very `response` object when no policy changed it), or a denial (FULL only). */
  onResponse(response: PolicyResponse): Promise<PolicyResponse | DenyDecision>;
  /**
   * `unchanged` when the chain returned exactly the event it was given (alone, and the same object, or the same
   * chunk or event object re-wrapped) or the mode is not FULL; otherwise the events to send. An event a policy held back, split, dropped or rewrote is never unchanged, as
   * long as policies keep the contract of {@link Policy.onEvent} (a changed event is a new object).
   */
  onEvent(event: PolicyEvent): Promise<EventOutcome>;
  /** Events still held at the end (none unless FULL). */
  onStreamEnd(): Promise<PolicyEvent[]>;
}

/** Starts a {@link CallRun} of `policies` in their chain mode. */
export function startCallRun(policies: readonly AnyPolicy[], info: CallInfo, hooks: ChainHooks): CallRun {
  const mode = chainMode(policies);
  const run = startChainRun(policies, info, hooks);
  return {
    mode,
    onRequest: (request) => run.onRequest(request),
    async onResponse(response) {
      if (mode === "SKIP") return response;
      const outcome = await run.onResponse(response);
      return mode === "FULL" ? outcome : response;
    },
    async onEvent(event) {
      if (mode === "SKIP") return "unchanged";
      const events = await run.onEvent(event);
      if (mode !== "FULL") return "unchanged";
      return events.length === 1 && sameEvent(events[0] as PolicyEvent, event) ? "unchanged" : events;
    },
    async onStreamEnd() {
      if (mode === "SKIP") return [];
      const events = await run.onStreamEnd();
      return mode === "FULL" ? events : [];
    },
  };
}

/** The same event: the very object, or a new wrapper of the very same chunk or event (policies re-wrap what they pass). */
function sameEvent(a: PolicyEvent, b: PolicyEvent): boolean {
  if (a === b) return true;
  if (a.format === "openai") return b.format === "openai" && a.chunk === b.chunk;
  return b.format === a.format && "event" in b && a.event === b.event;
}
