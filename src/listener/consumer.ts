// Binds the MailListener to a RabbitMQ queue: manual ack, bounded prefetch, re-subscribed after every reconnect.
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { AmqpConnection } from '../broker/amqp-connection';
import { declareTopology, type TopologyNames } from '../broker/topology';
import type { Logger } from '../logger';
import { TUNING } from '../tuning';
import type { MailListener } from './mail-listener';
import type { YieldGate } from './yield-gate';

export class QueueConsumer {
  private channel: Channel | null = null;
  private consumerTag: string | null = null;
  private readonly inFlight = new Set<Promise<void>>();
  private stopped = false;
  /** paused while the SMTP relay is down: subscribed to nothing, so the mails stay in RabbitMQ for whoever can send */
  private paused = false;

  constructor(
    private readonly deps: { connection: AmqpConnection; listener: MailListener; topology: TopologyNames; prefetch: number; retryLaterMs: number; logger: Logger; gate?: YieldGate },
  ) {
    deps.connection.onConnect((model) => this.subscribe(model));
    deps.connection.onDisconnect(() => {
      this.channel = null;
      this.consumerTag = null;
    });
  }

  get isSubscribed(): boolean {
    return this.consumerTag !== null;
  }

  /** a channel is open (subscribed, or paused on purpose) */
  get isAttached(): boolean {
    return this.channel !== null;
  }

  get active(): number {
    return this.inFlight.size;
  }

  private async subscribe(model: ChannelModel): Promise<void> {
    if (this.stopped) return;
    const ch = await model.createChannel();
    ch.on('error', (err: Error) => this.deps.logger.warn({ err: err.message }, 'consumer channel error'));
    await declareTopology(ch, this.deps.topology);
    await ch.prefetch(this.deps.prefetch);
    this.channel = ch;
    if (!this.paused) await this.consume(ch);
  }

  private async consume(ch: Channel): Promise<void> {
    const { consumerTag } = await ch.consume(this.deps.topology.queue, (msg) => msg && this.track(this.onMessage(ch, msg)), { noAck: false });
    this.consumerTag = consumerTag;
  }

  /** Stops taking messages (the relay is down); those in hand that were not sent are requeued by the listener. */
  async pause(): Promise<void> {
    this.paused = true;
    const ch = this.channel;
    const tag = this.consumerTag;
    this.consumerTag = null;
    if (ch && tag) await ch.cancel(tag).catch(() => undefined);
  }

  /** Takes messages again (the relay answered). */
  async resume(): Promise<void> {
    this.paused = false;
    const ch = this.channel;
    if (ch && !this.consumerTag && !this.stopped) await this.consume(ch).catch((err: Error) => this.deps.logger.warn({ err: err.message }, 'could not resume consuming; the next reconnection will'));
  }

  private track(p: Promise<void>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  private async onMessage(ch: Channel, msg: ConsumeMessage): Promise<void> {
    const gate = this.deps.gate;
    await gate?.acquire();
    const verdict = await this.deps.listener.handle(msg.content).finally(() => gate?.release());
    try {
      if (verdict.action === 'ack') return ch.ack(msg);
      if (verdict.action === 'requeue') return ch.nack(msg, false, true);
      this.deps.logger.warn({ msgId: msg.properties.messageId, reason: verdict.reason }, 'message left with the broker; will be redelivered');
      // Requeue after a pause rather than at once, so a database outage is not a hot loop.
      await new Promise((r) => setTimeout(r, retryPause(msg, this.deps.retryLaterMs)));
      ch.nack(msg, false, true);
    } catch (err) {
      // The channel died: RabbitMQ requeues the unacked message, and the claim keeps the copy from being sent twice.
      this.deps.logger.debug({ err: (err as Error).message }, 'could not settle a delivery on a closed channel');
    }
  }

  /** Stops taking messages and waits for the ones in hand to finish (send, record, ack). */
  async stop(timeoutMs: number): Promise<void> {
    this.stopped = true;
    this.deps.gate?.open();
    const ch = this.channel;
    if (ch && this.consumerTag) await ch.cancel(this.consumerTag).catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    if (ch) await ch.close().catch(() => undefined);
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
