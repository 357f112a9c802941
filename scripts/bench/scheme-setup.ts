// What `npm run bench -- --schemes` (schemes.ts) makes and undoes: the cleanup, each scheme's databases (a MariaDB user
// of its own for each: scheme-counters.ts counts by user), broker names, the apps, and the lost-publish phase's sink.
import { randomBytes } from 'node:crypto';
import { SMTPServer } from 'smtp-server';
import { deleteTopology, type TopologyNames } from '../../src/broker/topology';
import { freePort } from './bench-util';
import { type Admin, CHECK_DELAY_MS, type Scheme } from './scheme-counters';
import type { SchemesApp, SchemesDeps } from './schemes';

// ---------------------------------------------------------------------------------------------- cleanup, always

/** What a run made, undone in reverse order: at the end of its scope, on an error, or on SIGINT/SIGTERM. */
class Cleanup {
  private tasks: { what: string; fn: () => Promise<unknown> }[] = [];
  add(what: string, fn: () => Promise<unknown>): void {
    this.tasks.push({ what, fn });
  }
  /** where the current scope starts: run(mark) undoes what was added since */
  mark(): number {
    return this.tasks.length;
  }
  async run(mark = 0): Promise<void> {
    while (this.tasks.length > mark) {
      const t = this.tasks.pop()!;
      await t.fn().catch((err: Error) => console.error(`cleanup: ${t.what} failed: ${err.message}`));
    }
  }
}

export const cleanup = new Cleanup();

const stopping = new WeakMap<SchemesApp, Promise<void>>();

/** bench.ts's stop (SIGTERM, wait, log summary and its files, drop, topology), once, whoever asks first; killed if it hangs. */
export function stopApp(app: SchemesApp): Promise<void> {
  let p = stopping.get(app);
  if (!p) {
    const t = setTimeout(() => app.proc.kill('SIGKILL'), 70_000); // the app's own graceful stop gives up after 60 s
    p = app.stop().finally(() => clearTimeout(t));
    stopping.set(app, p);
  }
  return p;
}

// ---------------------------------------------------------------------------------------------- what a run deploys

interface DbAccount {
  database: string;
  user: string;
  /** the app's URL: as this account */
  url: string;
  /** the same database as the administrator (the bench's own probes, not counted) */
  rootUrl: string;
}

function urlAs(server: string, database: string, user?: string, password?: string): string {
  const u = new URL(server);
  if (user) {
    u.username = user;
    u.password = password ?? '';
  }
  u.pathname = `/${database}`;
  return u.toString();
}

/** A database and a user that may use only it (and create it: the app and its callback role create their own). */
async function account(admin: Admin, server: string, database: string, user: string): Promise<DbAccount> {
  const password = randomBytes(12).toString('hex');
  cleanup.add(`drop database ${database}`, () => admin.query(`DROP DATABASE IF EXISTS \`${database}\``));
  cleanup.add(`drop user ${user}`, () => admin.query('DROP USER IF EXISTS ?@?', [user, '%']));
  await admin.query('CREATE USER ?@? IDENTIFIED BY ?', [user, '%', password]);
  // `_` is a wildcard in a grant's database name: escaped, the grant names exactly this one
  await admin.query(`GRANT ALL PRIVILEGES ON \`${database.replace(/_/g, '\\_')}\`.* TO ?@?`, [user, '%']);
  return { database, user, url: urlAs(server, database, user, password), rootUrl: urlAs(server, database) };
}

interface Deployment {
  names: TopologyNames;
  producer: DbAccount;
  callback?: DbAccount;
}

let seq = 0;

/** A database (and for delayed-check a second one for the callback), each with its own user, and broker names; all undone by cleanup. */
export async function deploy(d: SchemesDeps, admin: Admin, scheme: Scheme, tag: string, separateCallback: boolean): Promise<Deployment> {
  const id = `${Date.now().toString(36)}${(seq++).toString(36)}${randomBytes(2).toString('hex')}`;
  const base = `mail_bench_${tag}_${id}`;
  const names: TopologyNames = { exchange: `${base}.exchange`, queue: `${base}.queue`, routingKey: `${base}.key`, checkDelayMs: scheme === 'delayed-check' ? CHECK_DELAY_MS : undefined };
  // bench.ts's stop deletes it too (the same names, the same delay); this is for an app that never got ready
  cleanup.add(`delete topology ${names.queue}`, () => deleteTopology(d.amqpUrl, names));
  const producer = await account(admin, d.server, base, `mbp_${id}`);
  const callback = scheme === 'delayed-check' && separateCallback ? await account(admin, d.server, `${base}_cb`, `mbc_${id}`) : undefined;
  return { names, producer, callback };
}

export function appEnv(scheme: Scheme, dep: Deployment, extra: Record<string, string> = {}): Record<string, string> {
  return {
    RELIABILITY_SCHEME: scheme,
    DATABASE_URL: dep.producer.url,
    CALLBACK_DATABASE_URL: dep.callback?.url ?? dep.producer.url,
    MQ_EXCHANGE: dep.names.exchange,
    MQ_QUEUE: dep.names.queue,
    MQ_ROUTING_KEY: dep.names.routingKey,
    ...extra,
  };
}

export async function started(d: SchemesDeps, env: Record<string, string>): Promise<SchemesApp> {
  const app = await d.startApp(env);
  cleanup.add('stop the app', () => stopApp(app));
  return app;
}

/** An SMTP sink of its own that notes when each mail (by the msgId in its Message-ID) arrived. */
export async function arrivalSink(): Promise<{ port: number; arrivals: Map<string, number>; close: () => Promise<void> }> {
  const arrivals = new Map<string, number>();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, _session, callback) {
      let head = '';
      stream.on('data', (chunk: Buffer) => {
        if (head.length < 8192) head += chunk.toString();
      });
      stream.on('end', () => {
        const m = /^message-id:\s*<([^@>\s]+)@/im.exec(head);
        if (m && !arrivals.has(m[1]!)) arrivals.set(m[1]!, Date.now());
        callback();
      });
    },
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return { port, arrivals, close: () => new Promise<void>((r) => server.close(() => r())) };
}
