// Publishes mails held back from their first publish as soon as they may go: the rows services wrote with the outbox
// (src/outbox) within a second of their transaction's commit, and scheduled mails within a second of their sendAt.
// Every TUNING.duePollMs it takes the rows that became due in the last TUNING.dueWindowMs (no other instance can take
// them too) and publishes them like any mail. What it misses (no job instance was running) the re-delivery job
// publishes at its next round, counting no try.
import type { Logger } from '../logger';
import type { DispatchItem } from '../services/dispatcher';
import type { HeldRepo } from '../store/held-repo';
import { TUNING } from '../tuning';

export class DuePublisher {
  private timer: NodeJS.Timeout | null = null;
  private current: Promise<number> | null = null;
  private stopping = false;

  constructor(
    private readonly deps: {
      held: HeldRepo;
      dispatch: (item: DispatchItem) => Promise<unknown>;
      publisherReady: () => boolean;
      batchSize: number;
      logger: Logger;
    },
  ) {}

  start(): void {
    this.stopping = false;
    this.schedule();
  }

  private schedule(): void {
    if (this.stopping) return;
    this.timer = setTimeout(() => {
      void this.runOnce()
        .catch((err) => this.deps.logger.warn({ err: (err as Error).message }, 'publishing due mails failed; the next round tries again'))
        .finally(() => this.schedule());
    }, TUNING.duePollMs);
    this.timer.unref();
  }

  /** Publishes what is due and nobody published; resolves with how many were taken. */
  runOnce(): Promise<number> {
    this.current ??= this.round().finally(() => (this.current = null));
    return this.current;
  }

  private async round(): Promise<number> {
    if (!this.deps.publisherReady()) return 0;
    let taken = 0;
    for (;;) {
      const rows = await this.deps.held.takeDue(this.deps.batchSize, TUNING.dueWindowMs);
      taken += rows.length;
      if (rows.length) this.deps.logger.info({ n: rows.length }, 'mails due (outbox commits, scheduled times): publishing them');
      await Promise.all(rows.map((r) => this.deps.dispatch({ msgId: r.msgId, msg: r.msg, exchange: r.exchange, routingKey: r.routingKey, tryCount: 0 })));
      if (rows.length < this.deps.batchSize || this.stopping) return taken;
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.current) await this.current.catch(() => undefined);
  }
}
