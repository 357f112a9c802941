// How a msg_log row is shown by the API: status by name and code, times as ISO strings, the mail's subject and recipients.
import { decodeFailure, failurePhrase, isPermanent, type Failure } from '../core/failure';
import { allRecipients } from '../core/mail-message';
import { recipientStateName } from '../core/recipients';
import { Status, isFinal, statusName, type StatusName } from '../core/status';
import type { MsgRow } from '../store/msg-log-repo';

/** A whole msg_log row as Prisma reads it. */
export interface MsgLogRecord extends MsgRow {
  nextTryTime: Date | null;
  createTime: Date;
  updateTime: Date;
  lastError: string | null;
  uncertainCount: number;
  rcptState: number;
}

/** A msg_recipient row as Prisma reads it. */
export interface RecipientRecordRow {
  recipient: string;
  state: number;
  failure: string | null;
  tries: number;
  updateTime: Date;
}

/**
 * accepted, bounced and suppressed (on the suppression list: not sent to) are final; deferred is tried again; failed:
 * deferred when the mail's tries ran out; cancelled: never sent.
 */
export type RecipientViewState = 'pending' | 'accepted' | 'deferred' | 'bounced' | 'suppressed' | 'failed' | 'cancelled';

export interface RecipientView {
  address: string;
  state: RecipientViewState;
  failure: Failure | null;
  /** sends that reached this recipient (0 when it never had its own outcome) */
  tries: number;
  updateTime: string | null;
}

export interface MailView {
  msgId: string;
  status: StatusName;
  statusCode: number;
  tryCount: number;
  maxTries: number;
  nextTryTime: string | null;
  createTime: string;
  updateTime: string;
  /** the last failure in a sentence */
  lastError: string | null;
  /** the last failure as data: kind, SMTP code, enhanced code, recipient */
  failure: Failure | null;
  /** sends whose SMTP outcome was unknown and that were sent again */
  uncertainCount: number;
  exchange: string;
  routingKey: string;
  subject: string | null;
  tos: string[];
  cc: string[];
  bcc: string[];
  replyTo: string[];
  /** the caller's own labels, as given */
  tags: string[];
  metadata: Record<string, string>;
  /** each recipient's outcome (To, Cc and Bcc) */
  recipients: RecipientView[];
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);

export function toMailView(row: MsgLogRecord, maxTries: number, stored: readonly RecipientRecordRow[] = []): MailView {
  const failure = decodeFailure(row.lastError);
  let subject: string | null = null;
  let m: Record<string, unknown> = {};
  try {
    m = JSON.parse(row.msg) as Record<string, unknown>;
    if (typeof m.subject === 'string') subject = m.subject;
  } catch {
    // a row written by hand may hold anything; the view still shows its state
  }
  const [tos, cc, bcc] = [strings(m.tos), strings(m.cc), strings(m.bcc)];
  const metadata = typeof m.metadata === 'object' && m.metadata !== null && !Array.isArray(m.metadata) ? Object.fromEntries(Object.entries(m.metadata).map(([k, v]) => [k, String(v)])) : {};
  return {
    msgId: row.msgId,
    status: statusName(row.status),
    statusCode: row.status,
    tryCount: row.tryCount,
    maxTries,
    nextTryTime: row.nextTryTime?.toISOString() ?? null,
    createTime: row.createTime.toISOString(),
    updateTime: row.updateTime.toISOString(),
    lastError: failure ? failurePhrase(failure) : null,
    failure,
    uncertainCount: row.uncertainCount,
    exchange: row.exchange,
    routingKey: row.routingKey,
    subject,
    tos,
    cc,
    bcc,
    replyTo: strings(m.replyTo),
    tags: strings(m.tags),
    metadata,
    recipients: recipientViews({ status: row.status, updateTime: row.updateTime, failure }, allRecipients({ tos, cc, bcc }), stored),
  };
}

/** Stored outcomes where recipients parted ways; otherwise every recipient shares the mail's. */
export function recipientViews(row: { status: number; updateTime: Date; failure: Failure | null }, tos: readonly string[], stored: readonly RecipientRecordRow[]): RecipientView[] {
  const failure = row.failure;
  const byAddress = new Map(stored.map((r) => [r.recipient.toLowerCase(), r]));
  const dead = row.status === Status.dead;
  return tos.map((address) => {
    const r = byAddress.get(address.toLowerCase());
    if (r) {
      const name = recipientStateName(r.state);
      const state: RecipientViewState = dead && (name === 'pending' || name === 'deferred') ? 'failed' : name;
      return { address, state, failure: decodeFailure(r.failure), tries: r.tries, updateTime: r.updateTime.toISOString() };
    }
    let state: RecipientViewState = 'pending';
    if (row.status === Status.consumed) state = 'accepted';
    else if (row.status === Status.cancelled) state = 'cancelled';
    else if (dead) state = failure && isPermanent(failure) ? 'bounced' : 'failed';
    else if (failure && (failure.kind === 'smtp-transient' || failure.kind === 'smtp-unknown')) state = 'deferred';
    const shared = isFinal(row.status) || state === 'deferred';
    return { address, state, failure: state === 'accepted' ? null : shared ? failure : null, tries: 0, updateTime: shared ? row.updateTime.toISOString() : null };
  });
}
