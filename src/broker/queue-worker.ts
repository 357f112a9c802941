// One queue consumed by a handler with manual ack and bounded prefetch, re-subscribed after every reconnection, that
// can pause (cancel its subscription, keep its channel) and resume. The mail queue's consumer (src/listener/consumer.ts)
// and the delayed-check scheme's small queues (checks, confirmations, resend requests) are built on it. A handler
// settles each delivery: ack, or back to the queue after a pause (0: at once), so an outage is not a hot loop.
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { Logger } from '../logger';
import type { AmqpConnection } from './amqp-connection';
import { declareTopology, type TopologyNames } from './topology';

export type Settlement = 'ack' | { requeueAfterMs: number };

export interface QueueWorkerOptions {
  connection: AmqpConnection;
  topology: TopologyNames;
  queue: string;
  prefetch: number;
  /** the pause before a delivery whose handler threw goes back */
  retryLaterMs: number;
  handle: (msg: ConsumeMessage) => Promise<Settlement>;
  logger: Logger;
}

export class QueueWorker {
  private channel: Channel | null = null;
  private consumerTag: string | null = null;
  private readonly inFlight = new Set<Promise<void>>();
  private stopped = false;
  private paused = false;

  constructor(private readonly o: QueueWorkerOptions) {
    o.connection.onConnect((model) => this.subscribe(model));
    o.connection.onDisconnect(() => {
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

  /** deliveries in hand */
  get active(): number {
    return this.inFlight.size;
  }

  private async subscribe(model: ChannelModel): Promise<void> {
    if (this.stopped) return;
    const ch = await model.createChannel();
    ch.on('error', (err: Error) => this.o.logger.warn({ err: err.message, queue: this.o.queue }, 'consumer channel error'));
    await declareTopology(ch, this.o.topology);
    await ch.prefetch(this.o.prefetch);
    this.channel = ch;
    if (!this.paused) await this.consume(ch);
  }

  private async consume(ch: Channel): Promise<void> {
    const { consumerTag } = await ch.consume(this.o.queue, (msg) => msg && this.track(this.onMessage(ch, msg)), { noAck: false });
    this.consumerTag = consumerTag;
  }

  /** Takes no more deliveries until resume(); those in hand are settled as usual. */
  async pause(): Promise<void> {
    this.paused = true;
    const ch = this.channel;
    const tag = this.consumerTag;
    this.consumerTag = null;
    if (ch && tag) await ch.cancel(tag).catch(() => undefined);
  }

  async resume(): Promise<void> {
    this.paused = false;
    const ch = this.channel;
    if (ch && !this.consumerTag && !this.stopped) await this.consume(ch).catch((err: Error) => this.o.logger.warn({ err: err.message, queue: this.o.queue }, 'could not resume consuming; the next reconnection will'));
  }

  private track(p: Promise<void>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  private async onMessage(ch: Channel, msg: ConsumeMessage): Promise<void> {
    const settlement = await this.o.handle(msg).catch((err: Error): Settlement => {
      this.o.logger.warn({ err: err.message, queue: this.o.queue }, 'message left with the broker; will be redelivered');
      return { requeueAfterMs: this.o.retryLaterMs };
    });
    try {
      if (settlement === 'ack') return ch.ack(msg);
      if (settlement.requeueAfterMs > 0) await new Promise((r) => setTimeout(r, settlement.requeueAfterMs));
      ch.nack(msg, false, true);
    } catch (err) {
      // the channel died: RabbitMQ requeues the unacked message
      this.o.logger.debug({ err: (err as Error).message }, 'could not settle a delivery on a closed channel');
    }
  }

  /** Stops taking deliveries and waits (up to timeoutMs) for the ones in hand to be settled. */
  async stop(timeoutMs: number): Promise<void> {
    this.stopped = true;
    const ch = this.channel;
    if (ch && this.consumerTag) await ch.cancel(this.consumerTag).catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    if (ch) await ch.close().catch(() => undefined);
  }
}
