// Publishes with publisher confirms: persistent, mandatory, msgId as message and correlation id.
// Every publish settles exactly once: ack, nack, returned (unroutable), error, timeout, or unavailable, and each
// settlement is announced as a 'settled' event (src/observability/metrics.ts times them).
import { EventEmitter } from 'node:events';
import type { ChannelModel, ConfirmChannel, Message } from 'amqplib';
import type { Logger } from '../logger';
import { TUNING } from '../tuning';
import type { AmqpConnection } from './amqp-connection';
import { declareTopology, parkingExchange, type TopologyNames } from './topology';

export type PublishFailure = 'nack' | 'returned' | 'error' | 'timeout' | 'unavailable';
export type PublishOutcome = { ok: true; latencyMs: number } | { ok: false; reason: PublishFailure; detail: string };

export interface PublishRequest {
  msgId: string;
  exchange: string;
  routingKey: string;
  body: Buffer;
  headers?: Record<string, string>;
}

export interface Publish {
  publish(req: PublishRequest): Promise<PublishOutcome>;
  readonly isReady: boolean;
}

/** How one publish settled, and how long after it was asked for. */
export interface Settled {
  msgId: string;
  outcome: 'ack' | PublishFailure;
  ms: number;
}

// Typed events on the instance rather than node:diagnostics_channel: a channel is process-wide, and one process can
// hold several publishers (listener threads' apps, tests' apps), each timed by its own app's metrics.
export interface PublisherEvents {
  settled: [s: Settled];
}

interface Pending {
  settle: (o: PublishOutcome) => void;
  msgId: string;
  exchange: string;
  /** performance.now() when the publish was asked for */
  started: number;
  /** performance.now() after which the publish counts as timed out */
  deadline: number;
}

export class Publisher extends EventEmitter<PublisherEvents> implements Publish {
  private channel: ConfirmChannel | null = null;
  private readonly pending = new Map<number, Pending>();
  /** msgId → reply of a basic.return not yet matched with its ack */
  private readonly returned = new Map<string, string>();
  private seq = 0;
  /** one timer for all confirms in flight, armed for the oldest, instead of a timer per publish */
  private sweeper: NodeJS.Timeout | null = null;

  constructor(
    private readonly deps: { connection: AmqpConnection; topology: TopologyNames; confirmTimeoutMs: number; logger: Logger },
  ) {
    super();
    deps.connection.onConnect((model) => this.attach(model));
    deps.connection.onDisconnect(() => this.detach('connection lost'));
  }

