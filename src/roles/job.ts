// The job role: the re-delivery job (src/jobs/redelivery-job.ts) with what it must know of the world each round.
import type { RedeliveryContext } from '../core/retry';
import { RedeliveryJob } from '../jobs/redelivery-job';
import { TUNING } from '../tuning';
import type { Infrastructure } from './infrastructure';
import type { Role } from './role';

export class JobRole implements Role {
  readonly job: RedeliveryJob;

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
  }

  /** What the job must know before it counts a mail nobody consumed: is the relay down, is the queue still draining? */
  private async context(): Promise<RedeliveryContext> {
    const relay = await this.infra.relay.state().catch(() => null);
    const depth = await this.infra.queueProbe.depth().catch(() => null);
    const queue = depth?.find((d) => d.queue === this.infra.topology.queue);
    // Unknown counts as calm: counting a try is what guarantees an end, and the rows stay rows either way.
    return { relayDown: relay?.down ?? false, queueBusy: !!queue && queue.consumers > 0 && queue.messages > 0 };
  }

  async start(): Promise<void> {
    this.job.start();
  }

  get ready(): boolean {
    return true;
  }

  async stop(): Promise<void> {
    await this.job.stop();
  }
}
