// Mails held back from their first publish (prepared, scheduled, the outbox's) behind a small interface (statements:
// src/store/held-sql.ts). Every transition that matched a row is announced on the MsgLogRepo's 'transition' event,
// like its own, so the metrics count msg_log's transitions in one place.
import type { Failure } from '../core/failure';
import { encodeFailure } from '../core/failure';
import { Status } from '../core/status';
import { inTransaction, type Pool } from './db';
import { num, toMsgRow, type MsgRow, type NewRow } from './msg-log-rows';
import type { MsgLogRepo } from './msg-log-repo';
import { HELD_SQL, utcText } from './held-sql';
import { MS } from './sql';
import { writeDeadEvents } from './webhook-writes';

export interface NewPreparedRow extends NewRow {
  checkBackUrl: string | null;
  keyId: string | null;
}

export interface ExpiredRow extends MsgRow {
  checkBackUrl: string | null;
  keyId: string | null;
  createTime: Date;
}

export interface RowState extends MsgRow {
  lastError: string | null;
}


// only the rows taken are locked, so a racing instance skips to the next ones
const READ_COMMITTED = { readCommitted: true };

export class HeldRepo {
  constructor(
    readonly pool: Pool,
    private readonly events: Pick<MsgLogRepo, 'emit' | 'webhooks'>,
    private readonly timing: { publishGraceMs: number },
  ) {}

  private moved(toStatus: number, n: number): void {
    if (n > 0) this.events.emit('transition', toStatus === Status.dead ? { toStatus, n, by: 'job' } : { toStatus, n });
  }

  async insert(row: NewPreparedRow, timeoutMs: number): Promise<void> {
    await this.insertOn(this.pool, row, timeoutMs);
  }

  /** The same insert on a connection the caller holds, inside its own transaction (Idempotency-Key). */
  async insertOn(conn: Pick<Pool, 'execute'>, row: NewPreparedRow, timeoutMs: number): Promise<void> {
    await conn.execute(HELD_SQL.insertPrepared, [row.msgId, row.msg, row.exchange, row.routingKey, timeoutMs * MS, row.checkBackUrl, row.keyId]);
    this.moved(Status.prepared, 1);
  }

  /** prepared → sending; false when the row was not prepared (committed before, cancelled, or unknown). */
  async commit(msgId: string): Promise<boolean> {
    const res = await this.pool.execute(HELD_SQL.commit, [this.timing.publishGraceMs * MS, msgId]);
    const applied = num(res.affectedRows) === 1;
    if (applied) this.moved(Status.sending, 1);
    return applied;
  }

  /** A mail to publish at `sendAt`, alone or in the caller's transaction (Idempotency-Key). */
  async insertScheduled(conn: Pick<Pool, 'execute'>, row: NewRow, sendAt: Date): Promise<void> {
    await conn.execute(HELD_SQL.insertScheduled, [row.msgId, row.msg, row.exchange, row.routingKey, utcText(sendAt)]);
    this.moved(Status.scheduled, 1);
  }

  /** prepared or scheduled → cancelled, with why when it was not the caller's own cancel; false when the row was neither. */
  async cancel(msgId: string, note: Failure | null = null): Promise<boolean> {
    const res = await this.pool.execute(HELD_SQL.cancel, [note ? encodeFailure(note) : null, msgId]);
    const applied = num(res.affectedRows) === 1;
    if (applied) this.moved(Status.cancelled, 1);
    return applied;
  }

  async state(msgId: string): Promise<RowState | null> {
    const rows = await this.pool.execute<Record<string, unknown>[]>(HELD_SQL.stateOf, [msgId]);
    const r = rows[0];
    return r ? { ...toMsgRow(r), lastError: r.lastError == null ? null : String(r.lastError) } : null;
  }

  /** Prepared mails past their timeout, held for `holdMs` (no other instance asks them meanwhile). */
  async takeExpired(limit: number, holdMs: number): Promise<ExpiredRow[]> {
    return inTransaction(this.pool, async (conn) => {
      const rows = await conn.query<Record<string, unknown>[]>(HELD_SQL.selectExpired, [limit]);
      const out = rows.map((r) => ({ ...toMsgRow(r), checkBackUrl: r.checkBackUrl == null ? null : String(r.checkBackUrl), keyId: r.keyId == null ? null : String(r.keyId), createTime: r.createTime as Date }));
      if (out.length) await conn.query(HELD_SQL.hold(out.length), [holdMs * MS, ...out.map((r) => r.msgId)]);
      return out;
    }, READ_COMMITTED);
  }

  /** An undecided check-back, counted: asked again after `delayMs`, or dead (delayMs null). False when the row moved meanwhile. */
  async recordUndecided(msgId: string, expectedTryCount: number, delayMs: number | null, failure: Failure): Promise<boolean> {
    const dead = delayMs === null;
    const status = dead ? Status.dead : Status.prepared;
    const args = [status, dead ? 1 : 0, (delayMs ?? 0) * MS, expectedTryCount + 1, encodeFailure(failure), msgId, expectedTryCount];
    const write = async (conn: Pick<Pool, 'execute'>) => {
      const ok = num((await conn.execute(HELD_SQL.undecided, args)).affectedRows) === 1;
      if (ok && dead && this.events.webhooks) await writeDeadEvents(conn, [msgId]);
      return ok;
    };
    const applied = dead && this.events.webhooks ? await inTransaction(this.pool, write) : await write(this.pool);
    if (applied && dead) this.moved(Status.dead, 1);
    return applied;
  }

  /** Outbox rows and scheduled mails due in the last `windowMs`, taken for publishing (no other instance takes them). */
  async takeDue(limit: number, windowMs: number): Promise<MsgRow[]> {
    const rows = await inTransaction(this.pool, async (conn) => {
      const due = (await conn.query<Record<string, unknown>[]>(HELD_SQL.selectDue, [windowMs * MS, limit])).map(toMsgRow);
      if (due.length) await conn.query(HELD_SQL.takeDue(due.length), [this.timing.publishGraceMs * MS, ...due.map((r) => r.msgId)]);
      return due;
    }, READ_COMMITTED);
    this.moved(Status.sending, rows.filter((r) => r.status === Status.scheduled).length);
    return rows;
  }
}
