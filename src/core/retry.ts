// The retry decision: what a failure does to a row, and what the re-delivery job does with a due row.
import { backoffDelay, type BackoffPolicy } from './backoff';
import { encodeFailure, type Failure } from './failure';
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
  /** a first publish nobody made yet: an outbox row, a scheduled mail now due (the due publisher takes them within a
   * second; the job only what it missed) */
  unpublished?: boolean;
}

/** What the job does with a send whose lease ran out with no outcome: send again (same Message-ID), or give it to a person. */
export type UncertainPolicy = 'resend' | 'dead';

export type RedeliveryPlan =
  | { action: 'republish'; tryCount: number; reason: string | null; uncertain: boolean }
  | { action: 'dead'; tryCount: number; reason: string; uncertain: boolean }
  /** left in the queue's hands a while longer: no try counted, nothing published */
  | { action: 'postpone' };

/** What the job knows of the world when it plans a round. */
export interface RedeliveryContext {
  /** a listener finds the SMTP relay down: mails waiting in the queue are not its fault */
  relayDown: boolean;
  /** the mail queue has consumers and messages waiting: a mail not consumed yet is most likely still in it */
  queueBusy: boolean;
  /** RELIABILITY_SCHEME=delayed-check: no confirm is recorded, so a `sending` row past its deadline was published with
   * a check (a publish that failed is recorded as such): it is due like a delivered row, not like a missing confirm */
  checked?: boolean;
}

export const CALM: RedeliveryContext = { relayDown: false, queueBusy: false };

/**
 * What the re-delivery job does with a row whose next_try_time has passed.
 * A missing confirm, an expired send lease and a mail nobody consumed are failures the job sees first, so it counts
 * them; delivery_failed and consume_failed rows were counted when they failed. A confirmed mail still unconsumed
 * while the relay is down or the queue is still draining is no failure: it waits.
 */
export function planRedelivery(row: DueRow, maxTries: number, uncertainPolicy: UncertainPolicy = 'resend', ctx: RedeliveryContext = CALM): RedeliveryPlan {
  const uncertain = row.leaseExpired;
  let failure: Failure | null = null;
  if (uncertain) failure = { kind: 'lease-lost' };
  else if (row.status === Status.sending && !row.unpublished && !ctx.checked) failure = { kind: 'no-confirm' };
  else if (row.status === Status.delivered || (row.status === Status.sending && !row.unpublished)) {
    if (ctx.relayDown || ctx.queueBusy) return { action: 'postpone' };
    failure = { kind: 'not-consumed' };
  }
  const tryCount = failure ? row.tryCount + 1 : row.tryCount;
  if (tryCount >= maxTries || (uncertain && uncertainPolicy === 'dead')) {
    return { action: 'dead', tryCount, reason: encodeFailure(failure ?? { kind: 'tries-exhausted', detail: `${tryCount} of ${maxTries}` }), uncertain };
  }
  return { action: 'republish', tryCount, reason: failure ? encodeFailure(failure) : null, uncertain };
}
