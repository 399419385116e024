import { errors, type NatsConnection } from "@nats-io/transport-node";
import { connectOnce } from "./internal/nats";
import { decideSubject, type DecideReply, type DecisionInput } from "./messages";

export interface ApprovalClient {
  /**
   * Sends a decision to the engine holding the approval and returns its answer; `not_held` when no engine holds it
   * (the call ended, or its engine restarted: the call was refused), `timeout` when none answered in time.
   * @param timeoutMs @default 5000
   */
  decide(approvalId: string, decision: DecisionInput, timeoutMs?: number): Promise<DecideReply>;
  close(): Promise<void>;
}

/** Connects a decider (the monitor, the CLI, a bot written in TypeScript). @throws when NATS cannot be reached */
export async function openApprovalClient(options: { url: string; name?: string; connectTimeoutMs?: number }): Promise<ApprovalClient> {
  const nc: NatsConnection = await connectOnce(options.url, options.name ?? "luthien-approvals-client", options.connectTimeoutMs ?? 5000);
  return {
    async decide(approvalId, decision, timeoutMs = 5000) {
      try {
        const msg = await nc.request(decideSubject(approvalId), JSON.stringify(decision), { timeout: timeoutMs });
        return msg.json<DecideReply>();
      } catch (err) {
        if (err instanceof errors.NoRespondersError || (err instanceof errors.RequestError && err.isNoResponders())) {
          return { ok: false, reason: "not_held", message: "no policy engine holds this approval: the call already ended (or its engine restarted) and was refused" };
        }
        if (err instanceof errors.TimeoutError) return { ok: false, reason: "timeout", message: `no policy engine answered within ${timeoutMs} ms` };
        throw err;
      }
    },
    close: () => nc.close(),
  };
}