  get isReady(): boolean {
    return this.channel !== null && this.deps.connection.isUp;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  private async attach(model: ChannelModel): Promise<void> {
    const ch = await model.createConfirmChannel();
    ch.on('error', (err: Error) => this.deps.logger.warn({ err: err.message }, 'publisher channel error'));
    ch.on('close', () => {
      if (this.channel === ch) this.detach('channel closed');
    });
    // RabbitMQ sends basic.return before the ack of an unroutable mandatory publish.
    // A msgId is never in flight twice at once (the job waits out the publish grace), so it keys the return.
    ch.on('return', (msg: Message) => {
      const f = msg.fields as unknown as { replyCode?: number; replyText?: string };
      const id = msg.properties.messageId;
      if (typeof id === 'string') this.returned.set(id, `${f.replyCode} ${f.replyText}`);
    });
    await declareTopology(ch, this.deps.topology);
    this.channel = ch;
  }

  private detach(why: string): void {
    this.channel = null;
    for (const [id, p] of this.pending) this.finish(id, p, { ok: false, reason: 'error', detail: `publish interrupted: ${why}` });
  }

  publish(req: PublishRequest): Promise<PublishOutcome> {
    const ch = this.channel;
    const started = performance.now();
    if (!ch || !this.deps.connection.isUp) {
      const detail = this.deps.connection.isBlocked ? 'broker blocked publishing (resource alarm)' : 'broker not connected';
      this.emit('settled', { msgId: req.msgId, outcome: 'unavailable', ms: performance.now() - started });
      return Promise.resolve({ ok: false, reason: 'unavailable', detail });
    }
    const publishId = ++this.seq;
    return new Promise<PublishOutcome>((resolve) => {
      this.pending.set(publishId, { settle: resolve, msgId: req.msgId, exchange: req.exchange, started, deadline: started + this.deps.confirmTimeoutMs });
      this.armSweeper();
      try {
        ch.publish(
          req.exchange,
          req.routingKey,
          req.body,
          {
            persistent: true,
            mandatory: true,
            contentType: 'application/json',
            messageId: req.msgId,
            correlationId: req.msgId,
            timestamp: Math.floor(Date.now() / 1000),
            ...(req.headers ? { headers: req.headers } : {}),
          },
          (err: unknown) => this.onConfirm(publishId, req.msgId, err),
        );
      } catch (err) {
        const p = this.pending.get(publishId);
        if (p) this.finish(publishId, p, { ok: false, reason: 'error', detail: (err as Error).message });
      }
    });
  }

  /** Publishes a message that can never be a mail to the parking queue, with the reason in a header. */
  park(t: TopologyNames, original: { body: Buffer; msgId?: string }, reason: string): Promise<PublishOutcome> {
    return this.publish({
      msgId: original.msgId ?? 'unknown',
      exchange: parkingExchange(t),
      routingKey: '',
      body: original.body,
      headers: { 'x-park-reason': reason.slice(0, 500), 'x-parked-at': new Date().toISOString() },
    });
  }

  private onConfirm(publishId: number, msgId: string, err: unknown): void {
    const returned = this.returned.get(msgId);
    this.returned.delete(msgId);
    const p = this.pending.get(publishId);
    if (!p) return; // already timed out: the row was counted as failed then, and a late ack changes nothing
    if (returned !== undefined) return this.finish(publishId, p, { ok: false, reason: 'returned', detail: `unroutable: ${returned}` });
    if (err) {
      const nack = err instanceof Error && /nack/i.test(err.message);
      return this.finish(publishId, p, { ok: false, reason: nack ? 'nack' : 'error', detail: err instanceof Error ? err.message : String(err) });
    }
    this.finish(publishId, p, { ok: true, latencyMs: performance.now() - p.started });
  }

  private armSweeper(): void {
    if (this.sweeper || this.pending.size === 0) return;
    const oldest = this.pending.values().next().value!;
    this.sweeper = setTimeout(() => {
      this.sweeper = null;
      this.timeOutDue();
      this.armSweeper();
    }, Math.max(0, oldest.deadline - performance.now()));
    // the connection's socket keeps the process alive while a confirm can still come; a closed one settles them all
    this.sweeper.unref();
  }

  /** The map holds publishes in the order they were made, all with the same timeout: the first not yet due ends it. */
  private timeOutDue(): void {
    const now = performance.now();
    for (const [id, p] of this.pending) {
      if (p.deadline > now) break;
      this.finish(id, p, { ok: false, reason: 'timeout', detail: `no confirm within ${this.deps.confirmTimeoutMs} ms` });
    }
  }

  private finish(publishId: number, p: Pending, outcome: PublishOutcome): void {
    this.pending.delete(publishId);
    if (this.pending.size === 0 && this.sweeper) {
      clearTimeout(this.sweeper);
      this.sweeper = null;
    }
    const ms = outcome.ok ? outcome.latencyMs : performance.now() - p.started;
    this.emit('settled', { msgId: p.msgId, outcome: outcome.ok ? 'ack' : outcome.reason, ms });
    if (outcome.ok) this.deps.logger.debug({ msgId: p.msgId, confirmMs: Math.round(ms * 10) / 10, exchange: p.exchange }, 'publish confirmed');
    p.settle(outcome);
  }

  /** Waits for outstanding confirms (each bounded by the confirm timeout). */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await new Promise((r) => setTimeout(r, TUNING.publishDrainPollMs));
  }
}
