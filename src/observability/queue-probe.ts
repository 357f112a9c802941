// Queue depth for /metrics and the dashboard: checkQueue on a channel of its own (a passive declare), opened on
// every (re)connection of the publisher's connection. It never throws into the connection's setup, so a probe
// problem can never hold up publishing.
import type { Channel, ChannelModel } from 'amqplib';
import type { Logger } from '../logger';
import { TUNING } from '../tuning';

export interface QueueDepth {
  queue: string;
  messages: number;
  consumers: number;
}

const TIMEOUT_MS = TUNING.queueProbeTimeoutMs;

export class QueueProbe {
  private model: ChannelModel | null = null;
  private channel: Channel | null = null;
  private opening: Promise<Channel | null> | null = null;
  private cached: { at: number; value: QueueDepth[] | null } | null = null;
  private inFlight: Promise<QueueDepth[] | null> | null = null;

  constructor(
    private readonly queues: readonly string[],
    private readonly logger: Logger,
  ) {}

  /** Register with AmqpConnection.onConnect. */
  readonly attach = async (model: ChannelModel): Promise<void> => {
    this.model = model;
    this.channel = null;
  };

  /** Called when the connection is lost. */
  readonly detach = (): void => {
    this.model = null;
    this.channel = null;
  };

  /** Depth of each queue; null when the broker cannot be asked right now. Cached for a second. */
  async depth(): Promise<QueueDepth[] | null> {
    if (this.cached && Date.now() - this.cached.at < TUNING.queueDepthCacheMs) return this.cached.value;
    if (!this.inFlight) {
      this.inFlight = this.read()
        .then((value) => {
          this.cached = { at: Date.now(), value };
          return value;
        })
        .finally(() => (this.inFlight = null));
    }
    return this.inFlight;
  }

  private async read(): Promise<QueueDepth[] | null> {
    const out: QueueDepth[] = [];
    for (const queue of this.queues) {
      const ch = await this.open();
      if (!ch) return null;
      try {
        const ok = await withTimeout(ch.checkQueue(queue), TIMEOUT_MS);
        out.push({ queue, messages: ok.messageCount, consumers: ok.consumerCount });
      } catch (err) {
        // a missing queue closes the channel (404); the next call opens a new one
        this.channel = null;
        this.logger.debug({ queue, err: (err as Error).message }, 'queue depth not available');
      }
    }
    return out;
  }

  private async open(): Promise<Channel | null> {
    if (this.channel) return this.channel;
    const model = this.model;
    if (!model) return null;
    this.opening ??= withTimeout(model.createChannel(), TIMEOUT_MS)
      .then((ch) => {
        ch.on('error', () => undefined);
        ch.on('close', () => {
          if (this.channel === ch) this.channel = null;
        });
        this.channel = ch;
        return ch;
      })
      .catch(() => null)
      .finally(() => (this.opening = null));
    return this.opening;
  }

  async close(): Promise<void> {
    const ch = this.channel;
    this.detach();
    // Bounded: on a blocked connection (a memory alarm) the close would wait for the alarm to clear.
    if (ch) await withTimeout(ch.close(), TIMEOUT_MS).catch(() => undefined);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
