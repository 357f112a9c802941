// Plain sentences for people: why a mail is not consumed yet, and what each step of its history was.
// Pure functions over a msg_log row and its msg_event history (no I/O), so the dashboard and tests share them.
import { decodeFailure, failurePhrase, isPermanent, type Failure, type FailureKind } from './failure';
import { Status, statusName, type StatusName } from './status';

export interface MailState {
  status: number;
  tryCount: number;
  maxTries: number;
  lastError: string | null;
  updateTime: Date;
  nextTryTime: Date | null;
  leaseUntil: Date | null;
}

export interface ExplainOptions {
  now: Date;
  /** IANA time zone for the times in the sentence (the reader's); UTC when missing or unknown */
  timeZone?: string;
}

export interface DescribedFailure {
  /** who failed: the SMTP server, the broker, or the re-delivery job's own findings */
  side: 'smtp' | 'broker' | 'job' | 'other';
  /** e.g. "SMTP answered 451" */
  phrase: string;
  /** the SMTP reply code when there was one */
  smtpCode?: number;
  permanent: boolean;
  failure: Failure;
}

/** A row overdue by more than this is called out: the job should have taken it. */
export const OVERDUE_SLACK_MS = 5_000;

const SIDE: Record<FailureKind, DescribedFailure['side']> = {
  'publish-nack': 'broker',
  'publish-returned': 'broker',
  'publish-error': 'broker',
  'publish-unavailable': 'broker',
  'confirm-timeout': 'broker',
  'no-confirm': 'job',
  'not-consumed': 'job',
  unconfirmed: 'job',
  'lease-lost': 'job',
  'tries-exhausted': 'job',
  'smtp-transient': 'smtp',
  'smtp-permanent': 'smtp',
  'smtp-unknown': 'smtp',
  'relay-down': 'smtp',
  'check-back-unreachable': 'job',
  'check-back-undecided': 'job',
  'check-back-cancelled': 'job',
  'prepare-expired': 'job',
  suppressed: 'job',
  other: 'other',
};

/** Names the failure stored in last_error (JSON written by src/core/failure.ts; older rows hold plain text). */
export function describeFailure(lastError: string | null): DescribedFailure | null {
  const failure = decodeFailure(lastError);
  if (!failure) return null;
  return { side: SIDE[failure.kind], phrase: failurePhrase(failure), smtpCode: failure.code, permanent: isPermanent(failure), failure };
}

/**
 * One sentence on where a mail stands and why it is not consumed yet, e.g.
 * "SMTP answered 451 at 10:02:13; next try at 10:02:53, try 2 of 3."
 */
