// The composition root: builds every part from the configuration and starts or stops them in order.
// One process runs the API, the listener and the re-delivery job by default (ROLES picks a subset).
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { isMainThread } from 'node:worker_threads';
import { AmqpConnection } from './broker/amqp-connection';
import { Publisher } from './broker/publisher';
import { parkingQueue, type TopologyNames } from './broker/topology';
import type { Config } from './config';
import { MsgIdGenerator } from './core/ids';
import type { RedeliveryContext, RetryPolicy } from './core/retry';
import { createHttpServer } from './http/app';
import { apiKeysOf, createHttpSecurity, IdempotencyStore, type HttpSecurity } from './http/security';
import { IdempotencyRepo } from './store/idempotency-repo';
import { LiveHub } from './http/dashboard/live';
import { Metrics } from './observability/metrics';
import { QueueProbe } from './observability/queue-probe';
import { StatsReader } from './observability/stats';
import { RedeliveryJob } from './jobs/redelivery-job';
import { ListenerThreads } from './listener/listener-threads';
import { ListenerRole } from './roles/listener';
import { RelayRepo } from './store/relay-repo';
import { API_QUIET_MS, ApiLoad, stickyBusy } from './core/api-load';
import { createLogger, maskUrl, type Logger } from './logger';
import { startDevCatcher, type DevCatcher } from './mail/dev-catcher';
import type { Mailer } from './mail/mailer';
import { FaultyDispatcher } from './faults/faulty-dispatcher';
import { Dispatcher } from './services/dispatcher';
import { MailService } from './services/mail-service';
import { createPool, ensureDatabase, parseDatabaseUrl, type Pool } from './store/db';
import { migrate } from './store/migrate';
import { MsgLogRepo } from './store/msg-log-repo';
import { createPrisma, type Prisma } from './store/prisma';

export interface AppOverrides {
  logger?: Logger;
  mailer?: Mailer;
  /** the API's load counter of the process, when this app is a listener thread of it */
  apiLoad?: ApiLoad;
  /** this instance's name in lease_owner (a listener thread gets its own from the process that starts it) */
  instanceId?: string;
}

export class MailDispatchApp {
  readonly logger: Logger;
  readonly instanceId: string;
  readonly topology: TopologyNames;
  readonly retry: RetryPolicy;
  pool!: Pool;
  prisma!: Prisma;
  repo!: MsgLogRepo;
  publisher!: Publisher;
  dispatcher!: Dispatcher;
  mail!: MailService;
  listenerRole: ListenerRole | null = null;
  relay!: RelayRepo;
  job: RedeliveryJob | null = null;
  server: Server | null = null;
  security: HttpSecurity | null = null;
  /** Prometheus metrics of this instance (src/observability) */
  // A listener thread's process-wide metrics (CPU, memory) would be counted twice: the main thread reports them.
  readonly metrics = new Metrics({ defaultMetrics: isMainThread });
  /** POST /mail/send requests in progress in this process; its listener yields to them (src/listener/yield-gate.ts) */
  readonly apiLoad: ApiLoad;
  stats!: StatsReader;
  private queueProbe: QueueProbe | null = null;
  private live: LiveHub | null = null;
  private threads: ListenerThreads | null = null;
  private publisherConn!: AmqpConnection;
  private catcher: DevCatcher | null = null;
  private stopped = false;

  constructor(
    readonly config: Config,
    private readonly overrides: AppOverrides = {},
  ) {
    this.apiLoad = overrides.apiLoad ?? new ApiLoad();
    this.instanceId = overrides.instanceId ?? `${hostname().slice(0, 30)}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.logger = overrides.logger ?? createLogger({ level: config.LOG_LEVEL, pretty: config.NODE_ENV === 'development' });
    this.topology = { exchange: config.MQ_EXCHANGE, queue: config.MQ_QUEUE, routingKey: config.MQ_ROUTING_KEY };
    this.retry = {
      maxTries: config.MAX_TRIES,
      backoff: { baseMs: config.BACKOFF_BASE_MS, maxMs: config.BACKOFF_MAX_MS, factor: config.BACKOFF_FACTOR, jitter: config.BACKOFF_JITTER },
    };
  }

  get url(): string {
    const addr = this.server?.address() as AddressInfo | null;
    return addr ? `http://127.0.0.1:${addr.port}` : '';
  }

  /** The API first (API_BUSY_AT): from this many sends in flight until API_QUIET_MS of quiet, the listener and the confirm bookkeeping yield. */
  private readonly apiBusy = stickyBusy(() => this.config.API_BUSY_AT > 0 && this.apiLoad.inFlight >= this.config.API_BUSY_AT, API_QUIET_MS);

