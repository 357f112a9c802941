// The suppression list's rows (src/store/suppression-sql.ts). Addresses are added in the transaction of the send
// whose refusal suppressed them (src/store/msg-log-repo.ts recordSend); a person reads and lifts them.
import { decodeFailure, type Failure } from '../core/failure';
import { suppressionKey } from '../core/suppression';
import type { Pool } from './db';
import { SUPPRESSION_SQL } from './suppression-sql';

export interface SuppressionEntry {
  address: string;
  /** the refusal that put it there, as data */
  reason: Failure | null;
  /** the mail whose refusal added it */
  msgId: string | null;
  since: Date;
}

export interface NewSuppression {
  address: string;
  /** the refusal, encoded (src/core/failure.ts encodeFailure) */
  reason: string;
  msgId: string;
}

export interface SuppressionChange {
  address: string;
  active: boolean;
  changeTime: Date;
}

const entryOf = (r: Record<string, unknown>): SuppressionEntry => ({
  address: String(r.address),
  reason: decodeFailure(r.reason as string | null),
  msgId: (r.msgId as string | null) ?? null,
  since: r.createTime as Date,
});

/** Suppresses addresses, on a connection inside the transaction of the outcome that refused them. */
export async function writeSuppressions(conn: Pick<Pool, 'execute'>, entries: readonly NewSuppression[]): Promise<void> {
  if (entries.length === 0) return;
  await conn.execute(SUPPRESSION_SQL.upsert(entries.length), entries.flatMap((e) => [suppressionKey(e.address), e.reason, e.msgId]));
}

export class SuppressionRepo {
  constructor(readonly pool: Pool) {}

  /** True when the address was suppressed and is lifted now. */
  async lift(address: string): Promise<boolean> {
    const res = await this.pool.execute(SUPPRESSION_SQL.lift, [suppressionKey(address)]);
    return Number(res.affectedRows) === 1;
  }

  async find(address: string): Promise<SuppressionEntry | null> {
    const rows = await this.pool.execute<Record<string, unknown>[]>(SUPPRESSION_SQL.find, [suppressionKey(address)]);
    return rows[0] ? entryOf(rows[0]) : null;
  }

  /** A page in address order: `after` is the last address of the previous page. */
  async list(opts: { after?: string; prefix?: string; limit: number }): Promise<SuppressionEntry[]> {
    const rows = await this.pool.execute<Record<string, unknown>[]>(SUPPRESSION_SQL.list, [opts.after ?? '', (opts.prefix ?? '').toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`), opts.limit]);
    return rows.map(entryOf);
  }

  async count(): Promise<number> {
    const rows = await this.pool.execute<{ n: unknown }[]>(SUPPRESSION_SQL.count);
    return Number(rows[0]?.n ?? 0);
  }

  async changes(since: Date, afterAddress: string, limit: number): Promise<SuppressionChange[]> {
    const rows = await this.pool.execute<Record<string, unknown>[]>(SUPPRESSION_SQL.changes, [since, since, afterAddress, limit]);
    return rows.map((r) => ({ address: String(r.address), active: Number(r.active) === 1, changeTime: r.changeTime as Date }));
  }

  async now(): Promise<Date> {
    const rows = await this.pool.execute<{ now: Date }[]>(SUPPRESSION_SQL.now);
    return rows[0]!.now;
  }
}
