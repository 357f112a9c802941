// Retention: every TUNING.retention.everyMs the job role deletes finished mails (consumed, cancelled) whose last
// change is older than RETENTION_DAYS, with their history and recipients (src/store/retention.ts), in small batches
// with a pause between them and a cap per round, so the hot path never waits long and always gets the database
// between batches. dead mails wait for a person and are never deleted; nor is anything still in play.
// Several instances may run it at once: each batch skips the rows another one holds (SKIP LOCKED), and a delete is
// idempotent. Each round is announced once as a 'round' event (src/observability/metrics.ts counts the rows).
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../logger';
import type { Pool } from '../store/db';
import { addDeleted, noneDeleted, RetentionWalk, type Deleted } from '../store/retention';
import { EXPIRING } from '../store/retention-sql';
import { TUNING } from '../tuning';

export interface RetentionRound {
  /** off: RETENTION_DAYS=0 */
  skipped?: 'off';
  deleted: Deleted;
  batches: number;
  /** the round reached its cap: older rows are left for the next round */
  capped: boolean;
  ms: number;
  /** the longest batch, begin to commit: the longest any lock of the round was held */
  longestBatchMs: number;
  longestStatementMs: number;
}

/** How one round ended: ran (what it deleted), off, or failed (it threw; the next round starts over). */
export type RetentionRoundEvent = { result: 'ran'; deleted: Deleted; ms: number } | { result: 'off' | 'failed' };

export interface RetentionEvents {
  round: [r: RetentionRoundEvent];
}

/** The numbers a round runs by (TUNING.retention). */
export type RetentionTuning = { [K in keyof typeof TUNING.retention]: number };

export interface RetentionJobDeps {
  pool: Pool;
  /** RETENTION_DAYS: finished rows older than this go; 0 turns retention off */
  days: number;
  logger: Logger;
  /** the tuning (TUNING.retention), replaceable for tests and measurements */
  tuning?: Partial<RetentionTuning>;
}

export class RetentionJob extends EventEmitter<RetentionEvents> {
  private timer: NodeJS.Timeout | null = null;
  private current: Promise<RetentionRound> | null = null;
  private stopping = false;
  private readonly t: RetentionTuning;

  constructor(private readonly deps: RetentionJobDeps) {
    super();
    this.t = { ...TUNING.retention, ...deps.tuning };
  }

  /** The first round soon after start (an instance restarted more often than every round still prunes), then one per period. */
  start(): void {
    this.stopping = false;
    if (this.deps.days > 0) this.schedule(this.t.firstRoundMs);
  }

  private schedule(ms: number): void {
    if (this.stopping) return;
    this.timer = setTimeout(() => {
      void this.runOnce()
        .catch((err) => this.deps.logger.warn({ err: (err as Error).message }, 'retention round failed; the next round starts over'))
        .finally(() => this.schedule(this.t.everyMs));
    }, ms);
    this.timer.unref();
  }

  /** One round: batches of old finished rows, status by status, until none is left, the cap is reached or the job stops. */
  runOnce(): Promise<RetentionRound> {
    if (this.current) return this.current;
    const round = this.round();
    void round.then(
      (r) => this.emit('round', r.skipped ? { result: 'off' } : { result: 'ran', deleted: r.deleted, ms: r.ms }),
      () => this.emit('round', { result: 'failed' }),
    );
    this.current = round.finally(() => (this.current = null));
    return this.current;
  }

  private async round(): Promise<RetentionRound> {
    const started = performance.now();
    const r: RetentionRound = { deleted: noneDeleted(), batches: 0, capped: false, ms: 0, longestBatchMs: 0, longestStatementMs: 0 };
    if (this.deps.days <= 0) return { ...r, skipped: 'off' };
    for (const status of EXPIRING) {
      const walk = new RetentionWalk(this.deps.pool, status, this.deps.days);
      for (;;) {
        const room = this.t.maxRowsPerRound - r.deleted.msgLog;
        if (this.stopping || room <= 0) break;
        if (r.batches > 0) await sleep(this.t.pauseMs);
        const limit = Math.min(this.t.batchRows, room);
        const b = await walk.next(limit);
        r.batches++;
        addDeleted(r.deleted, b.deleted);
        r.longestBatchMs = Math.max(r.longestBatchMs, b.ms);
        r.longestStatementMs = Math.max(r.longestStatementMs, b.longestStatementMs);
        if (b.picked < limit) break;
      }
    }
    r.capped = r.deleted.msgLog >= this.t.maxRowsPerRound;
    r.ms = performance.now() - started;
    const summary = { ...r.deleted, batches: r.batches, ms: Math.round(r.ms), longestBatchMs: Math.round(r.longestBatchMs) };
    if (r.capped) this.deps.logger.warn(summary, 'retention round reached its cap; older finished mails are left for the next round');
    else if (r.deleted.msgLog) this.deps.logger.info(summary, 'retention round: old finished mails deleted');
    return r;
  }

  /** Stops scheduling and waits for the round in progress (it ends after its current batch). */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.current) await this.current.catch(() => undefined);
  }
}
