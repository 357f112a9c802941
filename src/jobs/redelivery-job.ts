// The re-delivery job (the article's 10-second cron, minus its holes): takes due rows no other instance
// holds, commits their new state, then re-publishes them with confirms. Rows whose confirm is still in
// flight are not due yet (their publish grace has not passed), so they are never re-sent early. Each round is announced
// once as a 'round' event (src/observability/metrics.ts counts and times them).
import { EventEmitter } from 'node:events';
import cron, { type ScheduledTask } from 'node-cron';
import { CALM, planRedelivery, type RedeliveryContext, type UncertainPolicy } from '../core/retry';
import type { Logger } from '../logger';
import type { MsgLogRepo } from '../store/msg-log-repo';
import type { Dispatcher } from '../services/dispatcher';

export interface RoundResult {
  skipped?: 'broker unavailable' | 'stopping';
  republished: number;
  confirmed: number;
  dead: number;
  /** confirmed mails not consumed yet, left to the queue a while longer (relay down, queue draining) */
  postponed: number;
  batches: number;
  ms: number;
}

/** How one round ended: ran (with its duration), skipped (see RoundResult.skipped), or failed (it threw). */
export type RoundEvent = { result: 'ran'; ms: number } | { result: 'skipped' | 'failed' };

// Typed events on the instance rather than node:diagnostics_channel: a channel is process-wide, and one process can
// hold several jobs (tests' apps), each counted by its own app's metrics.
export interface JobEvents {
  round: [r: RoundEvent];
}

export interface RedeliveryJobDeps {
  repo: MsgLogRepo;
  dispatcher: Dispatcher;
  publisherReady: () => boolean;
  cron: string;
  batchSize: number;
  maxTries: number;
  uncertainPolicy: UncertainPolicy;
  /** whether the relay is down or the queue still draining, asked once per round (a mail not consumed then is no failure) */
  context?: () => Promise<RedeliveryContext>;
  /** a round stops taking new batches after this long, so it ends before the next tick */
  roundBudgetMs: number;
  logger: Logger;
}

export class RedeliveryJob extends EventEmitter<JobEvents> {
  private task: ScheduledTask | null = null;
  private current: Promise<RoundResult> | null = null;
  private stopping = false;

  constructor(private readonly deps: RedeliveryJobDeps) {
    super();
  }

  start(): void {
    this.stopping = false;
    this.task = cron.schedule(this.deps.cron, () => void this.tick(), { noOverlap: true, name: 'redelivery' });
  }

  private async tick(): Promise<void> {
    try {
      await this.runOnce();
    } catch (err) {
      this.deps.logger.warn({ err: (err as Error).message }, 're-delivery round failed; the next round will try again');
    }
  }

  /** One round: batches of due rows until none are left or the round's budget is spent. Callers meanwhile share it. */
  runOnce(): Promise<RoundResult> {
    if (this.current) return this.current;
    const round = this.round();
    // announced once, however many callers await it
    void round.then(
      (r) => this.emit('round', r.skipped ? { result: 'skipped' } : { result: 'ran', ms: r.ms }),
      () => this.emit('round', { result: 'failed' }),
    );
    this.current = round.finally(() => (this.current = null));
    return this.current;
  }

  private async round(): Promise<RoundResult> {
    const started = Date.now();
    const result: RoundResult = { republished: 0, confirmed: 0, dead: 0, postponed: 0, batches: 0, ms: 0 };
    // Publishing into a dead broker would only burn tries; the rows wait for the next round.
    if (!this.deps.publisherReady()) return { ...result, skipped: 'broker unavailable' };
    const { repo, dispatcher, batchSize, maxTries } = this.deps;
    const ctx = (await this.deps.context?.()) ?? CALM;
    while (!this.stopping && Date.now() - started < this.deps.roundBudgetMs) {
      const claimed = await repo.claimDue(batchSize, (row) => planRedelivery(row, maxTries, this.deps.uncertainPolicy, ctx));
      result.batches++;
      result.postponed += claimed.postponed;
      result.dead += claimed.dead.length;
      for (const r of claimed.republish) this.deps.logger.info({ msgId: r.msgId, tryCount: r.tryCount }, 'mail due: publishing it again');
      for (const d of claimed.dead) this.deps.logger.warn({ msgId: d.msgId, reason: d.reason }, 'mail dead');
      const outcomes = await Promise.all(claimed.republish.map((row) => dispatcher.dispatch(row)));
      result.republished += outcomes.length;
      result.confirmed += outcomes.filter((o) => o.ok).length;
      if (claimed.republish.length + claimed.dead.length + claimed.postponed < batchSize || !this.deps.publisherReady()) break;
    }
    result.ms = Date.now() - started;
    if (result.republished || result.dead || result.postponed) this.deps.logger.info(result, 're-delivery round');
    return result;
  }

  /** Stops scheduling and waits for the round in progress (its publishes are bounded by the confirm timeout). */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.task) await this.task.destroy();
    this.task = null;
    if (this.current) await this.current.catch(() => undefined);
  }
}
