// The producer's side of the delayed-check scheme against msg_log (statements: RESEND_SQL in src/store/check-sql.ts):
// reading a row a resend request names, counting the resend, and listing the rows that await a check.
import type { DispatchItem } from '../services/dispatcher';
import type { ResendRow } from '../core/delayed-check';
import { encodeFailure, type Failure } from '../core/failure';
import type { CheckMessage } from '../core/delayed-check';
import type { Pool } from './db';
import { num } from './msg-log-rows';
import { MS } from './sql';
import { RESEND_SQL as SQL } from './check-sql';

export class ResendRepo {
  constructor(
    private readonly pool: Pool,
    /** how long a resent row is left to its next check before the job looks (the scheme's publish deadline) */
    private readonly deadlineMs: number,
  ) {}

  async find(msgId: string): Promise<(ResendRow & { item: DispatchItem }) | null> {
    const [r] = await this.pool.execute<{ status: number; tryCount: number; msg: string; exchange: string; routingKey: string; leased: number }[]>(SQL.findForResend, [msgId]);
    if (!r) return null;
    const tryCount = num(r.tryCount);
    return { status: num(r.status), tryCount, leased: num(r.leased) === 1, item: { msgId, msg: r.msg, exchange: r.exchange, routingKey: r.routingKey, tryCount } };
  }

  /** Counts the resend; false when the row moved on (another request for the same publish was first). */
  async markResent(msgId: string, fromTryCount: number, tryCount: number, failure: Failure): Promise<boolean> {
    const res = await this.pool.execute(SQL.markResent, [tryCount, encodeFailure(failure), this.deadlineMs * MS, msgId, fromTryCount]);
    return (res as { affectedRows: number }).affectedRows === 1;
  }

  async awaitingCheck(afterId: string, limit: number): Promise<CheckMessage[]> {
    const rows = await this.pool.execute<{ msgId: string; tryCount: number }[]>(SQL.awaitingCheck, [afterId, limit]);
    return rows.map((r) => ({ msgId: r.msgId, tryCount: num(r.tryCount) }));
  }
}
