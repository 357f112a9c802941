// What the listener answers for one delivery (the consumer acks, requeues or retries later on it), and what it tells
// the metrics about each send.
import type { RecipientResult, SendOutcome } from '../core/smtp-outcome';

export type Verdict =
  | { action: 'ack'; outcome: 'consumed' | 'skipped' | 'failed' | 'dead' | 'parked' }
  /** infrastructure trouble (database, parking): leave the message with the broker and try again later */
  | { action: 'retry-later'; reason: string }
  /** not taken (the relay is down, the listener stops): back to the queue at once, for whoever takes mails */
  | { action: 'requeue'; reason: string };

/** What one send came to, for metrics: accepted, partial, deferred, bounced, unknown, relay-down, not-sent. */
export interface SendReport {
  outcome: 'accepted' | 'partial' | 'deferred' | 'bounced' | 'unknown' | 'relay-down' | 'not-sent';
  ms: number;
  recipients: readonly RecipientResult[];
}

export interface ListenerEvents {
  sent: [report: SendReport];
  /** recipients left out of a send as suppressed, once their outcome is recorded */
  suppressed: [n: number];
}

export function reportOf(outcome: SendOutcome, ms: number): SendReport {
  if (outcome.kind === 'relay-down' || outcome.kind === 'not-sent' || outcome.kind === 'unknown') return { outcome: outcome.kind, ms, recipients: [] };
  const states = new Set(outcome.recipients.map((r) => r.state));
  const only = states.size === 1 ? [...states][0]! : null;
  return { outcome: only ?? 'partial', ms, recipients: outcome.recipients };
}
