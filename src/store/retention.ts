// Deletes old finished mails (consumed, cancelled) with their history and recipients, one small batch per short
// transaction (statements and why they lock little: src/store/retention-sql.ts). Each batch is timed, so a round can
// say how long it held its locks at most; the job (src/jobs/retention-job.ts) paces the batches.
import type { PoolConnection } from 'mariadb';
import type { Pool } from './db';
import { RETENTION_SQL, WALK_START } from './retention-sql';

/** Rows deleted, by table. */
export interface Deleted {
  msgLog: number;
  msgEvent: number;
  msgRecipient: number;
  /** the mails' webhook events, delivered or not */
  webhookEvent: number;
}

export const noneDeleted = (): Deleted => ({ msgLog: 0, msgEvent: 0, msgRecipient: 0, webhookEvent: 0 });

export function addDeleted(into: Deleted, d: Deleted): void {
  into.msgLog += d.msgLog;
  into.msgEvent += d.msgEvent;
  into.msgRecipient += d.msgRecipient;
  into.webhookEvent += d.webhookEvent;
}

export interface Batch {
  deleted: Deleted;
  /** rows the walk read: fewer than the limit means the status has nothing older left */
  picked: number;
  /** the batch's transaction, begin to commit: the longest any of its locks was held */
  ms: number;
  /** its longest statement */
  longestStatementMs: number;
}

/** A walk over one status's old rows, batch by batch; a batch holds a connection of the pool, a pause none. */
export class RetentionWalk {
  private from = WALK_START;
  private longest = 0;
  private conn!: PoolConnection;

  constructor(
    private readonly pool: Pool,
    private readonly status: number,
    private readonly days: number,
  ) {}

  /** Deletes the next `limit` old rows of the status, with their history and recipients, in one short transaction. */
  async next(limit: number): Promise<Batch> {
    this.conn = await this.pool.getConnection();
    try {
      return await this.batch(limit);
    } finally {
      await this.conn.release();
    }
  }

  private async batch(limit: number): Promise<Batch> {
    this.longest = 0;
    const picked = await this.timed<{ msgId: string; updateTime: string }[]>(RETENTION_SQL.pick, [this.status, this.from, this.days, limit]);
    const deleted = noneDeleted();
    if (!picked.length) return { deleted, picked: 0, ms: 0, longestStatementMs: this.longest };
    this.from = picked[picked.length - 1]!.updateTime;
    const started = performance.now();
    await this.conn.query(RETENTION_SQL.readCommitted);
    await this.conn.beginTransaction();
    try {
      const locked = await this.timed<{ msgId: string }[]>(RETENTION_SQL.lock(picked.length), [...picked.map((r) => r.msgId), this.days]);
      const ids = locked.map((r) => r.msgId);
      if (ids.length) {
        deleted.msgEvent = affected(await this.timed(RETENTION_SQL.deleteEvents(ids.length), ids));
        deleted.msgRecipient = affected(await this.timed(RETENTION_SQL.deleteRecipients(ids.length), ids));
        deleted.webhookEvent = affected(await this.timed(RETENTION_SQL.deleteWebhookEvents(ids.length), ids));
        deleted.msgLog = affected(await this.timed(RETENTION_SQL.deleteRows(ids.length), ids));
      }
      await this.timed(() => this.conn.commit());
      return { deleted, picked: picked.length, ms: performance.now() - started, longestStatementMs: this.longest };
    } catch (err) {
      await this.conn.rollback().catch(() => undefined);
      throw err;
    }
  }

  /** A statement (or the commit), its time kept when it is the batch's longest. */
  private async timed<T>(sql: string | (() => Promise<T>), args: unknown[] = []): Promise<T> {
    const t = performance.now();
    try {
      return await (typeof sql === 'string' ? this.conn.query<T>(sql, args) : sql());
    } finally {
      this.longest = Math.max(this.longest, performance.now() - t);
    }
  }
}

const affected = (res: unknown): number => Number((res as { affectedRows?: number | bigint }).affectedRows ?? 0);
