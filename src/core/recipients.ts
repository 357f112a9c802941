// Each recipient of a mail has its own outcome. A try goes only to the recipients still pending; an accepted one
// never gets a second copy, a bounced one does not hold the others back, and the mail is final once every recipient
// is. Pure: the listener applies the decision in one transaction (src/store/msg-log-repo.ts recordSend).
import type { Failure } from './failure';
import { decideFailure, type RetryPolicy } from './retry';
import type { RecipientResult, RecipientState } from './smtp-outcome';
import { Status, type StatusCode } from './status';

/**
 * What msg_recipient.state stores. A recipient with no row is pending, as is one deferred. Suppressed: never sent to,
 * because it is on the suppression list (src/core/suppression.ts); final like a bounce.
 */
export const RecipientCode = { pending: 0, accepted: 1, deferred: 2, bounced: 3, suppressed: 4 } as const;
export type RecipientStateName = keyof typeof RecipientCode;

const NAMES: readonly RecipientStateName[] = ['pending', 'accepted', 'deferred', 'bounced', 'suppressed'];
export const recipientStateName = (code: number): RecipientStateName => NAMES[code] ?? 'pending';

/** An outcome of one recipient in one send: the relay's answer, or suppressed (not sent to). */
export type RecipientOutcome = Omit<RecipientResult, 'state'> & { state: RecipientState | 'suppressed' };

export const isRecipientFinal = (s: RecipientStateName): boolean => s === 'accepted' || s === 'bounced' || s === 'suppressed';

export interface RecipientRecord {
  recipient: string;
  state: RecipientStateName;
  failure: Failure | null;
}

export interface SendDecision {
  status: StatusCode;
  tryCount: number;
  /** ms until the next try; null when the mail is final */
  delayMs: number | null;
  /** the failure to show on the mail (the first recipient still failing, else the first bounce) */
  failure: Failure | null;
  /** the recipients whose state this send changed, to store */
  changed: RecipientRecord[];
  /** false when every recipient shared one fate and nothing needs storing per recipient */
  perRecipient: boolean;
}

/**
 * The mail's new state after one send: `before` holds the stored states of recipients that have one (empty for a
 * mail never tried per recipient), `results` what the relay answered for the recipients this send went to.
 */
export function decideSend(
  all: readonly string[],
  before: ReadonlyMap<string, RecipientStateName>,
  results: readonly RecipientOutcome[],
  tryCountBefore: number,
  policy: RetryPolicy,
): SendDecision {
  const now = new Map<string, RecipientStateName>();
  for (const r of all) now.set(r.toLowerCase(), before.get(r.toLowerCase()) ?? 'pending');
  const changed: RecipientRecord[] = [];
  for (const r of results) {
    const key = r.recipient.toLowerCase();
    const prior = now.get(key) ?? 'pending';
    if (isRecipientFinal(prior)) continue; // an outcome already final is never undone
    now.set(key, r.state);
    changed.push({ recipient: r.recipient, state: r.state, failure: r.failure ?? null });
  }
  const states = [...now.values()];
  const failing = changed.find((c) => c.state === 'deferred') ?? null;
  const bounced = changed.find((c) => c.state === 'bounced' || c.state === 'suppressed') ?? null;
  const pending = states.some((s) => !isRecipientFinal(s));
  // One fate for every recipient and nothing stored before: the mail's own state says it all (but for suppressed,
  // which the mail's state cannot say).
  const perRecipient = before.size > 0 || new Set(states).size > 1 || states.includes('suppressed');
  if (!pending) {
    const anyAccepted = states.includes('accepted');
    return {
      status: anyAccepted ? Status.consumed : Status.dead,
      tryCount: anyAccepted ? tryCountBefore : tryCountBefore + 1,
      delayMs: null,
      failure: bounced?.failure ?? null,
      changed,
      perRecipient,
    };
  }
  // Someone is still pending (deferred, or a send that reached nobody): a counted try, then backoff or dead.
  const outcome = decideFailure(tryCountBefore, Status.consume_failed, policy);
  // At the last try the row is dead with the failure that ended it (the try count says the tries ran out).
  const failure = failing?.failure ?? bounced?.failure ?? null;
  return { status: outcome.status, tryCount: outcome.tryCount, delayMs: outcome.delayMs, failure, changed, perRecipient };
}

/** The recipients a send goes to: those not final yet, in the mail's order. */
export function pendingRecipients(all: readonly string[], before: ReadonlyMap<string, RecipientStateName>): string[] {
  return all.filter((r) => !isRecipientFinal(before.get(r.toLowerCase()) ?? 'pending'));
}