export function explainMail(m: MailState, opts: ExplainOptions): string {
  const t = timeFormatter(opts);
  const now = opts.now.getTime();
  const failure = describeFailure(m.lastError);
  const attempt = `try ${Math.min(m.tryCount + 1, m.maxTries)} of ${m.maxTries}`;
  const next = m.nextTryTime;
  const overdue = next !== null && next.getTime() < now - OVERDUE_SLACK_MS;
  const overdueNote = overdue ? ` It has been due since ${t(next)} and the re-delivery job has not taken it: is a job running, and is the broker up?` : '';

  switch (m.status) {
    case Status.consumed:
      return `Consumed: the SMTP server accepted it at ${t(m.updateTime)}.${failure ? ` Not every recipient: ${failure.phrase}.` : ''}`;
    case Status.cancelled:
      return `Cancelled at ${t(m.updateTime)}${failure ? `: ${failure.phrase}` : ' by the caller'}; it was never sent.`;
    case Status.scheduled:
      return `Scheduled: it will be published at ${next ? t(next) : 'its sendAt'}, unless cancelled before.${overdueNote}`;
    case Status.prepared: {
      const asked = failure ? ` Its check-back was asked ${m.tryCount} time(s); the last time ${failure.phrase}.` : '';
      return `Prepared, not sent: waiting for the caller to commit or cancel it; the check-back is asked ${next ? `after ${t(next)}` : 'once it expires'}.${asked}${overdueNote}`;
    }
    case Status.dead: {
      const what = failure ? `${failure.phrase}` : 'it failed';
      if (m.tryCount < m.maxTries || failure?.permanent) {
        return `Dead: ${what} at ${t(m.updateTime)}, a permanent failure, so it was not tried again. A person can retry it once the cause is fixed.`;
      }
      return `Dead after ${m.tryCount} of ${m.maxTries} tries: ${what} at ${t(m.updateTime)}. A person can retry it.`;
    }
  }

  // Not final: someone holds the send, or it waits for the broker, a listener or the job.
  if (m.leaseUntil) {
    if (m.leaseUntil.getTime() > now) {
      return `A listener is sending it to the SMTP server since ${t(m.updateTime)} (${attempt}; its lease runs until ${t(m.leaseUntil)}).`;
    }
    return `A listener took it at ${t(m.updateTime)} but recorded no outcome before its lease ran out at ${t(m.leaseUntil)}; the re-delivery job will count the try and publish it again (${attempt}).${overdueNote}`;
  }
  const retryAt = next ? `next try at ${t(next)}` : 'the re-delivery job will look at it again';
  switch (m.status) {
    case Status.sending: {
      const after = failure && m.tryCount > 0 ? `Published again after ${failure.phrase}; w` : 'W';
      const ifNone = next && next.getTime() > now ? `; if none comes, it is published again after ${t(next)}` : '';
      return `${after}aiting for the broker's confirm since ${t(m.updateTime)} (${attempt})${ifNone}.${overdueNote}`;
    }
    case Status.delivered: {
      const ifNone = next && next.getTime() > now ? `; if nobody takes it, it is published again after ${t(next)}` : '';
      return `In the queue since ${t(m.updateTime)}, waiting for a listener (${attempt})${ifNone}.${overdueNote}`;
    }
    case Status.delivery_failed:
    case Status.consume_failed: {
      const what = failure ? capitalize(failure.phrase) : m.status === Status.delivery_failed ? 'The publish failed' : 'The SMTP send failed';
      return `${what} at ${t(m.updateTime)}; ${retryAt}, ${attempt}.${overdueNote}`;
    }
    default:
      return `Status ${m.status} is not one this version knows.`;
  }
}

export interface MsgEventRecord {
  id: number | string | bigint;
  at: Date;
  fromStatus: number | null;
  toStatus: number;
  tryCount: number;
  lease: number;
  error: string | null;
  nextTryTime: Date | null;
  msInPreviousState: number | null;
}

export type StepKind = 'accepted' | 'confirmed' | 'claimed' | 'consumed' | 'smtp_failed' | 'publish_failed' | 'republished' | 'retried' | 'dead' | 'prepared' | 'committed' | 'cancelled' | 'check_back' | 'scheduled' | 'due' | 'changed';

export interface TimelineStep {
  id: string;
  at: string;
  kind: StepKind;
  /** a short plain label, e.g. "Confirmed by the broker" */
  label: string;
  from: StatusName | null;
  to: StatusName;
  tryCount: number;
  /** the attempt this step belongs to, 1-based */
  attempt: number;
  /** the failure of this step, in a sentence */
  error: string | null;
  /** the failure of this step, as data */
  failure: Failure | null;
  nextTryTime: string | null;
  /** ms from the publish (acceptance, re-publish or retry) to the broker's confirm */
  confirmMs: number | null;
  /** ms from the listener's claim to the SMTP outcome */
  smtpMs: number | null;
  /** ms the row spent in its previous state */
  msInPreviousState: number | null;
}

const LABELS: Record<StepKind, string> = {
  accepted: 'Accepted: row committed, publish started',
  confirmed: 'Confirmed by the broker (in the queue)',
  claimed: 'Claimed by a listener, sending over SMTP',
  consumed: 'Accepted by the SMTP server',
  smtp_failed: 'SMTP send failed; will be tried again',
  publish_failed: 'Publish failed; will be tried again',
  republished: 'Published again by the re-delivery job',
  retried: 'Retried by a person',
  dead: 'Dead: no more automatic tries',
  prepared: 'Prepared: stored, not sent until committed',
  committed: 'Committed: publish started',
  cancelled: 'Cancelled: never sent',
  check_back: 'Check-back undecided; asked again later',
  scheduled: 'Scheduled: stored, published at its sendAt',
  due: 'Due: its sendAt came, publish started',
  changed: 'Changed',
};

