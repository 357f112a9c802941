// One queue consumed by a handler with manual ack and bounded prefetch, re-subscribed after every reconnection: the
// delayed-check scheme's small queues (checks, confirmations, resend requests). A handler answers ack, or
// retry-later (the database did not answer): the message goes back after a pause, so an outage is not a hot loop.
// (The mail queue has its own consumer, src/listener/consumer.ts: it pauses for the relay and yields to the API.)
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { Logger } from '../logger';
import type { AmqpConnection } from './amqp-connection';
import { declareTopology, type TopologyNames } from './topology';

export type WorkerVerdict = 'ack' | 'retry-later';

export interface QueueWorkerOptions {
  connection: AmqpConnection;
  topology: TopologyNames;
  queue: string;
  prefetch: number;
  retryLaterMs: number;
  handle: (msg: ConsumeMessage) => Promise<WorkerVerdict>;
  logger: Logger;
}

export class QueueWorker {
  private channel: Channel | null = null;
  private consumerTag: string | null = null;
  private readonly inFlight = new Set<Promise<void>>();
  private stopped = false;

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

  private async subscribe(model: ChannelModel): Promise<void> {
    if (this.stopped) return;
    const ch = await model.createChannel();
    ch.on('error', (err: Error) => this.o.logger.warn({ err: err.message, queue: this.o.queue }, 'consumer channel error'));
    await declareTopology(ch, this.o.topology);
    await ch.prefetch(this.o.prefetch);
    this.channel = ch;
    const { consumerTag } = await ch.consume(this.o.queue, (msg) => msg && this.track(this.onMessage(ch, msg)), { noAck: false });
    this.consumerTag = consumerTag;
  }

  private track(p: Promise<void>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  private async onMessage(ch: Channel, msg: ConsumeMessage): Promise<void> {
    const verdict = await this.o.handle(msg).catch((err: Error) => {
      this.o.logger.warn({ err: err.message, queue: this.o.queue }, 'message left with the broker; will be redelivered');
      return 'retry-later' as const;
    });
    try {
      if (verdict === 'ack') return ch.ack(msg);
      await new Promise((r) => setTimeout(r, this.o.retryLaterMs));
      ch.nack(msg, false, true);
    } catch (err) {
      // the channel died: RabbitMQ requeues the unacked message
      this.o.logger.debug({ err: (err as Error).message }, 'could not settle a delivery on a closed channel');
    }
  }

  /** Stops taking messages and waits (up to timeoutMs) for the ones in hand. */
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
