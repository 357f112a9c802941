// DEV_FAULTS=true only, RELIABILITY_SCHEME=delayed-check: the scenarios' lost check messages and lost confirmations,
// played around their publishes. lose-check drops the check of a mail's first publish (try 0): the mail itself goes,
// so only the job's deadline would notice if the mail were lost too. lose-confirmation drops a mail's first
// confirmation in this process: its check then finds none and asks for a resend, which the producer must decline.
import type { PublishOutcome } from '../broker/publisher';
import type { Confirmation } from '../core/delayed-check';
import type { DevFault } from '../core/mail-message';
import type { Logger } from '../logger';
import type { CheckPublish, ConfirmPublish } from '../services/check-messages';
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

export class FaultyConfirmations implements ConfirmPublish {
  private readonly dropped = new Set<string>();

  constructor(
    private readonly inner: ConfirmPublish,
    private readonly faultOf: (msgId: string) => Promise<DevFault | undefined>,
    private readonly logger: Logger,
  ) {}

  async confirm(c: Confirmation): Promise<PublishOutcome> {
    if (!this.dropped.has(c.msgId) && (await this.faultOf(c.msgId)) === 'lose-confirmation') {
      this.dropped.add(c.msgId);
      this.logger.info({ msgId: c.msgId, devFault: 'lose-confirmation' }, 'DEV_FAULTS: confirmation dropped');
      return DROPPED;
    }
    return this.inner.confirm(c);
  }
}