/** Turns a mail's msg_event rows (oldest first) into labelled steps with their latencies. */
export function describeTimeline(events: readonly MsgEventRecord[], maxTries: number): TimelineStep[] {
  let claimAt: Date | null = null;
  let publishAt: Date | null = null;
  return events.map((e) => {
    const kind = kindOf(e);
    let smtpMs: number | null = null;
    let confirmMs: number | null = null;
    // A listener may claim a copy before the confirm is recorded, so latencies are measured from the step that
    // started them (publish, claim), not from the previous row update.
    if (kind === 'accepted' || kind === 'committed' || kind === 'due' || kind === 'republished' || kind === 'retried') publishAt = e.at;
    if (kind === 'confirmed' && publishAt) {
      confirmMs = e.at.getTime() - publishAt.getTime();
      publishAt = null;
    }
    if (kind === 'claimed') claimAt = e.at;
    else if (claimAt && (kind === 'consumed' || kind === 'smtp_failed' || kind === 'dead')) {
      smtpMs = e.at.getTime() - claimAt.getTime();
      claimAt = null;
    } else if (e.fromStatus !== e.toStatus && kind !== 'confirmed') claimAt = null;
    const failed = kind === 'smtp_failed' || kind === 'publish_failed' || kind === 'dead';
    return {
      id: String(e.id),
      at: e.at.toISOString(),
      kind,
      label: LABELS[kind],
      from: e.fromStatus === null ? null : safeName(e.fromStatus),
      to: safeName(e.toStatus),
      tryCount: e.tryCount,
      attempt: Math.min((failed ? e.tryCount : e.tryCount + 1) || 1, maxTries),
      error: e.error ? failurePhrase(decodeFailure(e.error)!) : null,
      failure: decodeFailure(e.error),
      nextTryTime: e.nextTryTime?.toISOString() ?? null,
      confirmMs,
      smtpMs,
      msInPreviousState: e.msInPreviousState,
    };
  });
}

function kindOf(e: MsgEventRecord): StepKind {
  if (e.fromStatus === null) return e.toStatus === Status.prepared ? 'prepared' : e.toStatus === Status.scheduled ? 'scheduled' : 'accepted';
  if (e.fromStatus === Status.scheduled && e.toStatus === Status.sending) return 'due';
  if (e.fromStatus === Status.prepared) {
    if (e.toStatus === Status.sending) return 'committed';
    if (e.toStatus === Status.prepared) return 'check_back';
  }
  if (e.toStatus === Status.cancelled) return 'cancelled';
  if (e.lease === 1 && e.fromStatus === e.toStatus) return 'claimed';
  switch (e.toStatus) {
    case Status.delivered:
      return e.fromStatus === Status.sending ? 'confirmed' : 'changed';
    case Status.consumed:
      return 'consumed';
    case Status.consume_failed:
      return 'smtp_failed';
    case Status.delivery_failed:
      return 'publish_failed';
    case Status.dead:
      return 'dead';
    case Status.sending:
      return e.fromStatus === Status.dead ? 'retried' : 'republished';
    default:
      return 'changed';
  }
}

function safeName(code: number): StatusName {
  try {
    return statusName(code);
  } catch {
    return `unknown_${code}` as StatusName;
  }
}

/** A valid IANA time zone name, or UTC. */
export function safeTimeZone(tz: string | undefined): string {
  if (!tz || tz.length > 64) return 'UTC';
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone: tz });
    return tz;
  } catch {
    return 'UTC';
  }
}

/** HH:MM:SS in the reader's zone; with the date when it is not within the same day as `now`. */
function timeFormatter(opts: ExplainOptions): (d: Date) => string {
  const timeZone = safeTimeZone(opts.timeZone);
  const time = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
  const day = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
  const utc = timeZone === 'UTC' ? ' UTC' : '';
  return (d) => {
    const sameDay = day.format(d) === day.format(opts.now);
    return `${sameDay ? '' : `${day.format(d)} `}${time.format(d)}${utc}`;
  };
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
