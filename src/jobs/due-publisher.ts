// Publishes mails held back from their first publish as soon as they may go: the rows services wrote with the outbox
// (src/outbox) within a second of their transaction's commit, and scheduled mails within a second of their sendAt.
// Every TUNING.duePollMs it takes the rows that became due in the last TUNING.dueWindowMs (no other instance can take
// them too) and publishes them like any mail. What it misses (no job instance was running) the re-delivery job
// publishes at its next round, counting no try.
import type { Logger } from '../logger';
import type { DispatchItem } from '../services/dispatcher';
import type { HeldRepo } from '../store/held-repo';
import { Poller } from '../poller';
import { TUNING } from '../tuning';

export class DuePublisher {
  private readonly poller: Poller<number>;

  constructor(
    private readonly deps: {
      held: HeldRepo;
      dispatch: (item: DispatchItem) => Promise<unknown>;
      publisherReady: () => boolean;
      batchSize: number;
      logger: Logger;
    },
  ) {
    this.poller = new Poller({
      everyMs: TUNING.duePollMs,
      round: () => this.round(),
      onError: (err) => deps.logger.warn({ err: err.message }, 'publishing due mails failed; the next round tries again'),
    });
  }

  start(): void {
    this.poller.start();
  }

  /** Publishes what is due and nobody published; resolves with how many were taken. */
  runOnce(): Promise<number> {
    return this.poller.runOnce();
  }

  private async round(): Promise<number> {
    if (!this.deps.publisherReady()) return 0;
    let taken = 0;
    for (;;) {
      const rows = await this.deps.held.takeDue(this.deps.batchSize, TUNING.dueWindowMs);
      taken += rows.length;
      if (rows.length) this.deps.logger.info({ n: rows.length }, 'mails due (outbox commits, scheduled times): publishing them');
      await Promise.all(rows.map((r) => this.deps.dispatch({ msgId: r.msgId, msg: r.msg, exchange: r.exchange, routingKey: r.routingKey, tryCount: 0 })));
      if (rows.length < this.deps.batchSize || this.poller.stopping) return taken;
    }
  }

  stop(): Promise<void> {
    return this.poller.stop();
  }
}
