// An in-process TCP proxy for tests, in front of RabbitMQ or MariaDB (test/support/fixture.ts puts one there: `via`).
// Beyond passing traffic it can
//   - refuse: stop listening (new connections get ECONNREFUSED) and reset the open ones (RST): the service is down;
//   - reset: reset the open connections but keep accepting new ones (a connection reset, a failover);
//   - black-hole: accept connections and forward nothing in either direction, without closing anything, for the
//     open connections and the new ones alike (a partition, a dead backend behind a load balancer);
//   - delay: hold every chunk for `delayMs` in each direction, in order.
// A black hole heals in one of three ways for the connections caught in it: `resume` (the partition heals and the
// bytes held back flow on), `reset` (a middlebox resets them), `keep` (they stay silent for ever, like flows whose
// NAT entry was lost; only new connections pass).
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export type ProxyMode = 'pass' | 'refuse' | 'blackhole';
export type HealStuck = 'resume' | 'reset' | 'keep';

interface Chunk {
  due: number;
  data: Buffer;
}

class Pipe {
  private readonly queue: Chunk[] = [];
  private timer: NodeJS.Timeout | null = null;
  private ended = false;

  constructor(
    from: net.Socket,
    private readonly to: net.Socket,
    private readonly flow: Flow,
  ) {
    from.on('data', (d: Buffer) => {
      this.queue.push({ due: Date.now() + flow.proxy.delayMs, data: d });
      this.pump();
    });
    from.on('end', () => {
      this.ended = true;
      this.pump();
    });
  }

  pump(): void {
    if (this.timer || this.flow.silent) return;
    while (this.queue.length) {
      const head = this.queue[0]!;
      const wait = head.due - Date.now();
      if (wait > 0) {
        this.timer = setTimeout(() => {
          this.timer = null;
          this.pump();
        }, wait);
        return;
      }
      this.queue.shift();
      if (!this.to.destroyed) this.to.write(head.data);
    }
    if (this.ended && !this.to.destroyed) this.to.end();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

class Flow {
  silent = false;
  /** a flow left silent for ever by heal('keep') */
  abandoned = false;
  private readonly pipes: Pipe[];

  constructor(
    readonly proxy: FaultProxy,
    readonly client: net.Socket,
    readonly upstream: net.Socket,
  ) {
    this.pipes = [new Pipe(client, upstream, this), new Pipe(upstream, client, this)];
    for (const s of [client, upstream]) {
      s.on('error', () => undefined);
      s.on('close', () => {
        // While silent, a close on one side is not passed on: the other side must find out by itself.
        if (!this.silent) this.destroy(false);
      });
    }
  }

  silence(): void {
    this.silent = true;
    this.client.pause();
    this.upstream.pause();
  }

  resume(): void {
    if (this.abandoned) return;
    this.silent = false;
    this.client.resume();
    this.upstream.resume();
    for (const p of this.pipes) p.pump();
    if (this.client.destroyed || this.upstream.destroyed) this.destroy(false);
  }

  destroy(reset: boolean): void {
    for (const p of this.pipes) p.stop();
    for (const s of [this.client, this.upstream]) {
      if (s.destroyed) continue;
      if (reset && typeof s.resetAndDestroy === 'function' && s.readyState !== 'opening') s.resetAndDestroy();
      else s.destroy();
    }
    this.proxy.forget(this);
  }
}

export class FaultProxy {
  mode: ProxyMode = 'pass';
  /** added one-way latency, per chunk, each direction */
  delayMs = 0;
  /** connections accepted since start */
  accepted = 0;
  private server: net.Server;
  private readonly flows = new Set<Flow>();
  private listenPort = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
    private readonly wantedPort = 0,
  ) {
    this.server = this.newServer();
  }

  private newServer(): net.Server {
    const server = net.createServer((client) => this.accept(client));
    server.on('error', () => undefined);
    return server;
  }

  private accept(client: net.Socket): void {
    this.accepted++;
    if (this.mode === 'refuse') return void client.destroy();
    const upstream = net.connect(this.targetPort, this.targetHost);
    const flow = new Flow(this, client, upstream);
    this.flows.add(flow);
    if (this.mode === 'blackhole') flow.silence();
  }

  /** @internal */
  forget(flow: Flow): void {
    this.flows.delete(flow);
  }

  async start(): Promise<this> {
    await this.listen(this.wantedPort);
    return this;
  }

  private listen(port: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        this.listenPort = (this.server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  get port(): number {
    return this.listenPort;
  }

  /** Open connections (including silent ones). */
  get open(): number {
    return this.flows.size;
  }

  /** Rewrites a URL's host and port to go through this proxy. */
  via(url: string): string {
    const u = new URL(url);
    u.hostname = '127.0.0.1';
    u.port = String(this.port);
    return u.toString();
  }

  /** The service is down: new connections are refused (the port is closed) and the open ones are reset. */
  async down(): Promise<void> {
    this.mode = 'refuse';
    // server.close() calls back only once every connection is gone, so reset them first.
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    this.resetAll();
    await closed;
  }

  /** The service is back: the same port accepts again. */
  async up(): Promise<void> {
    if (this.mode === 'refuse') {
      this.server = this.newServer();
      await this.listen(this.listenPort);
    }
    this.mode = 'pass';
  }

  /** Resets every open connection (RST); new connections still pass. */
  /** Resets every open flow; answers how many there were. */
  resetAll(): number {
    const flows = [...this.flows];
    for (const f of flows) f.destroy(true);
    return flows.length;
  }

  /** Open connections and new ones go silent in both directions; nothing is closed. */
  blackhole(): void {
    this.mode = 'blackhole';
    for (const f of this.flows) f.silence();
  }

  /** New connections pass again; the connections caught in the black hole resume, are reset, or stay silent. */
  heal(stuck: HealStuck = 'resume'): void {
    this.mode = 'pass';
    for (const f of [...this.flows]) {
      if (!f.silent) continue;
      if (stuck === 'resume') f.resume();
      else if (stuck === 'reset') f.destroy(true);
      else f.abandoned = true;
    }
  }

  async stop(): Promise<void> {
    this.mode = 'refuse';
    const closed = new Promise<void>((r) => (this.server.listening ? this.server.close(() => r()) : r()));
    for (const f of [...this.flows]) f.destroy(false);
    await closed;
  }
}
