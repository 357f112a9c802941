// Every statement of retention (src/store/retention.ts runs them): finished mails (consumed, cancelled) whose last
// change is older than RETENTION_DAYS are deleted with their history (msg_event), their recipients' outcomes
// (msg_recipient) and their webhook events (webhook_event), a small batch per transaction. dead rows wait for a person and are never taken, nor is anything
// still in play; the history of a row that is kept stays whole. All times are the database's, UTC_TIMESTAMP(3).
//
// A batch: the next old rows are read without a lock (an index walk), then one short transaction at READ COMMITTED
// locks them by primary key and deletes their history, their recipients and last the rows themselves. Nothing else is
// locked: no gap, and not the row where the walk's range ends (a locking range read would hold it, and that row may
// be a pending one the hot path is about to update). The locked rows are final, so nothing on the hot path waits.
import { Status, type StatusCode } from '../core/status';

/** The statuses retention deletes once they are old: final, and nobody is waiting on them (dead is: a person). */
export const EXPIRING: readonly StatusCode[] = [Status.consumed, Status.cancelled];

/** The start of an index walk: before any update_time. */
export const WALK_START = '1000-01-01 00:00:00.000';

const list = (n: number) => Array.from({ length: n }, () => '?').join(',');
const EXPIRING_LIST = EXPIRING.join(',');

export const RETENTION_SQL = {
  /** The next transaction (a batch's) runs at READ COMMITTED: record locks only, no gap locks. */
  readCommitted: `SET TRANSACTION ISOLATION LEVEL READ COMMITTED`,

  /**
   * The next old rows of one status, oldest first, a plain read (no lock) walking idx_msg_log_status_update_time from
   * where the previous batch ended (`from`), so rows deleted but not yet purged by InnoDB are not stepped over again
   * and again. The index is forced: over a large old range MariaDB would rather scan the table. update_time is read as
   * text, handed back as the next `from`, so no time zone is involved. Args: status, from, days, limit.
   */
  pick: `SELECT msg_id AS msgId, CAST(update_time AS CHAR) AS updateTime
    FROM msg_log FORCE INDEX (idx_msg_log_status_update_time)
    WHERE status = ? AND update_time >= ? AND update_time < UTC_TIMESTAMP(3) - INTERVAL ? DAY
    ORDER BY update_time
    LIMIT ?`,

  /**
   * Locks the picked rows that are still there, finished and old, by primary key (record locks, nothing else). The
   * key is forced: on a small table MariaDB may walk the status index instead, and lock the pending row where that
   * range ends. SKIP LOCKED: rows another instance is deleting are left to it, so two instances share the work instead
   * of waiting on each other. The first statement of the batch's transaction. Args: ...ids, days.
   */
  lock: (n: number) => `SELECT msg_id AS msgId FROM msg_log FORCE INDEX (PRIMARY)
    WHERE msg_id IN (${list(n)}) AND status IN (${EXPIRING_LIST}) AND update_time < UTC_TIMESTAMP(3) - INTERVAL ? DAY
    FOR UPDATE SKIP LOCKED`,

  /** The locked mails' history: each mail's rows are one range of the primary key (msg_id, id). Args: ...ids. */
  deleteEvents: (n: number) => `DELETE FROM msg_event WHERE msg_id IN (${list(n)})`,

  /** The locked mails' recipients' outcomes (most mails have none): one range of the primary key each. Args: ...ids. */
  deleteRecipients: (n: number) => `DELETE FROM msg_recipient WHERE msg_id IN (${list(n)})`,

  /** The locked mails' webhook events (index on msg_id; none when webhooks are off). Args: ...ids. */
  deleteWebhookEvents: (n: number) => `DELETE FROM webhook_event WHERE msg_id IN (${list(n)})`,

  /**
   * The locked rows themselves, last, so an interrupted batch leaves no history without its row. Its guard is `lock`:
   * only the ids it locked (finished and old, and held since) are given, and by primary key alone, as a condition on
   * status could lead MariaDB to the status index and its range's end row. Args: ...ids.
   */
  deleteRows: (n: number) => `DELETE FROM msg_log WHERE msg_id IN (${list(n)})`,
} as const;
