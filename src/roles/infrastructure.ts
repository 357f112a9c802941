// What every role shares, built once per process (or per listener thread) from the configuration: the database pool
// and its repositories, the publisher's broker connection, the dispatcher, the mail service, the logger and the
// metrics. Roles (api.ts, listener.ts, job.ts, listener-threads.ts) take this one object; app.ts opens and closes it.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { isMainThread } from 'node:worker_threads';
import { AmqpConnection } from '../broker/amqp-connection';
import { Publisher } from '../broker/publisher';
import { parkingQueue, type TopologyNames } from '../broker/topology';
import type { Config } from '../config';
import { ApiLoad, stickyBusy } from '../core/api-load';
import { MsgIdGenerator } from '../core/ids';
import type { RetryPolicy } from '../core/retry';
import { FaultyDispatcher } from '../faults/faulty-dispatcher';
import { createLogger, type Logger } from '../logger';
import { startDevCatcher, type DevCatcher } from '../mail/dev-catcher';
import { Metrics } from '../observability/metrics';
import { QueueProbe } from '../observability/queue-probe';
import { StatsReader } from '../observability/stats';
import { CheckMessages } from '../services/check-messages';
import { Dispatcher } from '../services/dispatcher';
import { FaultyChecks } from '../faults/faulty-checks';
import { MailService } from '../services/mail-service';
import { TwoPhase } from '../services/two-phase';
import { createPool, ensureDatabase, parseDatabaseUrl, type Pool } from '../store/db';
import { InstanceLease, InstanceLeaseRepo } from '../store/instance-leases';
import { migrate } from '../store/migrate';
import { MsgLogRepo } from '../store/msg-log-repo';
import { HeldRepo } from '../store/held-repo';
import { RelayRepo } from '../store/relay-repo';
import { WebhookRepo } from '../store/webhook-repo';
import { SuppressionList } from '../store/suppression-list';
import { SuppressionRepo } from '../store/suppression-repo';
import { TUNING } from '../tuning';

export interface InfrastructureOptions {
  logger?: Logger;
  /** the API's load counter of the process, when this is a listener thread of it */
  apiLoad?: ApiLoad;
  /** this instance's name in lease_owner (a listener thread gets its own from the process that starts it) */
  instanceId?: string;
}

export class Infrastructure {
  readonly logger: Logger;
  readonly instanceId: string;
  readonly topology: TopologyNames;
  readonly retry: RetryPolicy;
  readonly apiLoad: ApiLoad;
  /** The API first (API_BUSY_AT): busy from this many sends in flight until a quiet period; background work yields. */
  readonly apiBusy: () => boolean;
  // A listener thread's process-wide metrics (CPU, memory) would be counted twice: the main thread reports them.
  readonly metrics = new Metrics({ defaultMetrics: isMainThread });
  /** how long a row just published is left alone by the job: with delayed-check, its checks watch it until CONSUME_DEADLINE_MS */
  readonly publishGraceMs: number;
  /** RELIABILITY_SCHEME=delayed-check: the check messages, the confirmations and the resend requests; null otherwise */
  checks: CheckMessages | null = null;
  pool!: Pool;
  repo!: MsgLogRepo;
  relay!: RelayRepo;
  stats!: StatsReader;
  publisherConnection!: AmqpConnection;
  publisher!: Publisher;
  queueProbe!: QueueProbe;
  /** publishes and records the outcome: the job's and a person's retries */
  dispatcher!: Dispatcher;
  mail!: MailService;
  /** mails held before their first publish: prepared, scheduled, the outbox's (src/store/held-repo.ts) */
  held!: HeldRepo;
  twoPhase!: TwoPhase;
  /** webhook events from a pending row onward: the webhook job's and the dashboard's (src/store/webhook-repo.ts) */
  webhooks!: WebhookRepo;
  /** the suppression list's rows, and this process's copy of it (read by the API and the listener) */
  suppressionRepo!: SuppressionRepo;
  suppressions!: SuppressionList;
  private catcher: DevCatcher | null = null;
  private instanceLease: InstanceLease | null = null;

