// A small TCP proxy for fault tests: pass traffic, refuse new connections, or cut the ones open.
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export class TcpProxy {
  private server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  refusing = false;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {
    this.server = net.createServer((client) => this.accept(client));
  }

  private accept(client: net.Socket): void {
    if (this.refusing) return void client.destroy();
    const upstream = net.connect(this.targetPort, this.targetHost);
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    return this;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Refuses new connections and resets the open ones: the service looks down. */
  down(): void {
    this.refusing = true;
    for (const s of this.sockets) s.destroy();
  }

  up(): void {
    this.refusing = false;
  }

  async stop(): Promise<void> {
    this.down();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
