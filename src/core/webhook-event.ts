// What a webhook receiver gets: one event per recipient outcome (delivered, deferred after a transient failure,
// bounced on a permanent one, suppressed: never sent to because it is on the suppression list) and one per recipient
// still pending when the mail dies. Pure: the events are built here and written in the transaction of the outcome
// they report (src/store/msg-log-repo.ts, src/store/webhook-sql.ts); the job delivers them (src/jobs/webhook-job.ts).
import { createHash } from 'node:crypto';
import type { Failure } from './failure';
import { allRecipients, type MailMessage } from './mail-message';
import type { RecipientRecord } from './recipients';
import { Status, type StatusCode } from './status';

export const WEBHOOK_EVENT_TYPES = ['delivered', 'deferred', 'bounced', 'suppressed', 'dead'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** What webhook_event.state stores. */
export const WebhookState = { pending: 0, delivered: 1, failed: 2 } as const;

/** The body a receiver gets (JSON), signed as Standard Webhooks signs. */
export interface WebhookPayload {
  type: WebhookEventType;
  msgId: string;
  recipient: string;
  /** when the outcome was recorded (ISO 8601, UTC) */
  at: string;
  /** the mail's counted tries when it happened (deferred, bounced, dead; a first send that reached the relay counts none) */
  tryCount?: number;
  tags?: string[];
  metadata?: Record<string, string>;
  /** the refusal or the reason, as data (deferred, bounced, dead) */
  failure?: Failure;
}

/** One row to write: eventId is the webhook-id, the same on every delivery attempt. */
export interface WebhookEventRow {
  eventId: string;
  msgId: string;
  type: WebhookEventType;
  recipient: string;
  payload: string;
}

export interface OutcomeInput {
  type: WebhookEventType;
  mail: Pick<MailMessage, 'msgId' | 'tags' | 'metadata'>;
  recipient: string;
  tryCount?: number;
  failure?: Failure | null;
  at?: Date;
}

/**
 * The event of one recipient's outcome. A recipient is delivered, bounced or suppressed once, so those ids are the
 * same whoever writes them (a second write is a no-op); a deferral happens once per try, so its id has the try; a
 * mail may die again after a person's retry, so a death's id has its time.
 */
export function webhookEvent(input: OutcomeInput): WebhookEventRow {
  const { type, mail, tryCount } = input;
  const at = input.at ?? new Date();
  const recipient = input.recipient.toLowerCase();
  const key = type === 'deferred' ? `${recipient}\n${tryCount}` : type === 'dead' ? `${recipient}\n${at.getTime()}` : recipient;
  const eventId = `${mail.msgId}-${type}-${createHash('sha256').update(key).digest('base64url').slice(0, 12)}`;
  const payload: WebhookPayload = { type, msgId: mail.msgId, recipient: input.recipient, at: at.toISOString() };
  if (tryCount !== undefined && type !== 'delivered' && type !== 'suppressed') payload.tryCount = tryCount;
  if (mail.tags?.length) payload.tags = mail.tags;
  if (mail.metadata && Object.keys(mail.metadata).length) payload.metadata = mail.metadata;
  if (input.failure) payload.failure = input.failure;
  return { eventId, msgId: mail.msgId, type, recipient: input.recipient, payload: JSON.stringify(payload) };
}

/** Every recipient delivered at once (the common case: the mail is consumed at its first send). */
export function deliveredEvents(mail: Pick<MailMessage, 'msgId' | 'tos' | 'cc' | 'bcc' | 'tags' | 'metadata'>, at = new Date()): WebhookEventRow[] {
  return allRecipients(mail).map((recipient) => webhookEvent({ type: 'delivered', mail, recipient, at }));
}

/**
 * The events of one send's outcome: each recipient whose state it changed; a recipient still failing when the mail
 * dies gets `dead` instead of `deferred`.
 */
export function outcomeEvents(mail: Pick<MailMessage, 'msgId' | 'tags' | 'metadata'>, changed: readonly RecipientRecord[], status: StatusCode, tryCount: number, at = new Date()): WebhookEventRow[] {
  const TYPE = { accepted: 'delivered', bounced: 'bounced', suppressed: 'suppressed', deferred: status === Status.dead ? 'dead' : 'deferred', pending: 'dead' } as const;
  return changed.map((r) => webhookEvent({ type: TYPE[r.state], mail, recipient: r.recipient, tryCount, failure: r.failure, at }));
}

/** A mail made dead outside a send (the job, a publish that kept failing, a check-back that never decided): `dead` for each recipient not final yet. */
export function deadEvents(mail: MailMessage, finalRecipients: ReadonlySet<string>, tryCount: number, failure: Failure | null, at = new Date()): WebhookEventRow[] {
  return allRecipients(mail)
    .filter((r) => !finalRecipients.has(r.toLowerCase()))
    .map((recipient) => webhookEvent({ type: 'dead', mail, recipient, tryCount, failure, at }));
}
