import type { RateLimiter } from "@luthien/keys";
import type { Logger } from "@luthien/runtime";
import { LimitStoreUnavailableError, RateLimitedError } from "../errors";
import type { GatewayMetrics } from "../metrics";
import type { CallAuth } from "./auth";

/** LIMITS_ON_STORE_ERROR: what a call of a limited key gets while the limit store fails. */
export type LimitStoreFailure = "deny" | "allow";

/** Options of {@link createCallLimits}. */
export interface CallLimitsOptions {
  /** The shared counters. @default none: a key with limits is refused as if the store were down */
  limiter: RateLimiter | undefined;
  /** @default "deny" */
  onStoreError?: LimitStoreFailure;
  logger: Logger;
  metrics: Pick<GatewayMetrics, "limited">;
}

/** Admission of one call against its key's limits, before the body is read and before any engine or provider call. */
export interface CallLimits {
  /**
   * @returns true when the call was let through unchecked (the store failed and the operator chose `allow`)
   * @throws RateLimitedError (429) when a limit is used up
   * @throws LimitStoreUnavailableError (503) when the store fails and `onStoreError` is `deny`
   */
  admit(auth: CallAuth, signal?: AbortSignal): Promise<boolean>;
}

export function createCallLimits(options: CallLimitsOptions): CallLimits {
  const onStoreError = options.onStoreError ?? "deny";
  return {
    async admit(auth, signal) {
      const rpm = auth.key?.limits.rpm;
      if (rpm === undefined) return false;
      let admission;
      try {
        if (options.limiter === undefined) throw new Error("no limit store configured (LIMITS_NATS_URL=off)");
        admission = await options.limiter.admit(`key_${auth.keyId}`, rpm, signal);
      } catch (err) {
        if (signal?.aborted === true) throw err;
        const outcome = onStoreError === "allow" ? "allowed" : "denied";
        options.metrics.limited(outcome);
        options.logger.warn("limit store failed", { keyId: auth.keyId, outcome, error: (err as Error).message });
        if (onStoreError === "deny") throw new LimitStoreUnavailableError();
        return true;
      }
      if (!admission.admitted) {
        options.metrics.limited("refused");
        throw new RateLimitedError(`${rpm} requests per minute`, admission.retryAfterS);
      }
      return false;
    },
  };
}
