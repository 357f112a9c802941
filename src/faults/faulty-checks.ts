// DEV_FAULTS=true only, RELIABILITY_SCHEME=delayed-check: the scenarios' lost check messages and lost confirmations,
// played at the edges. lose-check drops the check of a mail's first publish (try 0): the mail itself goes, so only the
// job's deadline would notice if the mail were lost too. lose-confirmation drops the listener's confirmation of a
// mail's first try: its check then finds none and asks for a resend, which the producer must decline.
import type { ConsumeMessage } from 'amqplib';
import type { PublishOutcome } from '../broker/publisher';
import { tryOf } from '../core/delayed-check';
import type { DeliveryReceipts } from '../listener/receipts';
import type { Logger } from '../logger';
import type { CheckPublish } from '../services/check-messages';
import type { DispatchItem } from '../services/dispatcher';
import { faultOf } from './dev-faults';

const DROPPED: PublishOutcome = { ok: true, latencyMs: 0 };

export class FaultyChecks implements CheckPublish {
  constructor(
    private readonly inner: CheckPublish,
    private readonly logger: Logger,
  ) {}

  check(item: DispatchItem): Promise<PublishOutcome> {
    if (item.tryCount === 0 && faultOf(item.msg) === 'lose-check') {
      this.logger.info({ msgId: item.msgId, devFault: 'lose-check' }, 'DEV_FAULTS: check message dropped');
      return Promise.resolve(DROPPED);
    }
    return this.inner.check(item);
  }
}

export class FaultyReceipts implements DeliveryReceipts {
  constructor(
    private readonly inner: DeliveryReceipts,
    private readonly logger: Logger,
  ) {}

  received(msg: ConsumeMessage): void {
    if (tryOf(msg.properties.headers) === 0 && faultOf(msg.content.toString('utf8')) === 'lose-confirmation') {
      this.logger.info({ msgId: msg.properties.messageId, devFault: 'lose-confirmation' }, 'DEV_FAULTS: confirmation dropped');
      return;
    }
    this.inner.received(msg);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
