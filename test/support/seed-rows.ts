// msg_log rows a test puts in place itself, as a table with history holds them. They are written with the product's
// own insert (SQL.insert, so a change to the table or to that statement reaches the tests too), then moved to the
// wanted status and try count in the same transaction: no job or listener ever sees them half made, and msg_event
// records the move as it records any transition.
import { Status } from '../../src/core/status';
import type { Pool } from '../../src/store/db';
import { MS, SQL } from '../../src/store/sql';

export interface SeedRow {
  msgId: string;
  /** the stored message (encodeMailMessage) */
  msg: string;
}

export interface SeedOptions {
  /** default `sending`, as SQL.insert writes it */
  status?: number;
  /** default 0, as SQL.insert writes it */
  tryCount?: number;
  /** next_try_time relative to now (negative: already due) */
  dueInMs: number;
}

export async function insertRows(pool: Pool, topology: { exchange: string; routingKey: string }, rows: readonly SeedRow[], opts: SeedOptions): Promise<void> {
  if (rows.length === 0) return;
  const status = opts.status ?? Status.sending;
  const tryCount = opts.tryCount ?? 0;
  const conn = await pool.getConnection();
  try {
    await conn.beginTransaction();
    try {
      await conn.batch(
        SQL.insert,
        rows.map((r) => [r.msgId, r.msg, topology.exchange, topology.routingKey, opts.dueInMs * MS]),
      );
      if (status !== Status.sending || tryCount !== 0) {
        await conn.query(`UPDATE msg_log SET status = ?, try_count = ? WHERE msg_id IN (${rows.map(() => '?').join(',')})`, [status, tryCount, ...rows.map((r) => r.msgId)]);
      }
      await conn.commit();
    } catch (err) {
      await conn.rollback().catch(() => undefined);
      throw err;
    }
  } finally {
    await conn.release();
  }
}
