// The re-delivery job's one transaction: take due rows no other instance holds (FOR UPDATE SKIP LOCKED), apply the
// plan to each, and commit the new states before anything is published, so two instances never re-publish a row
// in one round. A commit whose answer was lost still gives the rows it applied.
import type { RedeliveryPlan } from '../core/retry';
import { Status } from '../core/status';
import type { Pool } from './db';
import { num, toMsgRow, type ClaimedRound, type DueRow, type RepoTiming } from './msg-log-rows';
import { MS, SQL } from './sql';
import { writeDeadEvents } from './webhook-writes';

export async function claimDueRound(pool: Pool, timing: RepoTiming, limit: number, plan: (row: DueRow) => RedeliveryPlan, webhooks = false): Promise<ClaimedRound> {
  const conn = await pool.getConnection();
  const round: ClaimedRound = { republish: [], dead: [], postponed: 0 };
  const groups = new Map<string, { kind: 'republish' | 'dead'; tryCount: number; reason: string | null; uncertain: number; ids: string[] }>();
  const postponed: string[] = [];
  let committing = false;
  try {
    // READ COMMITTED: lock only the rows taken, no gap locks, so a racing instance skips to the next rows.
    await conn.query('SET TRANSACTION ISOLATION LEVEL READ COMMITTED');
    await conn.beginTransaction();
    const rows = await conn.query<Record<string, unknown>[]>(SQL.selectDueForUpdate, [limit]);
    for (const r of rows) {
      const row: DueRow = { ...toMsgRow(r), leaseExpired: num(r.leaseExpired) === 1, unpublished: num(r.unpublished) === 1 };
      const p = plan(row);
      if (p.action === 'postpone') {
        postponed.push(row.msgId);
        continue;
      }
      const key = `${p.action}|${p.tryCount}|${p.uncertain}|${p.reason ?? ''}`;
      const g = groups.get(key) ?? { kind: p.action, tryCount: p.tryCount, reason: p.reason, uncertain: p.uncertain ? 1 : 0, ids: [] };
      g.ids.push(row.msgId);
      groups.set(key, g);
      if (p.action === 'dead') round.dead.push({ msgId: row.msgId, reason: p.reason });
      else round.republish.push({ ...row, status: Status.sending, tryCount: p.tryCount });
    }
    for (const g of groups.values()) {
      if (g.kind === 'republish') await conn.query(SQL.markRepublishing(g.ids.length), [g.uncertain, g.tryCount, timing.publishGraceMs * MS, g.reason, ...g.ids]);
      else await conn.query(SQL.markDeadByJob(g.ids.length), [g.uncertain, g.tryCount, g.reason, ...g.ids]);
    }
    if (webhooks) await writeDeadEvents(conn, round.dead.map((d) => d.msgId));
    if (postponed.length) await conn.query(SQL.postpone(postponed.length), [timing.consumeDeadlineMs * MS, ...postponed]);
    round.postponed = postponed.length;
    committing = true;
    await conn.commit();
    return round;
  } catch (err) {
    await conn.rollback().catch(() => undefined);
    // A commit whose answer was lost may have been applied: publish what carries the round's state, so the
    // rows do not wait out the publish grace and pay a try for a confirm that was never asked for.
    if (committing && round.republish.length) return committedPart(pool, round, err);
    throw err;
  } finally {
    await conn.release();
  }
}

async function committedPart(pool: Pool, round: ClaimedRound, cause: unknown): Promise<ClaimedRound> {
  const ids = round.republish.map((r) => r.msgId);
  const rows = await pool.execute<Record<string, unknown>[]>(SQL.stateOf(ids.length), ids).catch(() => {
    throw cause;
  });
  const now = new Map(rows.map((r) => [String(r.msgId), r]));
  const applied = round.republish.filter((r) => {
    const n = now.get(r.msgId);
    return n !== undefined && num(n.status) === Status.sending && num(n.tryCount) === r.tryCount;
  });
  if (applied.length === 0) throw cause;
  return { republish: applied, dead: round.dead, postponed: round.postponed };
}
