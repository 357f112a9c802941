// The delayed-check scheme (RELIABILITY_SCHEME=delayed-check), its pure part: the three small messages it adds to a
// mail's life, and what the producer does when the callback service asks it to send a mail again.
//
//   API      -> check message (msgId, tryCount), delayed CHECK_DELAY_MS       -> callback service
//   listener -> confirmations (msgId, tryCount), for the deliveries it took in hand -> callback service
//   callback -> resend request (msgId, tryCount): a check found no confirmation   -> producer (the job role)
//
// A confirmation says a listener has the mail of that try in hand: from there the claim, its lease and the job's
// deadline answer for it (docs/design.md, "Two reliability schemes"). Each message is idempotent by msgId and try: a
// check or a request seen twice finds the same rows and does the same nothing twice.
import { Status } from './status';

export interface CheckMessage {
  msgId: string;
  /** the row's try_count when the mail and this check were published */
  tryCount: number;
}

/** A resend request names the publish whose check found no confirmation. */
export type ResendRequest = CheckMessage;

/** A listener took the mail of this try in hand (the try is the publish's `x-try` header). */
export type Confirmation = CheckMessage;

/** The header that carries a publish's try count to the listener. */
export const TRY_HEADER = 'x-try';

export const encodeCheck = (m: CheckMessage): Buffer => Buffer.from(JSON.stringify({ msgId: m.msgId, tryCount: m.tryCount }));
/** Confirmations travel many to a message: those a listener took in hand together. */
export const encodeConfirmations = (cs: readonly Confirmation[]): Buffer => Buffer.from(JSON.stringify(cs.map((c) => [c.msgId, c.tryCount])));

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

/** The confirmations of one message; null when the body is not a list of [msgId, tryCount] pairs. */
export function decodeConfirmations(body: Buffer): Confirmation[] | null {
  try {
    const v = JSON.parse(body.toString('utf8')) as unknown;
    if (!Array.isArray(v)) return null;
    const out: Confirmation[] = [];
    for (const c of v) {
      if (!Array.isArray(c) || !isMsgId(c[0]) || !Number.isInteger(c[1]) || c[1] < 0) return null;
      out.push({ msgId: c[0], tryCount: c[1] });
    }
    return out;
  } catch {
    return null;
  }
}

/** The try count a delivery's header names (a message published without one counts as the first try). */
export function tryOf(headers: Record<string, unknown> | undefined): number {
  const n = Number(headers?.[TRY_HEADER] ?? 0);
  return Number.isInteger(n) && n >= 0 ? n : 0;
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