  async start(): Promise<this> {
    const c = this.config;
    const roles = new Set(c.ROLES);
    await this.openDatabase();
    this.publisherConn = new AmqpConnection(c.AMQP_URL, 'publisher', this.logger);
    this.publisher = new Publisher({ connection: this.publisherConn, topology: this.topology, confirmTimeoutMs: c.CONFIRM_TIMEOUT_MS, logger: this.logger });
    this.queueProbe = new QueueProbe([this.topology.queue, parkingQueue(this.topology)], this.logger);
    this.publisherConn.onConnect(this.queueProbe.attach);
    this.publisherConn.onDisconnect(this.queueProbe.detach);
    this.dispatcher = new Dispatcher({
      repo: this.repo,
      publisher: this.publisher,
      retry: this.retry,
      logger: this.logger,
      apiBusy: this.apiBusy,
      // a confirm waits for a busy API at most a quarter of the publish grace, so the job never mistakes it for a lost one
      maxHoldMs: Math.min(5_000, c.PUBLISH_GRACE_MS / 4),
    });
    // DEV_FAULTS: the documented scenarios' publish faults (lose-publish, misroute) come from a wrapper of the API's publishes.
    const dispatch = c.DEV_FAULTS ? new FaultyDispatcher(this.dispatcher, this.logger) : this.dispatcher;
    this.mail = new MailService({ repo: this.repo, dispatcher: dispatch, ids: new MsgIdGenerator(c.SNOWFLAKE_WORKER_ID), topology: this.topology, logger: this.logger });
    if (roles.has('listener') && c.LISTENER_THREADS > 0) await this.buildListenerThreads();
    else if (roles.has('listener')) await this.buildListener();
    if (roles.has('job')) {
      this.job = new RedeliveryJob({
        repo: this.repo,
        dispatcher: this.dispatcher,
        publisherReady: () => this.publisher.isReady,
        cron: c.REDELIVERY_CRON,
        batchSize: c.REDELIVERY_BATCH,
        maxTries: c.MAX_TRIES,
        uncertainPolicy: c.UNCERTAIN_POLICY,
        context: () => this.redeliveryContext(),
        roundBudgetMs: 8_000,
        logger: this.logger,
      });
    }
    this.metrics.observe({ repo: this.repo, publisher: this.publisher, job: this.job ?? undefined, listener: this.listenerRole?.listener });
    // Gauges read the table and the broker: once per process, in the main thread; threads add their counters.
    if (isMainThread) this.metrics.attach({ stats: this.stats, queues: this.queueProbe, readiness: () => this.readiness(), relay: () => this.relay.state() });
    if (this.threads) this.metrics.addPeers(() => this.threads!.collectMetrics());
    await this.publisherConn.start();
    await this.listenerRole?.start();
    this.threads?.start();
    this.job?.start();
    if (roles.has('api')) await this.listen();
    this.logger.info({ roles: [...roles], amqp: maskUrl(c.AMQP_URL), database: maskUrl(c.DATABASE_URL), url: this.url || undefined }, 'mail dispatch started');
    return this;
  }

  private async openDatabase(): Promise<void> {
    const c = this.config;
    if (c.MIGRATE_ON_START) await ensureDatabase(c.DATABASE_URL);
    this.pool = createPool(c.DATABASE_URL, c.DATABASE_POOL_SIZE, (err) => this.logger.warn({ err: err.message }, 'database connection failed; the pool keeps retrying'));
    if (c.MIGRATE_ON_START) {
      // Its own connection with no statement timeout: a migration of a large table may run for minutes.
      const migrations = createPool(c.DATABASE_URL, 1, undefined, 0);
      try {
        const applied = await migrate(migrations);
        if (applied.length) this.logger.info({ applied }, 'database migrated');
      } finally {
        await migrations.end();
      }
    }
    this.prisma = createPrisma(this.pool, parseDatabaseUrl(c.DATABASE_URL).database);
    this.repo = new MsgLogRepo(this.pool, { publishGraceMs: c.PUBLISH_GRACE_MS, consumeDeadlineMs: c.CONSUME_DEADLINE_MS, leaseMs: c.LEASE_MS });
    this.relay = new RelayRepo(this.pool);
    this.stats = new StatsReader(this.pool, { relay: this.relay });
  }

  private async buildListener(): Promise<void> {
    this.listenerRole = await ListenerRole.create({
      config: this.config,
      repo: this.repo,
      relay: this.relay,
      publisher: this.publisher,
      topology: this.topology,
      retry: this.retry,
      instanceId: this.instanceId,
      logger: this.logger,
      apiBusy: this.apiBusy,
      smtpUrl: () => this.smtpUrl(),
      mailer: this.overrides.mailer,
    });
  }

