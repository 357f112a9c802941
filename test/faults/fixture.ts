// One scenario's world: its own database, broker names and SMTP sink, the apps and proxies it starts, and a
// teardown that undoes all of it in reverse order, whatever failed.
import type { MailDispatchApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { parseDatabaseUrl } from '../../src/store/db';
import { ChildApp } from '../support/child-app';
import { FaultProxy } from '../support/fault-proxy';
import { FaultSink } from '../support/fault-sink';
import { AMQP_URL, SERVER_DB_URL, deleteTopology, startApp, uniqueTopology, type TestDb } from '../support/services';
import { appEnv, createDbOn, type AppTarget } from './harness';

export class Fixture {
  readonly topology = uniqueTopology();
  db!: TestDb;
  sink!: FaultSink;
  private readonly cleanups: { what: string; fn: () => Promise<unknown> }[] = [];

  async setup(opts: { dbServerUrl?: string } = {}): Promise<this> {
    this.sink = await new FaultSink().start();
    this.defer('sink', () => this.sink.stop());
    this.defer('topology', () => deleteTopology(this.topology));
    this.db = await createDbOn(opts.dbServerUrl ?? SERVER_DB_URL);
    this.defer('database', () => this.db.drop());
    return this;
  }

  /** Registers an undo step; they run last-in first-out. */
  defer(what: string, fn: () => Promise<unknown>): void {
    this.cleanups.push({ what, fn });
  }

  async teardown(): Promise<void> {
    const errors: string[] = [];
    for (const c of this.cleanups.splice(0).reverse()) {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([c.fn(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('took over 60 s')), 60_000)))]);
      } catch (err) {
        errors.push(`${c.what}: ${(err as Error).message}`);
      } finally {
        clearTimeout(timer);
      }
    }
    if (errors.length) process.stderr.write(`teardown problems: ${errors.join('; ')}\n`);
  }

  target(over: Partial<AppTarget> = {}): AppTarget {
    return { databaseUrl: this.db.url, amqpUrl: AMQP_URL, smtpUrl: this.sink.url, topology: this.topology, ...over };
  }

  /** An in-process app (api, listener and job unless ROLES says otherwise), stopped at teardown. */
  async app(extra: Record<string, string> = {}, over: Partial<AppTarget> = {}): Promise<MailDispatchApp> {
    const app = await startApp(loadConfig(appEnv(this.target(over), extra)));
    this.defer('app', () => app.stop());
    return app;
  }

  /** The real entry point as a child process, killed at teardown. */
  async child(extra: Record<string, string> = {}, over: Partial<AppTarget> = {}): Promise<ChildApp> {
    const child = new ChildApp(appEnv(this.target(over), { LOG_LEVEL: 'warn', ...extra }));
    this.defer('child app', () => child.kill('SIGKILL'));
    return child.start();
  }

  /** A proxy in front of RabbitMQ. */
  async amqpProxy(): Promise<FaultProxy> {
    const u = new URL(AMQP_URL);
    const p = await new FaultProxy(u.hostname, Number(u.port || 5672)).start();
    this.defer('amqp proxy', () => p.stop());
    return p;
  }

  /** A proxy in front of this scenario's database server. */
  async dbProxy(): Promise<FaultProxy> {
    const t = parseDatabaseUrl(this.db.url);
    const p = await new FaultProxy(t.host, t.port).start();
    this.defer('database proxy', () => p.stop());
    return p;
  }
}
