// The callback role (RELIABILITY_SCHEME=delayed-check): the callback service (src/callback/callback-service.ts) on its
// own broker connection, consuming the confirm and check queues, with its table in CALLBACK_DATABASE_URL's database
// (the app's own unless set). Built from the shared infrastructure; start, ready, stop.
import { AmqpConnection } from '../broker/amqp-connection';
import { QueueWorker, type QueueWorkerOptions } from '../broker/queue-worker';
import { checkQueue, confirmQueue } from '../broker/topology';
import { CallbackService } from '../callback/callback-service';
import { CheckMessages } from '../services/check-messages';
import { CallbackRepo } from '../store/callback-repo';
import { createPool, ensureDatabase, type Pool } from '../store/db';
import { TUNING } from '../tuning';
import type { Infrastructure } from './infrastructure';
import type { Role } from './role';

export class CallbackRole implements Role {
  readonly service: CallbackService;
  private readonly connection: AmqpConnection;
  private readonly workers: QueueWorker[];
  private prune: NodeJS.Timeout | null = null;

  private constructor(
    private readonly infra: Infrastructure,
    private readonly repo: CallbackRepo,
    /** the pool this role opened (a database of its own), closed with it */
    private readonly ownPool: Pool | null,
  ) {
    const log = infra.logger;
    const messages = new CheckMessages({ publisher: infra.publisher, topology: infra.topology });
    this.service = new CallbackService({ repo, resend: (r) => messages.resend(r), logger: log });
    this.connection = new AmqpConnection(infra.config.AMQP_URL, 'callback', log);
    const worker = (queue: string, handle: QueueWorkerOptions['handle']) =>
      new QueueWorker({ connection: this.connection, topology: infra.topology, queue, prefetch: TUNING.callback.prefetch, retryLaterMs: TUNING.callback.retryLaterMs, handle, logger: log });
    this.workers = [worker(confirmQueue(infra.topology), (m) => this.service.onConfirmation(m)), worker(checkQueue(infra.topology), (m) => this.service.onCheck(m))];
    infra.metrics.observe({ callback: this.service });
  }

  static async create(infra: Infrastructure): Promise<CallbackRole> {
    const c = infra.config;
    const shared = c.CALLBACK_DATABASE_URL === c.DATABASE_URL;
    if (!shared && c.MIGRATE_ON_START) await ensureDatabase(c.CALLBACK_DATABASE_URL);
    const pool = shared ? infra.pool : createPool(c.CALLBACK_DATABASE_URL, c.DATABASE_POOL_SIZE, (err) => infra.logger.warn({ err: err.message }, 'callback database connection failed; the pool keeps retrying'));
    const repo = new CallbackRepo(pool);
    if (c.MIGRATE_ON_START) await repo.ensureTable();
    return new CallbackRole(infra, repo, shared ? null : pool);
  }

  async start(): Promise<void> {
    await this.connection.start();
    this.prune = setInterval(() => {
      this.repo.prune(TUNING.callback.keepMs, TUNING.callback.pruneBatch).catch((err: Error) => this.infra.logger.warn({ err: err.message }, 'could not delete old confirmations'));
    }, TUNING.callback.pruneEveryMs);
    this.prune.unref();
  }

  get ready(): boolean {
    return this.workers.every((w) => w.isSubscribed);
  }

  async stop(): Promise<void> {
    if (this.prune) clearInterval(this.prune);
    await Promise.all(this.workers.map((w) => w.stop(TUNING.callback.retryLaterMs + TUNING.callback.stopExtraMs)));
    await this.service.close();
    await this.connection.close();
    await this.ownPool?.end().catch(() => undefined);
  }
}
