// The retry decision: what a failure does to a row, and what the re-delivery job does with a due row.
import { backoffDelay, type BackoffPolicy } from './backoff';
import { Status, type StatusCode } from './status';

export interface RetryPolicy {
  maxTries: number;
  backoff: BackoffPolicy;
}

export interface FailureOutcome {
  status: StatusCode;
  tryCount: number;
  /** ms from now until the job looks again; null when the row is dead. */
  delayMs: number | null;
}

/**
 * One failed attempt, counted once. The failure that reaches maxTries makes the row dead;
 * a permanent failure makes it dead at once.
 */
export function decideFailure(
  tryCountBefore: number,
  failedStatus: typeof Status.delivery_failed | typeof Status.consume_failed,
  policy: RetryPolicy,
  opts: { permanent?: boolean; random?: () => number } = {},
): FailureOutcome {
  const tryCount = tryCountBefore + 1;
  if (opts.permanent || tryCount >= policy.maxTries) return { status: Status.dead, tryCount, delayMs: null };
  return { status: failedStatus, tryCount, delayMs: backoffDelay(tryCount, policy.backoff, opts.random) };
}

export interface DueRow {
  status: number;
  tryCount: number;
  /** a listener claimed the row and its lease ran out with no outcome recorded */
  leaseExpired: boolean;
}

/** What the job does with a send whose lease ran out with no outcome: send again (same Message-ID), or give it to a person. */
export type UncertainPolicy = 'resend' | 'dead';

export type RedeliveryPlan =
  | { action: 'republish'; tryCount: number; reason: string | null; uncertain: boolean }
  | { action: 'dead'; tryCount: number; reason: string; uncertain: boolean };

export const NO_CONFIRM = 'no publisher confirm before the publish grace ran out';
export const LEASE_EXPIRED = 'SMTP outcome unknown: the send lease expired with no outcome recorded (uncertain)';
export const NOT_CONSUMED = 'confirmed by the broker but not consumed before the consumption deadline';

/**
 * What the re-delivery job does with a row whose next_try_time has passed.
 * A missing confirm and an expired send lease are failures the job sees first, so it counts them;
 * delivery_failed and consume_failed rows were counted when they failed.
 */
export function planRedelivery(row: DueRow, maxTries: number, uncertainPolicy: UncertainPolicy = 'resend'): RedeliveryPlan {
  const uncertain = row.leaseExpired;
  let failure: string | null = null;
  if (uncertain) failure = LEASE_EXPIRED;
  else if (row.status === Status.sending) failure = NO_CONFIRM;
  const tryCount = failure ? row.tryCount + 1 : row.tryCount;
  if (tryCount >= maxTries || (uncertain && uncertainPolicy === 'dead')) {
    return { action: 'dead', tryCount, reason: failure ?? `tries exhausted (${tryCount} of ${maxTries})`, uncertain };
  }
  const reason = failure ?? (row.status === Status.delivered ? NOT_CONSUMED : null);
  return { action: 'republish', tryCount, reason, uncertain };
}
