import {
  isDeny,
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

/** The strongest response mode among `policies` (SKIP for an empty chain). */
export function chainMode(policies: readonly AnyPolicy[]): ResponseMode {
  let mode: ResponseMode = "SKIP";
  for (const p of policies) if (MODE_STRENGTH[p.mode] > MODE_STRENGTH[mode]) mode = p.mode;
  return mode;
}

export interface ChainHooks {
  /** Records a policy activity event (`policy.<name>.<action>`). */
  emit(policy: string, action: string, data: Record<string, unknown> | undefined): void;
  /** The policy is still working on the current verdict. */
  keepalive(): void;
}

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

export function startChainRun(policies: readonly AnyPolicy[], info: CallInfo, hooks: ChainHooks): ChainRun {
  const contexts: PolicyContext<unknown>[] = policies.map((p) => ({
    ...info,
    state: p.createState?.(info),
    emit: (action, data) => hooks.emit(p.name, action, data),
    keepalive: () => hooks.keepalive(),
  }));
  const ctx = (i: number): PolicyContext<unknown> => contexts[i] as PolicyContext<unknown>;
  const logprobs = createLogprobsGuard((where) => hooks.emit("chain", "logprobs_dropped", { where }));

  /** Runs `events` through the policies from `from` on. */
  const passOn = async (events: PolicyEvent[], from: number): Promise<PolicyEvent[]> => {
    let current = events;
    for (let i = from; i < policies.length; i++) {
      const p = policies[i] as AnyPolicy;
      if (p.onEvent === undefined) continue;
      const next: PolicyEvent[] = [];
      for (const e of current) next.push(...(await p.onEvent(e, ctx(i))));
      current = next;
    }
    return current;
  };

  return {
    async onRequest(request) {
      let current = request;
      for (const [i, p] of policies.entries()) {
        if (p.onRequest === undefined) continue;
        const outcome = await p.onRequest(current, ctx(i));
        if (isDeny(outcome) || isRespond(outcome)) return outcome;
        current = outcome;
      }
      return current;
    },
    async onResponse(response) {
      let current = response;
      for (const [i, p] of policies.entries()) {
        if (p.onResponse === undefined) continue;
        const outcome = await p.onResponse(current, ctx(i));
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
        out.push(...(await passOn(await p.onStreamEnd(ctx(i)), i + 1)));
      }
      return logprobs.events(undefined, out).map(derivedEvent);
    },
  };
}
