// The job role: the re-delivery job (src/jobs/redelivery-job.ts) with what it must know of the world each round, the
// check-back of prepared mails (src/jobs/check-back-job.ts) on the same schedule, and the due publisher (outbox rows
// and scheduled mails, src/jobs/due-publisher.ts), retention (old finished mails deleted, src/jobs/retention-job.ts),
// and, when WEBHOOK_URL is set, the delivery of signed webhook events (src/jobs/webhook-job.ts).
import type { RedeliveryContext } from '../core/retry';
import { parseAllowedHosts } from '../core/check-back';
import { parseSecret, secretsByKeyId } from '../core/signature';
import { apiKeysOf } from '../http/security';
import { CheckBackJob } from '../jobs/check-back-job';
import { DuePublisher } from '../jobs/due-publisher';
import { RedeliveryJob } from '../jobs/redelivery-job';
import { RetentionJob } from '../jobs/retention-job';
import { WebhookJob } from '../jobs/webhook-job';
import { ResendWorker } from '../jobs/resend-worker';
import { AmqpConnection } from '../broker/amqp-connection';
import { QueueWorker } from '../broker/queue-worker';
import { resendQueue } from '../broker/topology';
import { ResendRepo } from '../store/resend-repo';
import type { DispatchItem } from '../services/dispatcher';
import { TUNING } from '../tuning';
import type { Infrastructure } from './infrastructure';
import type { Role } from './role';

export class JobRole implements Role {
  readonly job: RedeliveryJob;
  readonly checkBack: CheckBackJob;
  readonly due: DuePublisher;
  readonly retention: RetentionJob;
  /** null without WEBHOOK_URL */
  readonly webhooks: WebhookJob | null;
  /** RELIABILITY_SCHEME=delayed-check: the callback service's resend requests, on a connection of its own; null otherwise */
  readonly resends: ResendWorker | null = null;
  private readonly resendConsumer: { connection: AmqpConnection; worker: QueueWorker } | null = null;

  constructor(private readonly infra: Infrastructure) {
    const c = infra.config;
    this.job = new RedeliveryJob({
      repo: infra.repo,
      dispatcher: infra.dispatcher,
      publisherReady: () => infra.publisher.isReady,
      cron: c.REDELIVERY_CRON,
      batchSize: c.REDELIVERY_BATCH,
      maxTries: c.MAX_TRIES,
      uncertainPolicy: c.UNCERTAIN_POLICY,
      context: () => this.context(),
      roundBudgetMs: TUNING.jobRoundBudgetMs,
      logger: infra.logger,
    });
    const dispatch = (item: DispatchItem) => infra.dispatcher.dispatch(item);
    this.checkBack = new CheckBackJob({
      held: infra.held,
      dispatch,
      secretOf: secretsByKeyId(apiKeysOf(c)),
      allowedHosts: parseAllowedHosts(c.CHECKBACK_ALLOWED_HOSTS),
      timeoutMs: c.CHECKBACK_TIMEOUT_MS,
      retry: infra.retry,
      cron: c.REDELIVERY_CRON,
      logger: infra.logger,
    });
    this.due = new DuePublisher({ held: infra.held, dispatch, publisherReady: () => infra.publisher.isReady, batchSize: c.REDELIVERY_BATCH, logger: infra.logger });
    this.retention = new RetentionJob({ pool: infra.pool, days: c.RETENTION_DAYS, logger: infra.logger });
    // the configuration makes sure a secret comes with the URL (src/config.ts)
    this.webhooks = c.WEBHOOK_URL
      ? new WebhookJob({ repo: infra.webhooks, url: c.WEBHOOK_URL, secret: parseSecret(c.WEBHOOK_SECRET!), timeoutMs: c.WEBHOOK_TIMEOUT_MS, retry: infra.retry, logger: infra.logger })
      : null;
    const checks = infra.checks;
    if (checks) {
      this.resends = new ResendWorker({
        resends: new ResendRepo(infra.pool, infra.publishGraceMs),
        repo: infra.repo,
        dispatch,
        recheck: (m) => checks.recheck(m),
        world: () => this.context(),
        maxTries: c.MAX_TRIES,
        logger: infra.logger,
      });
      const connection = new AmqpConnection(c.AMQP_URL, 'resend', infra.logger);
      const resends = this.resends;
      const worker = new QueueWorker({ connection, topology: infra.topology, queue: resendQueue(infra.topology), prefetch: TUNING.callback.prefetch, retryLaterMs: TUNING.callback.retryLaterMs, handle: (m) => resends.onRequest(m), logger: infra.logger });
      this.resendConsumer = { connection, worker };
    }
    infra.metrics.observe({ job: this.job, checkBack: this.checkBack, retention: this.retention, webhooks: this.webhooks ?? undefined, resends: this.resends ?? undefined });
  }

  /** What the job must know before it counts a mail nobody consumed: is the relay down, is the queue still draining? */
  private async context(): Promise<RedeliveryContext> {
    const relay = await this.infra.relay.state().catch(() => null);
    const depth = await this.infra.queueProbe.depth().catch(() => null);
    const queue = depth?.find((d) => d.queue === this.infra.topology.queue);
    // Unknown counts as calm: counting a try is what guarantees an end, and the rows stay rows either way.
    return { relayDown: relay?.down ?? false, queueBusy: !!queue && queue.consumers > 0 && queue.messages > 0, checked: this.infra.checks !== null };
  }

  async start(): Promise<void> {
    this.job.start();
    this.checkBack.start();
    this.due.start();
    this.retention.start();
    if (this.resendConsumer) {
      await this.resendConsumer.connection.start();
      void this.resends!.sweep().then(
        (n) => n > 0 && this.infra.logger.info({ checks: n }, 'a check sent for each mail awaiting one (a process stopped between a commit and its publishes leaves some)'),
        (err: Error) => this.infra.logger.warn({ err: err.message }, 'could not send the checks of the mails awaiting one; the job looks at them after their deadline'),
      );
    }
    if (this.webhooks) {
      this.webhooks.start();
      // no credentials or query string in the log: either may hold the receiver's token
      const url = new URL(this.infra.config.WEBHOOK_URL!);
      this.infra.logger.info({ url: `${url.origin}${url.pathname}` }, 'delivering webhook events');
    }
  }

  get ready(): boolean {
    return true;
  }

  async stop(): Promise<void> {
    this.resends?.stop();
    if (this.resendConsumer) {
      await this.resendConsumer.worker.stop(TUNING.callback.retryLaterMs + TUNING.callback.stopExtraMs);
      await this.resendConsumer.connection.close();
    }
    await Promise.all([this.job.stop(), this.checkBack.stop(), this.due.stop(), this.retention.stop(), this.webhooks?.stop()]);
  }
}
