// One RabbitMQ connection that survives restarts: amqplib's opt-in recovery reconnects with backoff,
// and every registered setup step (topology, channels, consumers) runs again on each new connection.
import { Socket } from 'node:net';
import { connect, type ChannelModel, type RecoveringChannelModel } from 'amqplib';
import type { Logger } from '../logger';

export type SetupStep = (model: ChannelModel) => Promise<void>;

export class AmqpConnection {
  private conn: RecoveringChannelModel | null = null;
  private readonly steps: SetupStep[] = [];
  private readonly downHandlers: (() => void)[] = [];
  private up = false;
  private blocked = false;

  constructor(
    private readonly url: string,
    private readonly name: string,
    private readonly logger: Logger,
  ) {}

  /** Registers a step that runs on every (re)connection; register before start(). */
  onConnect(step: SetupStep): void {
    this.steps.push(step);
  }

  /** Called whenever the connection is lost, so holders of channels drop them and fail what was in flight. */
  onDisconnect(handler: () => void): void {
    this.downHandlers.push(handler);
  }

  get isUp(): boolean {
    return this.up && !this.blocked;
  }

  get isBlocked(): boolean {
    return this.blocked;
  }

  /** Starts connecting in the background; never throws for an unreachable broker. */
  async start(): Promise<void> {
    const log = this.logger.child({ amqp: this.name });
    this.conn = await connect(withHeartbeat(this.url), {
      clientProperties: { connection_name: `mail-dispatch ${this.name} pid ${process.pid}` },
      // A connect whose handshake never gets an answer (a black-holed broker) must fail, or recovery waits forever.
      timeout: 10_000,
      recovery: {
        waitForConnect: false,
        initialDelay: 200,
        maxDelay: 5_000,
        maxRetries: Infinity,
        setup: async (model: ChannelModel) => {
          if (!coalesceWrites(model)) log.debug('amqplib socket not found: frames are written one by one');
          for (const step of this.steps) await step(model);
        },
      },
    });
    this.conn.on('connect', () => {
      this.up = true;
      this.blocked = false;
      log.info('connected to RabbitMQ');
    });
    this.conn.on('disconnect', (err: Error) => {
      this.up = false;
      log.warn({ err: err?.message }, 'RabbitMQ connection lost; reconnecting');
      for (const h of this.downHandlers) h();
    });
    this.conn.on('connect-failed', (err: Error) => log.debug({ err: err.message }, 'RabbitMQ connect attempt failed'));
    this.conn.on('blocked', (reason: string) => {
      this.blocked = true;
      log.warn({ reason }, 'RabbitMQ blocked this connection (resource alarm)');
    });
    this.conn.on('unblocked', () => {
      this.blocked = false;
      log.info('RabbitMQ unblocked this connection');
    });
    this.conn.on('error', (err: Error) => log.warn({ err: err.message }, 'RabbitMQ connection error'));
    this.conn.on('handler-error', (err: Error, event: string) => log.error({ err, event }, 'handler for a RabbitMQ event threw'));
  }

  /** Waits until connected, up to `ms`; true when connected. */
  async waitUntilUp(ms: number): Promise<boolean> {
    const until = Date.now() + ms;
    while (!this.up && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
    return this.up;
  }

  async close(): Promise<void> {
    const c = this.conn;
    this.conn = null;
    this.up = false;
    if (c) await c.close().catch(() => undefined);
  }
}

/** A 10 s heartbeat unless the URL sets one: a black-holed connection is noticed in seconds, not minutes. */
function withHeartbeat(url: string): string {
  const u = new URL(url);
  if (!u.searchParams.has('heartbeat')) u.searchParams.set('heartbeat', '10');
  return u.toString();
}

/**
 * amqplib writes every frame to the socket on its own: a publish, an ack, each one system call. Corking the socket
 * for the rest of the tick sends what the tick produced in one writev (Nagle-like, but without its delay); measured
 * in the benchmark: 10% less CPU in the app and 20% less in RabbitMQ per mail. The socket is amqplib's
 * `connection.stream`, not in its types: when it is absent nothing changes (false; a test checks it is found).
 */
export function coalesceWrites(model: ChannelModel): boolean {
  const socket = (model.connection as { stream?: unknown }).stream;
  if (!(socket instanceof Socket)) return false;
  const write = socket.write;
  let corked = false;
  socket.write = function (this: Socket, ...args: Parameters<Socket['write']>) {
    if (!corked) {
      corked = true;
      this.cork();
      process.nextTick(() => {
        corked = false;
        this.uncork();
      });
    }
    return write.apply(this, args);
  } as Socket['write'];
  return true;
}
