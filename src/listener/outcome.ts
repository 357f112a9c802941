// What one send's outcome writes, besides the row's new state: each recipient's result (suppressed ones included),
// the addresses it suppresses and the webhook events it makes. Pure but for `persist`, the write that is retried
// until the database takes it (the mail was sent: its outcome must not be dropped).
import { encodeFailure } from '../core/failure';
import type { MailMessage } from '../core/mail-message';
import type { RecipientOutcome, SendDecision } from '../core/recipients';
import type { SendOutcome } from '../core/smtp-outcome';
import { suppresses } from '../core/suppression';
import { outcomeEvents, type WebhookEventRow } from '../core/webhook-event';
import type { Logger } from '../logger';
import type { NewSuppression } from '../store/suppression-repo';
import { TUNING } from '../tuning';

/** What a mail's recipients get when none of them is sent to (every one suppressed): nothing went out. */
export const NOTHING_SENT: SendOutcome = { kind: 'done', recipients: [], response: '' };

/** Every recipient's result of this send: the suppressed ones (not sent to), then the relay's answers. */
export function resultsOf(suppressed: readonly string[], pending: readonly string[], outcome: SendOutcome): RecipientOutcome[] {
  const answered: RecipientOutcome[] =
    outcome.kind === 'done' ? outcome.recipients : outcome.kind === 'unknown' || outcome.kind === 'relay-down' ? pending.map((recipient) => ({ recipient, state: 'deferred', failure: outcome.failure })) : [];
  return [...suppressed.map((recipient) => ({ recipient, state: 'suppressed' as const, failure: { kind: 'suppressed' as const, recipient } })), ...answered];
}

/** The addresses this decision suppresses (refused as unknown) and its webhook events (when webhooks are on). */
export function writesOf(m: MailMessage, decision: SendDecision, webhooks: boolean): { suppress: NewSuppression[]; events: WebhookEventRow[] } {
  const suppress = decision.changed.filter((r) => r.state === 'bounced' && suppresses(r.failure)).map((r) => ({ address: r.recipient, reason: encodeFailure(r.failure!), msgId: m.msgId }));
  return { suppress, events: webhooks ? outcomeEvents(m, decision.changed, decision.status, decision.tryCount) : [] };
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs a write until the database takes it; undefined when the listener stops and the write still fails. */
export async function persist<T>(log: Logger, write: () => Promise<T>, opts: { stopping: () => boolean; sleep?: (ms: number) => Promise<void> }): Promise<T | undefined> {
  const sleep = opts.sleep ?? delay;
  for (let wait: number = TUNING.persistFirstWaitMs; ; wait = Math.min(wait * 2, TUNING.persistMaxWaitMs)) {
    try {
      return await write();
    } catch (err) {
      if (opts.stopping() && wait >= TUNING.persistMaxWaitMs) return undefined;
      log.warn({ err: (err as Error).message, retryInMs: wait }, 'database unavailable while recording an outcome; retrying');
      await sleep(wait);
    }
  }
}
