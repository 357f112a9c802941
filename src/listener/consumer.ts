// Binds the MailListener to the mail queue (a QueueWorker: manual ack, bounded prefetch, re-subscribed after every
// reconnect): paused while the relay is down, yielding to a busy API, a delivery the database could not take back later.
import type { ConsumeMessage } from 'amqplib';
import type { AmqpConnection } from '../broker/amqp-connection';
import { QueueWorker, type Settlement } from '../broker/queue-worker';
import type { TopologyNames } from '../broker/topology';
import type { Logger } from '../logger';
import { TUNING } from '../tuning';
import type { MailListener } from './mail-listener';
import type { DeliveryReceipts } from './receipts';
import type { YieldGate } from './yield-gate';

export class QueueConsumer {
  private readonly worker: QueueWorker;

  constructor(
    private readonly deps: {
      connection: AmqpConnection;
      listener: MailListener;
      topology: TopologyNames;
      prefetch: number;
      retryLaterMs: number;
      logger: Logger;
      gate?: YieldGate;
      /** RELIABILITY_SCHEME=delayed-check: told of every delivery taken in hand (src/listener/receipts.ts) */
      receipts?: DeliveryReceipts;
    },
  ) {
    this.worker = new QueueWorker({ ...deps, queue: deps.topology.queue, handle: (msg) => this.onMessage(msg) });
  }

  get isSubscribed(): boolean {
    return this.worker.isSubscribed;
  }

  /** a channel is open (subscribed, or paused on purpose) */
  get isAttached(): boolean {
    return this.worker.isAttached;
  }

  get active(): number {
    return this.worker.active;
  }

  /** Stops taking messages (the relay is down); those in hand that were not sent are requeued by the listener. */
  pause(): Promise<void> {
    return this.worker.pause();
  }

  /** Takes messages again (the relay answered). */
  resume(): Promise<void> {
    return this.worker.resume();
  }

  private async onMessage(msg: ConsumeMessage): Promise<Settlement> {
    this.deps.receipts?.received(msg);
    const gate = this.deps.gate;
    await gate?.acquire();
    const verdict = await this.deps.listener.handle(msg.content).finally(() => gate?.release());
    if (verdict.action === 'ack') return 'ack';
    if (verdict.action === 'requeue') return { requeueAfterMs: 0 };
    this.deps.logger.warn({ msgId: msg.properties.messageId, reason: verdict.reason }, 'message left with the broker; will be redelivered');
    // back after a pause rather than at once, so a database outage is not a hot loop; a channel that died meanwhile
    // requeues it itself, and the claim keeps the copy from being sent twice
    return { requeueAfterMs: retryPause(msg, this.deps.retryLaterMs) };
  }

  /** Stops taking messages and waits for the ones in hand to finish (send, record, ack). */
  stop(timeoutMs: number): Promise<void> {
    this.deps.gate?.open();
    return this.worker.stop(timeoutMs);
  }
}

/**
 * The pause before a delivery the listener could not settle goes back: retryLaterMs, doubled for each time a quorum
 * queue says the message was returned already (x-delivery-count), up to TUNING.retryLaterMaxMs, so a message cycling
 * through a long database outage nears the queue's delivery limit only after most of an hour.
 */
export function retryPause(msg: Pick<ConsumeMessage, 'properties'>, baseMs: number): number {
  const returned = Number(msg.properties.headers?.['x-delivery-count'] ?? 0);
  return Math.min(TUNING.retryLaterMaxMs, baseMs * 2 ** Math.min(returned, 16));
}
