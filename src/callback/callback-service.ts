// The callback service of the delayed-check scheme (RELIABILITY_SCHEME=delayed-check; the `callback` role). It records
// the listeners' confirmations in its own table, and when a mail's check message comes due it looks for a confirmation
// of that try: found, a listener has had the mail in hand and the claim, its lease and the job's deadline answer for it;
// missing, it asks the producer to send again (a resend request
// on the resend queue, which the producer's job role consumes: src/jobs/resend-worker.ts). It never reads msg_log:
// its database may be another (CALLBACK_DATABASE_URL), and the producer decides what a missing confirmation means.
import { EventEmitter } from 'node:events';
import type { ConsumeMessage } from 'amqplib';
import type { Settlement } from '../broker/queue-worker';
import type { PublishOutcome } from '../broker/publisher';
import { decodeCheck, decodeConfirmations, type Confirmation, type ResendRequest } from '../core/delayed-check';
import type { Logger } from '../logger';
import { Batcher } from '../store/batcher';
import type { CallbackRepo } from '../store/callback-repo';
import { TUNING } from '../tuning';

/** the database or the broker did not answer: the message goes back after a pause */
const RETRY_LATER: Settlement = { requeueAfterMs: TUNING.callback.retryLaterMs };

export interface CallbackEvents {
  /** confirmations recorded (one per delivery a listener took in hand) */
  confirmed: [n: number];
  /** a check came due: its mail was confirmed, or a resend was asked for */
  checked: [verdict: 'confirmed' | 'resend'];
}

export class CallbackService extends EventEmitter<CallbackEvents> {
  private readonly confirmations: Batcher<Confirmation>;
  private readonly lookups: Batcher<string, number | null>;

  constructor(private readonly deps: { repo: CallbackRepo; resend: (r: ResendRequest) => Promise<PublishOutcome>; logger: Logger }) {
    super();
    this.confirmations = new Batcher({
      ...TUNING.callback.confirmBatch,
      flush: async (items) => {
        await deps.repo.confirm(items);
        this.emit('confirmed', items.length);
      },
    });
    this.lookups = new Batcher({ ...TUNING.callback.checkBatch, flush: (ids) => deps.repo.confirmed(ids) });
  }

  /** A listener's confirmations: recorded (a second of the same try is a no-op), then acked. */
  async onConfirmation(msg: ConsumeMessage): Promise<Settlement> {
    const cs = decodeConfirmations(msg.content);
    if (!cs) return this.dropped(msg, 'confirmation');
    await Promise.all(cs.map((c) => this.confirmations.add(c)));
    return 'ack';
  }

  /** A check come due: acked once its mail is known confirmed, or once the producer was asked (confirmed) to resend. */
  async onCheck(msg: ConsumeMessage): Promise<Settlement> {
    const check = decodeCheck(msg.content);
    if (!check) return this.dropped(msg, 'check');
    const confirmedTry = await this.lookups.add(check.msgId);
    if (confirmedTry !== null && confirmedTry >= check.tryCount) {
      this.emit('checked', 'confirmed');
      return 'ack';
    }
    const asked = await this.deps.resend(check);
    if (!asked.ok) return RETRY_LATER;
    this.emit('checked', 'resend');
    this.deps.logger.info({ msgId: check.msgId, tryCount: check.tryCount }, 'no confirmation when the check came due; resend asked for');
    return 'ack';
  }

  /** A message that names no mail cannot be acted on; it is dropped, not left to loop. */
  private dropped(msg: ConsumeMessage, what: string): Settlement {
    this.deps.logger.warn({ messageId: msg.properties.messageId, bytes: msg.content.length }, `not a ${what} message; dropped`);
    return 'ack';
  }

  async close(): Promise<void> {
    await this.confirmations.close();
    await this.lookups.close();
  }
}
