// Real services for integration tests and fault scenarios: each test file gets its own database and its own broker
// names (test/support/fixture.ts puts them together with an SMTP server and the apps).
import { randomBytes } from 'node:crypto';
import { MailDispatchApp, type AppOverrides } from '../../src/app';
import type { TopologyNames } from '../../src/broker/topology';
import { deleteTopology as deleteBrokerTopology } from '../../src/broker/topology';
import { loadConfig, type Config } from '../../src/config';
import type { HttpDeps } from '../../src/http/app';
import { createLogger } from '../../src/logger';
import { createPool, dropDatabase, ensureDatabase, type Pool } from '../../src/store/db';
import { migrate } from '../../src/store/migrate';

export const SERVER_DB_URL = (process.env.TEST_DATABASE_SERVER_URL ?? 'mysql://root@127.0.0.1:3306').replace(/\/$/, '');
export const AMQP_URL = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

// Every name carries the run's token (set for the whole run by test/support/run-id.js), so that
// test/leftovers.test.ts can tell what this run left on the shared services from what another run did.
export const RUN_ID = (process.env.TEST_RUN_ID ??= `r${randomBytes(3).toString('hex')}`);
export const uniqueName = (prefix: string) => `${prefix}_${RUN_ID}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;

export interface TestDb {
  url: string;
  pool: Pool;
  drop(): Promise<void>;
}

/** A test's own migrated database on `serverUrl` (the shared server by default, or a private one). */
export async function createTestDb(serverUrl = SERVER_DB_URL, prefix = 'mdtest'): Promise<TestDb> {
  const url = `${serverUrl.replace(/\/$/, '')}/${uniqueName(prefix)}`;
  await ensureDatabase(url);
  const pool = createPool(url, 4);
  await migrate(pool);
  return {
    url,
    pool,
    drop: async () => {
      await pool.end().catch(() => undefined);
      await dropDatabase(url).catch(() => undefined);
    },
  };
}

export function uniqueTopology(): TopologyNames {
  const n = uniqueName('mdtest');
  return { exchange: `${n}.exchange`, queue: `${n}.queue`, routingKey: `${n}.key` };
}

/** Fast timings, so the documented scenarios play out in seconds instead of minutes. */
export const FAST: Record<string, string> = {
  NODE_ENV: 'test',
  HOST: '127.0.0.1',
  PORT: '0',
  REDELIVERY_CRON: '*/1 * * * * *',
  CONFIRM_TIMEOUT_MS: '2000',
  PUBLISH_GRACE_MS: '3000',
  MAX_TRIES: '3',
  BACKOFF_BASE_MS: '200',
  BACKOFF_MAX_MS: '1000',
  CONSUME_DEADLINE_MS: '60000',
  SMTP_TIMEOUT_MS: '2000',
  LEASE_MS: '5000',
  MQ_PREFETCH: '20',
  // jest loads TypeScript itself, which worker threads cannot: the listener runs on the main thread here
  // (test/integration/process.int.test.ts runs the real entry point with a listener thread).
  LISTENER_THREADS: '0',
  MIGRATE_ON_START: 'true',
  // Suites that send hundreds of mails to one address; the abuse suites turn the limits on for themselves.
  RATE_LIMIT_PER_KEY: '0',
  RATE_LIMIT_PER_RECIPIENT: '0',
};

/** Where an app under test finds its database, broker and SMTP server, and the broker names it uses. */
export interface AppTarget {
  databaseUrl: string;
  amqpUrl: string;
  smtpUrl: string;
  topology: TopologyNames;
}

/** The environment of an app under test: the suite's fast timings, its own names, and any override. */
export function appEnv(t: AppTarget, env: Record<string, string> = {}): Record<string, string> {
  return {
    ...FAST,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    DATABASE_URL: t.databaseUrl,
    AMQP_URL: t.amqpUrl,
    SMTP_URL: t.smtpUrl,
    MQ_EXCHANGE: t.topology.exchange,
    MQ_QUEUE: t.topology.queue,
    MQ_ROUTING_KEY: t.topology.routingKey,
    ...env,
  };
}

export function testConfig(db: Pick<TestDb, 'url'>, topology: TopologyNames, smtpUrl: string, env: Record<string, string> = {}): Config {
  return loadConfig(appEnv({ databaseUrl: db.url, amqpUrl: AMQP_URL, smtpUrl, topology }, env));
}

export const testLogger = () => createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent', pretty: false });

export async function startApp(config: Config, overrides: AppOverrides = {}): Promise<MailDispatchApp> {
  const app = new MailDispatchApp(config, { logger: testLogger(), ...overrides });
  // an app that fails to start closes what it opened, as src/main.ts does
  await app.start().catch(async (err: unknown) => {
    await app.stop().catch(() => undefined);
    throw err;
  });
  if (!(await app.waitUntilReady(10_000))) throw new Error('the app did not attach to RabbitMQ within 10 s');
  return app;
}

/** Deletes a test's exchanges and queues. */
export const deleteTopology = (t: TopologyNames): Promise<void> => deleteBrokerTopology(AMQP_URL, t);

export interface Row {
  msg_id: string;
  status: number;
  try_count: number;
  next_try_time: Date | null;
  last_error: string | null;
  lease_until: Date | null;
  uncertain_count: number;
}

export async function rowOf(pool: Pool, msgId: string): Promise<Row | undefined> {
  const rows = await pool.query<Row[]>('SELECT msg_id, status, try_count, next_try_time, last_error, lease_until, uncertain_count FROM msg_log WHERE msg_id = ?', [msgId]);
  return rows[0];
}

/** The HTTP layer's dependencies taken from a started app, for tests that build servers of their own. */
export function httpDepsOf(app: MailDispatchApp, extra: Partial<HttpDeps> = {}): HttpDeps {
  return {
    security: app.security!,
    mail: app.mail,
    prisma: app.prisma!,
    maxRecipients: 50,
    maxTries: 3,
    devFaults: false,
    readiness: async () => ({}),
    logger: testLogger(),
    suppressions: { repo: app.infra.suppressionRepo, refresh: () => app.infra.suppressions.refresh(), logger: testLogger() },
    ...extra,
  };
}
