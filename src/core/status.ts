// The status machine of msg_log. Codes are what the table stores; names are what the API shows.
// Every transition the product makes is listed in TRANSITIONS and applied as a guarded UPDATE,
// so a transition that lost a race changes nothing (see src/store/sql.ts).

export const Status = {
  sending: 0,
  delivered: 1,
  delivery_failed: 2,
  consumed: 3,
  consume_failed: 4,
  dead: 5,
  /** POST /mail/prepare: stored, not published; waits for commit, cancel or the check-back (src/services/two-phase.ts) */
  prepared: 6,
  cancelled: 7,
  /** POST /mail/send with a sendAt ahead: stored, published when due (src/jobs/due-publisher.ts) */
  scheduled: 8,
} as const;

export type StatusName = keyof typeof Status;
export type StatusCode = (typeof Status)[StatusName];

const NAMES: readonly StatusName[] = ['sending', 'delivered', 'delivery_failed', 'consumed', 'consume_failed', 'dead', 'prepared', 'cancelled', 'scheduled'];

export const STATUS_MEANING: Record<StatusName, string> = {
  sending: 'row committed; publish not yet confirmed',
  delivered: 'the broker confirmed the message, and it was routed to the queue',
  delivery_failed: 'nack, return (unroutable) or publish error; the job will re-deliver',
  consumed: 'the SMTP server accepted the mail; final',
  consume_failed: 'the SMTP send failed transiently; the job will re-deliver',
  dead: 'tries exhausted, or a permanent failure; waits for a person',
  prepared: 'stored by POST /mail/prepare, not sent; waits for commit or cancel (or the check-back once it expires)',
  cancelled: 'the caller cancelled the prepared or scheduled mail (or the check-back did, or it expired without a check-back URL); never sent; final',
  scheduled: 'stored with a sendAt ahead; published when due, unless cancelled before',
};

export function statusName(code: number): StatusName {
  const name = NAMES[code];
  if (name === undefined) throw new RangeError(`unknown msg_log status code ${code}`);
  return name;
}

export function isStatusName(value: string): value is StatusName {
  return (NAMES as readonly string[]).includes(value);
}

/** Rows the re-delivery job and the listener may still work on. */
export const PENDING: readonly StatusCode[] = [Status.sending, Status.delivered, Status.delivery_failed, Status.consume_failed];

export const FINAL: readonly StatusCode[] = [Status.consumed, Status.dead, Status.cancelled];

export function isFinal(code: number): boolean {
  return (FINAL as readonly number[]).includes(code);
}

/** The events that move a row, and the states each one may start from. */
export const TRANSITIONS = {
  /** broker ack for a publish that was not returned */
  confirmAck: { from: [Status.sending], to: [Status.delivered] },
  /** nack, return, publish error, confirm timeout: counted, then backoff or dead */
  publishFailed: { from: [Status.sending], to: [Status.delivery_failed, Status.dead] },
  /** the listener's SMTP send was accepted; a copy may be consumed before its confirm arrives */
  smtpAccepted: { from: PENDING, to: [Status.consumed] },
  /** transient SMTP failure: counted, then backoff or dead */
  smtpTransient: { from: PENDING, to: [Status.consume_failed, Status.dead] },
  /** permanent SMTP failure (5xx, bad address): dead at once */
  smtpPermanent: { from: PENDING, to: [Status.dead] },
  /** the job re-publishes a due row (sending again while the publish is in flight), or gives up */
  redeliver: { from: PENDING, to: [Status.sending, Status.dead] },
  /** a person puts a dead row back in play */
  manualRetry: { from: [Status.dead], to: [Status.sending] },
  /** the caller commits a prepared mail (or its check-back answers commit): it goes out as any other */
  commit: { from: [Status.prepared], to: [Status.sending] },
  /** the caller cancels a prepared or scheduled mail (or the check-back answers cancel, or it expires without one) */
  cancel: { from: [Status.prepared, Status.scheduled], to: [Status.cancelled] },
  /** a scheduled mail's sendAt has come: it is published as any mail */
  due: { from: [Status.scheduled], to: [Status.sending] },
  /** a check-back that decided nothing: asked again later, or dead once MAX_TRIES were asked */
  checkBackUndecided: { from: [Status.prepared], to: [Status.prepared, Status.dead] },
} as const satisfies Record<string, { from: readonly StatusCode[]; to: readonly StatusCode[] }>;

export type TransitionName = keyof typeof TRANSITIONS;

/** True when `event` may move a row from `from` to `to`. consumed and cancelled are never left; dead only by a person. */
export function canTransition(event: TransitionName, from: number, to: number): boolean {
  const t = TRANSITIONS[event];
  return (t.from as readonly number[]).includes(from) && (t.to as readonly number[]).includes(to);
}
