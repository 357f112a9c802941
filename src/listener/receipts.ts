// RELIABILITY_SCHEME=delayed-check: the listener confirms every delivery it takes in hand, mail and try (the publish's
// x-try header), to the callback service: those that arrive together go in one message (a 20 ms window). From the moment
// a listener holds a delivery its mail cannot be lost between the API and a listener any more: unacked, RabbitMQ gives
// it to another listener if this one dies; claimed, the lease and the job's deadline answer for it. So the check of
// that try has nothing to find, even while the mail waits behind a slow relay in the prefetch (docs/design.md, "Two
// reliability schemes").
import type { ConsumeMessage } from 'amqplib';
import { tryOf, type Confirmation } from '../core/delayed-check';
import type { Logger } from '../logger';
import type { ConfirmPublish } from '../services/check-messages';
import { Batcher } from '../store/batcher';
import { TUNING } from '../tuning';

/** What the consumer tells of each delivery it takes in hand. */
export interface DeliveryReceipts {
  received(msg: ConsumeMessage): void;
  close(): Promise<void>;
}

/** A mail's msgId (a snowflake); anything else is no mail and will be parked. */
const MSG_ID = /^\d{1,20}$/;

export class Receipts implements DeliveryReceipts {
  private readonly batch: Batcher<Confirmation>;

  constructor(deps: { confirmations: ConfirmPublish; logger: Logger }) {
    this.batch = new Batcher({
      ...TUNING.callback.receiptBatch,
      flush: async (cs) => {
        const o = await deps.confirmations.confirm(cs);
        // the checks of these tries will find no confirmation: the producer sends again only what no listener holds
        if (!o.ok) deps.logger.warn({ mails: cs.length, reason: o.reason }, 'confirmations not published');
      },
    });
  }

  received(msg: ConsumeMessage): void {
    const msgId = msg.properties.messageId;
    if (typeof msgId === 'string' && MSG_ID.test(msgId)) void this.batch.add({ msgId, tryCount: tryOf(msg.properties.headers) });
  }

  close(): Promise<void> {
    return this.batch.close();
  }
}
