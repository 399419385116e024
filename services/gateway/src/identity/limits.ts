import { ownerRecordKey, type KeyLimits, type RateLimiter } from "@luthien/keys";
import type { Logger } from "@luthien/runtime";
import type { TokenUsage } from "@luthien/wire";
import { BudgetExceededError, LimitStoreUnavailableError, PermissionError, RateLimitedError } from "../errors";
import type { GatewayMetrics } from "../metrics";
import type { CallAuth } from "./auth";
import type { PriceTable } from "./prices";

/** LIMITS_ON_STORE_ERROR: what a call of a limited key gets while the limit store fails. */
export type LimitStoreFailure = "deny" | "allow";

/** Options of {@link createCallLimits}. */
export interface CallLimitsOptions {
  /** The shared counters. @default none: a key with limits is refused as if the store were down */
  limiter: RateLimiter | undefined;
  prices: PriceTable;
  /** @default "deny" */
  onStoreError?: LimitStoreFailure;
  logger: Logger;
  metrics: Pick<GatewayMetrics, "limited" | "spent">;
}

/**
 * A call against its key's limits: admitted before the body is read and before any engine or provider call, then
 * charged with what it used when it ends. Limits belong to virtual keys; static keys have none.
 */
export interface CallLimits {
  /**
   * Requests per minute (a slot is taken), concurrent calls (a slot is held until `release`), tokens per minute and
   * the day's and month's spend (checked).
   * @returns `unchecked` when the call was let through unchecked (the store failed and the operator chose `allow`),
   *   and `release`, to call once when the call is over
   * @throws RateLimitedError (429) when rpm, tpm or concurrency is used up; BudgetExceededError (429) past a budget
   * @throws RateLimitedError (429) when rpm or tpm is used up; BudgetExceededError (429) past a spend budget
   * @throws LimitStoreUnavailableError (503) when the store fails and `onStoreError` is `deny`
   */
  admit(auth: CallAuth, signal?: AbortSignal): Promise<Admitted>;
  /** True when the call's key or owner has limits to check. */
  applies(auth: CallAuth): boolean;
  /** True when the key's (or owner's) tokens or spend are limited: its calls must report usage. */
  countsUsage(auth: CallAuth): boolean;
  /** @throws PermissionError when the key has a budget and `model` has no price: its spend could not be counted */
  checkPriced(auth: CallAuth, model: string): void;
  /**
   * Charges a finished call: its tokens to the rolling minute, its cost to the day and month, where a limit reads
   * them. Never throws (a failed charge is logged).
   * @returns the call's cost in USD, when its model has a price
   */
  charge(auth: CallAuth, model: string, usage: TokenUsage | undefined): number | undefined;
}

export interface Admitted {
  unchecked: boolean;
  release: () => void;
}
const NOTHING_HELD: Admitted = { unchecked: false, release: () => undefined };

/** Subjects of the shared counters; key ids are `vk_` + hex and owners go by their record's key: valid KV keys. */
const subjects = {
  requests: (id: string) => `rpm.${id}`,
  inFlight: (id: string) => `concurrent.${id}`,
  tokens: (id: string) => `tpm.${id}`,
  day: (id: string, now: Date) => `usd.${id}.day.${now.toISOString().slice(0, 10)}`,
  month: (id: string, now: Date) => `usd.${id}.month.${now.toISOString().slice(0, 7)}`,
};

/** One set of limits a call counts against: its key's, or its owner's (shared by all the owner's keys). */
interface Holder {
  /** The counters' id. */
  id: string;
  /** "key" or "owner", for messages. */
  who: string;
  limits: KeyLimits;
}

/** Each call's holders, computed once: admission, the usage and price checks and the charge all read them. */
const holdersByCall = new WeakMap<CallAuth, readonly Holder[]>();

function holdersOf(auth: CallAuth): readonly Holder[] {
  const known = holdersByCall.get(auth);
  if (known !== undefined) return known;
  const out: Holder[] = [];
  if (auth.key !== undefined && Object.keys(auth.key.limits).length > 0) out.push({ id: auth.keyId, who: "key", limits: auth.key.limits });
  if (auth.ownerLimits !== undefined && Object.keys(auth.ownerLimits).length > 0) {
    out.push({ id: ownerRecordKey(auth.owner), who: `owner ${JSON.stringify(auth.owner)}`, limits: auth.ownerLimits });
  }
  holdersByCall.set(auth, out);
  return out;
}

/** Spend is counted in micro-USD: integers add up exactly across replicas. */
const MICRO = 1_000_000;

function secondsUntilNextDay(now: Date): number {
  const next = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  return Math.max(1, Math.ceil((next - now.getTime()) / 1000));
}
function secondsUntilNextMonth(now: Date): number {
  const next = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
  return Math.max(1, Math.ceil((next - now.getTime()) / 1000));
}

