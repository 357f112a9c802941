// One test file's world on the shared services, for every integration test and fault scenario: its own database and
// broker names, an SMTP server to send to, the apps it starts (in process, or the real entry point as a process),
// proxies in front of the broker or the database, and a teardown that undoes all of it in reverse order, whatever
// failed.
//
//   const f = await startFixture({ roles: 'api', env: SECURED, sink: 'none' });   // f.app runs; afterAll(() => f.stop())
//   const fx = new Fixture({ sink: 'fault', app: false });                        // beforeAll(() => fx.setup())
//   const app = await fx.startApp({ via: ['amqp'] });                             // (await fx.proxy('amqp')).blackhole()
import type { AppOverrides, MailDispatchApp } from '../../src/app';
import type { TopologyNames } from '../../src/broker/topology';
import { loadConfig } from '../../src/config';
import { parseDatabaseUrl } from '../../src/store/db';
import { ChildApp } from './child-app';
import { FaultProxy } from './fault-proxy';
import { FaultSink } from './fault-sink';
import type { PrivateMariaDb } from './private-mariadb';
import { AMQP_URL, SERVER_DB_URL, appEnv, createTestDb, deleteTopology, startApp, uniqueTopology, type TestDb } from './services';
import { SmtpSink } from './smtp-sink';

/** No SMTP server: a closed port, for apps without a listener (ROLES=api). */
export const NO_SMTP = 'smtp://127.0.0.1:9?ignoreTLS=true';

/** The SMTP server the apps send to: the plain sink, the sink that plays a real relay's faults, or none. */
export type SinkKind = 'smtp' | 'fault' | 'none';
export type SinkOf<K extends SinkKind> = K extends 'fault' ? FaultSink : K extends 'smtp' ? SmtpSink : undefined;

/** A service the fixture can put a proxy in front of. */
export type Proxied = 'amqp' | 'db';

/** How one app is started. Given to the fixture, they are the defaults of every app it starts. */
export interface AppOptions {
  /** ROLES: which of api, listener and job the app runs (default: all three) */
  roles?: string;
  /** environment on top of the suite's fast timings (FAST) and the fixture's names */
  env?: Record<string, string>;
  /** in-process collaborators (a logger to read, a fake mailer); not for child processes */
  overrides?: AppOverrides;
  /** services the app reaches through the fixture's proxy (made on first use, see proxy()) */
  via?: Proxied[];
  /** addresses instead of the fixture's own (another relay, a broker URL with parameters) */
  databaseUrl?: string;
  amqpUrl?: string;
  smtpUrl?: string;
  /** broker names instead of the fixture's own (deleted at teardown all the same) */
  topology?: TopologyNames;
}

export interface FixtureOptions<K extends SinkKind = 'smtp'> extends AppOptions {
  /** the SMTP server (default 'smtp'); with 'none' the apps get `smtpUrl`, or NO_SMTP */
  sink?: K;
  /** start one app at setup, `fixture.app` (default true); scenarios that start their own say false */
  app?: boolean;
  /** a private MariaDB server for the fixture's database instead of the shared one: made at setup, destroyed at teardown */
  dbServer?: PrivateMariaDb;
  /** the start of the database's name (default 'mdtest') */
  dbPrefix?: string;
}

export class Fixture<K extends SinkKind = 'smtp'> {
  readonly topology: TopologyNames;
  db!: TestDb;
  sink!: SinkOf<K>;
  private first: MailDispatchApp | null = null;
  private readonly proxies = new Map<Proxied, FaultProxy>();
  private readonly cleanups: { what: string; fn: () => Promise<unknown> }[] = [];

  constructor(private readonly options: FixtureOptions<K> = {}) {
    this.topology = options.topology ?? uniqueTopology();
  }