  constructor(
    readonly config: Config,
    options: InfrastructureOptions = {},
  ) {
    this.apiLoad = options.apiLoad ?? new ApiLoad();
    this.instanceId = options.instanceId ?? `${hostname().slice(0, 30)}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.logger = options.logger ?? createLogger({ level: config.LOG_LEVEL, pretty: config.NODE_ENV === 'development' });
    const checked = config.RELIABILITY_SCHEME === 'delayed-check';
    this.topology = { exchange: config.MQ_EXCHANGE, queue: config.MQ_QUEUE, routingKey: config.MQ_ROUTING_KEY, queueType: config.MQ_QUEUE_TYPE, ...(checked ? { checkDelayMs: config.CHECK_DELAY_MS } : {}) };
    this.publishGraceMs = checked ? config.CONSUME_DEADLINE_MS : config.PUBLISH_GRACE_MS;
    this.retry = {
      maxTries: config.MAX_TRIES,
      backoff: { baseMs: config.BACKOFF_BASE_MS, maxMs: config.BACKOFF_MAX_MS, factor: config.BACKOFF_FACTOR, jitter: config.BACKOFF_JITTER },
    };
    this.apiBusy = stickyBusy(() => config.API_BUSY_AT > 0 && this.apiLoad.inFlight >= config.API_BUSY_AT, TUNING.apiQuietMs);
  }

  /** Opens the database (creating and migrating it where configured) and builds the broker side; connects nothing yet. */
  async open(): Promise<this> {
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
    // With WEBHOOK_URL set, every outcome is written with its webhook events (src/store/webhook-writes.ts).
    this.repo = new MsgLogRepo(this.pool, { publishGraceMs: this.publishGraceMs, consumeDeadlineMs: c.CONSUME_DEADLINE_MS, leaseMs: c.LEASE_MS }, { webhooks: c.WEBHOOK_URL !== undefined });
    this.suppressionRepo = new SuppressionRepo(this.pool);
    this.suppressions = await new SuppressionList({ repo: this.suppressionRepo, logger: this.logger, channel: parseDatabaseUrl(c.DATABASE_URL).database }).start();
    this.relay = new RelayRepo(this.pool);
    this.webhooks = new WebhookRepo(this.pool);
    this.stats = new StatsReader(this.pool, { relay: this.relay });
    this.publisherConnection = new AmqpConnection(c.AMQP_URL, 'publisher', this.logger);
    this.publisher = new Publisher({ connection: this.publisherConnection, topology: this.topology, confirmTimeoutMs: c.CONFIRM_TIMEOUT_MS, logger: this.logger });
    // this process's (or thread's) counters follow the repo's transitions and the publisher's confirms
    this.metrics.observe({ repo: this.repo, publisher: this.publisher });
    if (this.topology.checkDelayMs !== undefined) this.checks = new CheckMessages({ publisher: this.publisher, topology: this.topology });
    this.queueProbe = new QueueProbe([this.topology.queue, parkingQueue(this.topology)], this.logger);
    this.publisherConnection.onConnect(this.queueProbe.attach);
    this.publisherConnection.onDisconnect(this.queueProbe.detach);
    this.dispatcher = new Dispatcher({
      repo: this.repo,
      publisher: this.publisher,
      retry: this.retry,
      logger: this.logger,
      apiBusy: this.apiBusy,
      maxHoldMs: Math.min(TUNING.confirmHoldMaxMs, c.PUBLISH_GRACE_MS * TUNING.confirmHoldShareOfGrace),
      // DEV_FAULTS: lose-check drops a mail's first check (src/faults/faulty-checks.ts)
      checks: this.checks && c.DEV_FAULTS ? new FaultyChecks(this.checks, this.logger) : (this.checks ?? undefined),
    });
    // DEV_FAULTS: the documented scenarios' publish faults (lose-publish, misroute) come from a wrapper of the API's publishes.
    const dispatch = c.DEV_FAULTS ? new FaultyDispatcher(this.dispatcher, this.logger, this.checks) : this.dispatcher;
    // msg ids' instance number: SNOWFLAKE_WORKER_ID pins one; otherwise the main thread leases one in instance_lease (it
    // logs the number taken). Listener threads make no msg ids, so they take no lease and their generator refuses.
    this.instanceLease = c.SNOWFLAKE_WORKER_ID === undefined && isMainThread ? await new InstanceLease(new InstanceLeaseRepo(this.pool), { owner: this.instanceId, logger: this.logger }).start() : null;
    const ids = this.instanceLease?.ids() ?? new MsgIdGenerator(c.SNOWFLAKE_WORKER_ID ?? (() => { throw new Error('a listener thread makes no msg ids'); }));
    this.held = new HeldRepo(this.pool, this.repo, { publishGraceMs: this.publishGraceMs });
    this.mail = new MailService({ repo: this.repo, held: this.held, dispatcher: dispatch, ids, topology: this.topology, logger: this.logger, suppressions: this.suppressions });
    this.twoPhase = new TwoPhase({ held: this.held, dispatcher: this.dispatcher, ids, topology: this.topology, prepareTimeoutMs: c.PREPARE_TIMEOUT_MS, logger: this.logger, suppressions: this.suppressions });
    return this;
  }

  /** SMTP_URL, or in development without one, a local mail catcher started for the purpose. */
  async smtpUrl(): Promise<string> {
    const c = this.config;
    if (c.SMTP_URL) return c.SMTP_URL;
    this.catcher ??= await startDevCatcher({ smtpPort: c.DEV_SMTP_PORT, webPort: c.DEV_MAIL_UI_PORT, logger: this.logger });
    return this.catcher.smtpUrl;
  }

  /** The database and the broker answer: what accepting a mail needs. */
  async readiness(): Promise<Record<string, boolean>> {
    const database = await this.pool
      .query('SELECT 1')
      .then(() => true)
      .catch(() => false);
    return { database, broker: this.publisher.isReady };
  }

  /** After the roles stopped: what is still being published settles, then every connection closes. */
  async close(): Promise<void> {
    await this.mail?.drain();
    await this.suppressions?.stop();
    await this.instanceLease?.stop();
    await this.publisher?.drain();
    await this.dispatcher?.close();
    await this.queueProbe?.close();
    await this.publisherConnection?.close();
    await this.catcher?.close();
    await this.pool?.end().catch(() => undefined);
  }
}