  /** What the job must know before it counts a mail nobody consumed: is the relay down, is the queue still draining? */
  private async redeliveryContext(): Promise<RedeliveryContext> {
    const relay = await this.relay.state().catch(() => null);
    const depth = await this.queueProbe?.depth().catch(() => null);
    const queue = depth?.find((d) => d.queue === this.topology.queue);
    // Unknown counts as calm: counting a try is what guarantees an end, and the rows stay rows either way.
    return { relayDown: relay?.down ?? false, queueBusy: !!queue && queue.consumers > 0 && queue.messages > 0 };
  }

  private async buildListenerThreads(): Promise<void> {
    const config = { ...this.config, SMTP_URL: await this.smtpUrl() };
    this.threads = new ListenerThreads({
      config,
      count: this.config.LISTENER_THREADS,
      logger: this.logger,
      apiLoad: this.apiLoad,
      instanceId: this.instanceId,
      // A thread that died may have been in the middle of sends: their claims end now, and whoever takes them over
      // counts them uncertain (they may have gone out).
      onDied: (threadId) => this.repo.expireClaimsOf(threadId),
    });
  }

  /** SMTP_URL, or in development without one, a local mail catcher started for the purpose. */
  private async smtpUrl(): Promise<string> {
    const c = this.config;
    if (c.SMTP_URL) return c.SMTP_URL;
    this.catcher ??= await startDevCatcher({ smtpPort: c.DEV_SMTP_PORT, webPort: c.DEV_MAIL_UI_PORT, logger: this.logger });
    return this.catcher.smtpUrl;
  }

  private async listen(): Promise<void> {
    const c = this.config;
    this.security = createHttpSecurity({
      keys: apiKeysOf(c),
      limits: { perKeyPerMinute: c.RATE_LIMIT_PER_KEY, perRecipientPerHour: c.RATE_LIMIT_PER_RECIPIENT },
      idempotency: new IdempotencyStore({ repo: new IdempotencyRepo(this.pool, this.repo, c.IDEMPOTENCY_TTL_HOURS * 3_600_000), logger: this.logger }),
      logger: this.logger,
    });
    if (this.security.keys.length === 0) {
      this.logger.warn({ NODE_ENV: c.NODE_ENV }, 'API_KEYS is empty: the API is open to anyone who can reach it (refused in production; run `npm run apikey`)');
    }
    this.server = createHttpServer({
      security: this.security,
      mail: this.mail,
      prisma: this.prisma,
      maxRecipients: this.config.MAX_RECIPIENTS,
      maxTries: this.config.MAX_TRIES,
      devFaults: this.config.DEV_FAULTS,
      readiness: () => this.readiness(),
      relay: () => this.relay.state(),
      logger: this.logger,
      apiLoad: this.apiLoad,
      ops: {
        pool: this.pool,
        mail: this.mail,
        metrics: this.metrics,
        stats: this.stats,
        queues: this.queueProbe ?? undefined,
        live: (this.live = new LiveHub(this.stats, this.logger)),
        maxTries: this.config.MAX_TRIES,
        devFaults: this.config.DEV_FAULTS,
        logger: this.logger,
      },
    });
    this.server.listen(this.config.PORT, this.config.HOST);
    await once(this.server, 'listening');
  }

  /** A listener thread dies as in a crash (the fault scenarios, DEV_FAULTS only: see main.ts). */
  async killListenerThread(): Promise<boolean> {
    return (await this.threads?.terminateOne()) ?? false;
  }

  /** True once the publisher's channel and, where this instance listens, its consumer are attached. */
  async waitUntilReady(ms: number): Promise<boolean> {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      if (this.publisher.isReady && (!this.listenerRole || this.listenerRole.ready) && (!this.threads || this.threads.allReady)) return true;
      await new Promise((r) => setTimeout(r, 25));
    }
    return false;
  }

  async readiness(): Promise<Record<string, boolean>> {
    const database = await this.pool
      .query('SELECT 1')
      .then(() => true)
      .catch(() => false);
    const checks: Record<string, boolean> = { database, broker: this.publisher.isReady };
    if (this.listenerRole) checks.smtp = await this.listenerRole.smtpCheck.check();
    return checks;
  }

  /** Graceful stop: no new requests, no new rounds, no new deliveries; finish what is in hand; close. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const closing = this.server ? new Promise<void>((r) => this.server!.close(() => r())) : Promise.resolve();
    this.server?.closeIdleConnections();
    this.live?.close();
    await this.job?.stop();
    await Promise.all([this.listenerRole?.stop(), this.threads?.stop(this.config.SMTP_TIMEOUT_MS + 10_000)]);
    await closing;
    await this.mail?.drain();
    await this.publisher?.drain();
    await this.dispatcher?.close();
    await this.queueProbe?.close();
    await this.publisherConn?.close();
    await this.catcher?.close();
    await this.prisma?.$disconnect().catch(() => undefined);
    await this.pool?.end().catch(() => undefined);
    this.logger.info('mail dispatch stopped');
  }
}
