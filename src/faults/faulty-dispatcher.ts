// DEV_FAULTS=true only: the publish faults of the documented scenario 2, played around the publishes the API asks for
// (a new mail, a person's retry). The job's re-deliveries go to the Dispatcher itself, so the job is what recovers them.
//
// It wraps the Dispatcher (publish, then record the outcome), not the Publisher, because of lose-publish: "the row is
// stored, nothing is published", so the row stays `sending` until the job finds its confirm missing (no-confirm). Below
// the Dispatcher every publish must settle with an outcome, and the Dispatcher records each one (an ack as `delivered`,
// anything else as a counted try); a lost publish has none to give. misroute is the real Publisher's own answer: the
// broker returns a publish with a routing key no queue is bound to.
import type { Logger } from '../logger';
import type { DispatchItem } from '../services/dispatcher';
import type { CheckPublish } from '../services/check-messages';
import type { MailDispatch } from '../services/mail-service';
import { faultOf } from './dev-faults';

export class FaultyDispatcher implements MailDispatch {
  constructor(
    private readonly inner: MailDispatch,
    private readonly logger: Logger,
    /** RELIABILITY_SCHEME=delayed-check: a lost publish loses the mail, not its check, which finds the mail missing */
    private readonly checks: CheckPublish | null = null,
  ) {}

  dispatch(item: DispatchItem): Promise<unknown> {
    const fault = faultOf(item.msg);
    if (fault === 'lose-publish') {
      this.logger.info({ msgId: item.msgId, devFault: fault }, this.checks ? 'DEV_FAULTS: publish dropped; its check will find no confirmation' : 'DEV_FAULTS: publish dropped; the job will find the row still sending');
      return this.checks ? this.checks.check(item) : Promise.resolve();
    }
    if (fault === 'misroute') return this.inner.dispatch({ ...item, routingKey: `${item.routingKey}.misrouted` });
    return this.inner.dispatch(item);
  }
}
