// The delayed-check scheme (RELIABILITY_SCHEME=delayed-check), its pure part: the three small messages it adds to a
// mail's life, and what the producer does when the callback service asks it to send a mail again.
//
//   API      -> check message (msgId, tryCount), delayed CHECK_DELAY_MS    -> callback service
//   listener -> confirmation (msgId, outcome), once the mail is final     -> callback service
//   callback -> resend request (msgId, tryCount): a check found no confirmation -> producer (the job role)
//
// Each is idempotent by msgId: a check or a request seen twice finds the same rows and does the same nothing twice.
import { Status } from './status';

export interface CheckMessage {
  msgId: string;
  /** the row's try_count when the mail and this check were published */
  tryCount: number;
}

/** A resend request names the publish whose check found no confirmation. */
export type ResendRequest = CheckMessage;

/** The listener recorded a final outcome: the mail needs no more checks. */
export interface Confirmation {
  msgId: string;
  outcome: 'consumed' | 'dead';
}

export const encodeCheck = (m: CheckMessage): Buffer => Buffer.from(JSON.stringify({ msgId: m.msgId, tryCount: m.tryCount }));
export const encodeConfirmation = (c: Confirmation): Buffer => Buffer.from(JSON.stringify({ msgId: c.msgId, outcome: c.outcome }));

const isMsgId = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 155;

/** A check message or a resend request; null when the body is neither (it is dropped with a warning: it names no mail). */
export function decodeCheck(body: Buffer): CheckMessage | null {
  try {
    const v = JSON.parse(body.toString('utf8')) as Partial<CheckMessage>;
    return isMsgId(v.msgId) && Number.isInteger(v.tryCount) && v.tryCount! >= 0 ? { msgId: v.msgId, tryCount: v.tryCount! } : null;
  } catch {
    return null;
  }
}

export function decodeConfirmation(body: Buffer): Confirmation | null {
  try {
    const v = JSON.parse(body.toString('utf8')) as Partial<Confirmation>;
    return isMsgId(v.msgId) && (v.outcome === 'consumed' || v.outcome === 'dead') ? { msgId: v.msgId, outcome: v.outcome } : null;
  } catch {
    return null;
  }
}

/** The row as the producer reads it when asked to resend. */
export interface ResendRow {
  status: number;
  tryCount: number;
  /** a listener holds it (its lease has not run out) */
  leased: boolean;
}

/** What the world looks like to the producer: the same facts the re-delivery job plans with. */
export interface ResendContext {
  relayDown: boolean;
  queueBusy: boolean;
}

export type ResendPlan =
  /** nothing to do: the mail is final, a later publish has its own check, a listener holds it, or its retry is the job's */
  | { action: 'none'; why: 'gone' | 'final' | 'moved-on' | 'held' | 'deferred' }
  /** the mail queue is still draining: the mail is most likely in it; look again after another delay, no try counted */
  | { action: 'recheck' }
  /** the relay is down: mails wait in the queue, not lost; the job's deadline looks at the row once it is back */
  | { action: 'leave' }
  /** a try is counted and the mail published again (with its check) */
  | { action: 'resend'; tryCount: number }
  /** the last try: dead, for a person */
  | { action: 'dead'; tryCount: number };

/**
 * The producer's answer to "no confirmation came for this publish". Only a row still `sending` at the request's try
 * count and held by no listener was lost between the API and a listener; anything else moved on without help.
 */
export function planResend(row: ResendRow | null, req: ResendRequest, maxTries: number, ctx: ResendContext): ResendPlan {
  if (!row) return { action: 'none', why: 'gone' };
  if (row.status === Status.consumed || row.status === Status.dead || row.status === Status.cancelled) return { action: 'none', why: 'final' };
  if (row.tryCount !== req.tryCount) return { action: 'none', why: 'moved-on' };
  if (row.leased) return { action: 'none', why: 'held' };
  // consume_failed (deferred by the relay), delivery_failed (a publish failed): counted when they failed, and due for the job
  if (row.status !== Status.sending) return { action: 'none', why: 'deferred' };
  if (ctx.relayDown) return { action: 'leave' };
  if (ctx.queueBusy) return { action: 'recheck' };
  const tryCount = row.tryCount + 1;
  return tryCount >= maxTries ? { action: 'dead', tryCount } : { action: 'resend', tryCount };
}
