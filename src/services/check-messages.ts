// The delayed-check scheme's publishes (RELIABILITY_SCHEME=delayed-check): the check message that follows a mail
// (into the delay queue, which dead-letters it into the check queue CHECK_DELAY_MS later), the listener's
// confirmations, and the callback's resend request. Each goes through the default exchange to its queue, persistent,
// mandatory and confirmed like a mail (src/broker/publisher.ts). Under DEV_FAULTS, src/faults drops some checks and
// confirmations.
import type { Publish, PublishOutcome } from '../broker/publisher';
import { checkDelayQueue, confirmQueue, resendQueue, type TopologyNames } from '../broker/topology';
import { encodeCheck, encodeConfirmations, type CheckMessage, type Confirmation, type ResendRequest } from '../core/delayed-check';
import type { DispatchItem } from './dispatcher';

/** Publishes the check of one publish of a mail. */
export interface CheckPublish {
  check(item: DispatchItem): Promise<PublishOutcome>;
}

/** Publishes a listener's confirmations of the deliveries it took in hand. */
export interface ConfirmPublish {
  confirm(cs: readonly Confirmation[]): Promise<PublishOutcome>;
}

export class CheckMessages implements CheckPublish, ConfirmPublish {
  constructor(private readonly deps: { publisher: Publish; topology: TopologyNames }) {}

  check(item: Pick<DispatchItem, 'msgId' | 'tryCount'>): Promise<PublishOutcome> {
    return this.send(checkDelayQueue(this.deps.topology), `check:${item.msgId}`, encodeCheck(item));
  }

  /** A check published again unchanged (the mail queue was still draining when it came due). */
  recheck(m: CheckMessage): Promise<PublishOutcome> {
    return this.check(m);
  }

  confirm(cs: readonly Confirmation[]): Promise<PublishOutcome> {
    return this.send(confirmQueue(this.deps.topology), `confirm:${cs[0]?.msgId}+${cs.length}`, encodeConfirmations(cs));
  }

  resend(r: ResendRequest): Promise<PublishOutcome> {
    return this.send(resendQueue(this.deps.topology), `resend:${r.msgId}`, encodeCheck(r));
  }

  /** `messageId`: the mail's id with the message's kind, so a return of one is never matched with the mail's confirm */
  private send(queue: string, messageId: string, body: Buffer): Promise<PublishOutcome> {
    return this.deps.publisher.publish({ msgId: messageId, exchange: '', routingKey: queue, body });
  }
}