export function createCallLimits(options: CallLimitsOptions): CallLimits {
  const onStoreError = options.onStoreError ?? "deny";
  const { limiter, prices, logger, metrics } = options;

  /** Budgets and token minutes are read first; request and concurrency slots are taken last, once the rest let it through. */
  const check = async (holders: readonly Holder[], signal?: AbortSignal): Promise<Admitted> => {
    if (limiter === undefined) throw new Error("no limit store configured (LIMITS_NATS_URL=off)");
    const now = new Date();
    await Promise.all(
      holders.map(async ({ id, who, limits }) => {
        const [tokens, day, month] = await Promise.all([
          limits.tpm !== undefined ? limiter.windowTotal(subjects.tokens(id)) : undefined,
          limits.usdPerDay !== undefined ? limiter.periodTotal(subjects.day(id, now)) : undefined,
          limits.usdPerMonth !== undefined ? limiter.periodTotal(subjects.month(id, now)) : undefined,
        ]);
        if (limits.usdPerDay !== undefined && day !== undefined && day >= limits.usdPerDay * MICRO) {
          throw new BudgetExceededError(`${who}: ${limits.usdPerDay} USD per day`, secondsUntilNextDay(now));
        }
        if (limits.usdPerMonth !== undefined && month !== undefined && month >= limits.usdPerMonth * MICRO) {
          throw new BudgetExceededError(`${who}: ${limits.usdPerMonth} USD per month`, secondsUntilNextMonth(now));
        }
        if (limits.tpm !== undefined && tokens !== undefined && tokens.total >= limits.tpm) throw new RateLimitedError(`${who}: ${limits.tpm} tokens per minute`, tokens.retryAfterS);
      }),
    );
    const held: (() => void)[] = [];
    const releaseAll = (): void => {
      for (const release of held.splice(0)) release();
    };
    try {
      for (const { id, who, limits } of holders) {
        if (limits.rpm !== undefined) {
          const admission = await limiter.admit(subjects.requests(id), limits.rpm, signal);
          if (!admission.admitted) throw new RateLimitedError(`${who}: ${limits.rpm} requests per minute`, admission.retryAfterS);
        }
        if (limits.concurrent !== undefined) {
          const slot = await limiter.acquire(subjects.inFlight(id), limits.concurrent);
          if (!slot.acquired) throw new RateLimitedError(`${who}: ${limits.concurrent} concurrent calls`, slot.retryAfterS);
          held.push(slot.release);
        }
      }
    } catch (err) {
      releaseAll();
      throw err;
    }
    return { unchecked: false, release: releaseAll };
  };

  return {
    applies: (auth) => holdersOf(auth).length > 0,
    async admit(auth, signal) {
      const holders = holdersOf(auth);
      if (holders.length === 0) return NOTHING_HELD;
      try {
        return await check(holders, signal);
      } catch (err) {
        if (err instanceof RateLimitedError || err instanceof BudgetExceededError) {
          metrics.limited("refused");
          throw err;
        }
        if (signal?.aborted === true) throw err;
        const outcome = onStoreError === "allow" ? "allowed" : "denied";
        metrics.limited(outcome);
        logger.warn("limit store failed", { keyId: auth.keyId, outcome, error: (err as Error).message });
        if (onStoreError === "deny") throw new LimitStoreUnavailableError();
        return { unchecked: true, release: () => undefined };
      }
    },
    countsUsage: (auth) => holdersOf(auth).some(({ limits: l }) => l.tpm !== undefined || l.usdPerDay !== undefined || l.usdPerMonth !== undefined),
    checkPriced(auth, model) {
      const budgeted = holdersOf(auth).find(({ limits: l }) => l.usdPerDay !== undefined || l.usdPerMonth !== undefined);
      if (budgeted === undefined || prices.has(model)) return;
      throw new PermissionError(
        `model ${JSON.stringify(model.slice(0, 200))} has no price in the gateway's price table, and this ${budgeted.who === "key" ? "key" : "key's owner"} has a spend budget`,
      );
    },
    charge(auth, model, usage) {
      if (usage === undefined) return undefined;
      const cost = prices.cost(model, usage);
      const used = usage.inputTokens + usage.outputTokens;
      // Virtual key ids are labels made for showing; a static key's id is a digest prefix of its secret: not shown.
      metrics.spent(auth.key !== undefined ? auth.keyId : auth.credential.kind === "server" ? "static" : "passthrough", cost, used);
      if (limiter === undefined) return cost;
      // Counted only where a limit reads it: the monitor's key view sums costs from call.ended, not from here.
      const now = new Date();
      const micro = cost !== undefined ? Math.round(cost * MICRO) : 0;
      const writes: Promise<void>[] = [];
      for (const { id, limits } of holdersOf(auth)) {
        if (limits.tpm !== undefined) writes.push(limiter.addToWindow(subjects.tokens(id), used));
        if (micro > 0 && limits.usdPerDay !== undefined) writes.push(limiter.addToPeriod(subjects.day(id, now), micro));
        if (micro > 0 && limits.usdPerMonth !== undefined) writes.push(limiter.addToPeriod(subjects.month(id, now), micro));
      }
      if (writes.length > 0) {
        const keyId = auth.keyId;
        // The call is over: a charge that fails is logged (the limits are then looser by this call, never stricter).
        void Promise.all(writes).catch((err: unknown) => logger.warn("could not charge a call to its limits", { keyId, error: (err as Error).message }));
      }
      return cost;
    },
  };
}