  /** Makes the database, the SMTP server and (unless `app: false`) the first app. */
  async setup(): Promise<this> {
    const server = this.options.dbServer;
    if (server) {
      this.defer('private MariaDB server', () => server.destroy());
      await server.create();
    }
    this.defer('broker names', () => deleteTopology(this.topology));
    this.db = await createTestDb(server?.serverUrl ?? SERVER_DB_URL, this.options.dbPrefix);
    this.defer('database', () => this.db.drop());
    const kind: SinkKind = this.options.sink ?? 'smtp';
    if (kind !== 'none') {
      const sink = await (kind === 'fault' ? new FaultSink() : new SmtpSink()).start();
      this.defer('SMTP sink', () => sink.stop());
      this.sink = sink as SinkOf<K>;
    }
    if (this.options.app !== false) this.first = await this.startApp();
    return this;
  }

  /** The app started at setup. */
  get app(): MailDispatchApp {
    if (!this.first) throw new Error('this fixture started no app at setup (app: false): use startApp()');
    return this.first;
  }

  /** Another in-process app on the fixture's database, broker names and SMTP server; stopped at teardown. */
  async startApp(opts: AppOptions = {}): Promise<MailDispatchApp> {
    const app = await startApp(loadConfig(await this.envOf(opts)), { ...this.options.overrides, ...opts.overrides });
    this.defer('app', () => app.stop());
    return app;
  }

  /** The real entry point (src/main.ts) as a child process, logging at warn; killed at teardown. */
  async child(opts: AppOptions = {}): Promise<ChildApp> {
    const child = new ChildApp(await this.envOf(opts, { LOG_LEVEL: 'warn' }));
    this.defer('child app', () => child.kill('SIGKILL'));
    return child.start();
  }

  /** The proxy in front of RabbitMQ or of this fixture's database server: one each, made on first use. */
  async proxy(service: Proxied): Promise<FaultProxy> {
    const made = this.proxies.get(service);
    if (made) return made;
    const amqp = new URL(AMQP_URL);
    const { host, port } = service === 'db' ? parseDatabaseUrl(this.db.url) : { host: amqp.hostname, port: Number(amqp.port || 5672) };
    const proxy = await new FaultProxy(host, port).start();
    this.proxies.set(service, proxy);
    this.defer(`${service} proxy`, () => proxy.stop());
    return proxy;
  }

  /** Registers an undo step; they run last-in first-out. */
  defer(what: string, fn: () => Promise<unknown>): void {
    this.cleanups.push({ what, fn });
  }

  /** Undoes everything, each step bounded to 60 s; a step that fails is reported and the others still run. */
  async stop(): Promise<void> {
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

  /** An app's environment: the fixture's defaults, then the app's own options. */
  private async envOf(opts: AppOptions, base: Record<string, string> = {}): Promise<Record<string, string>> {
    const d = this.options;
    const via = opts.via ?? d.via ?? [];
    const topology = opts.topology ?? this.topology;
    if (topology !== this.topology) this.defer('broker names', () => deleteTopology(topology));
    const roles = opts.roles ?? d.roles;
    return appEnv(
      {
        databaseUrl: opts.databaseUrl ?? d.databaseUrl ?? (via.includes('db') ? (await this.proxy('db')).via(this.db.url) : this.db.url),
        amqpUrl: opts.amqpUrl ?? d.amqpUrl ?? (via.includes('amqp') ? (await this.proxy('amqp')).via(AMQP_URL) : AMQP_URL),
        smtpUrl: opts.smtpUrl ?? d.smtpUrl ?? (this.sink as { url?: string } | undefined)?.url ?? NO_SMTP,
        topology,
      },
      { ...base, ...d.env, ...opts.env, ...(roles ? { ROLES: roles } : {}) },
    );
  }
}

/** A fixture, set up: its database, SMTP server and first app; on a failure half-way, what was made is undone. */
export async function startFixture<K extends SinkKind = 'smtp'>(options: FixtureOptions<K> = {}): Promise<Fixture<K>> {
  const fixture = new Fixture<K>(options);
  try {
    return await fixture.setup();
  } catch (err) {
    await fixture.stop();
    throw err;
  }
}
