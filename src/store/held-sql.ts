// Every statement about mails held back from their first publish, against msg_log: prepared ones (two-phase sending:
// POST /mail/prepare, commit, cancel, the check-back), scheduled ones (a sendAt ahead) and the outbox's (written in a
// service's own transaction). Like src/store/sql.ts: each transition is a guarded UPDATE naming the states it starts
// from, so a commit racing a cancel (or a check-back) moves the row once; all times are the database's, UTC_TIMESTAMP(3).
import { Status } from '../core/status';

/** A time as DATETIME(3) text in UTC: the table's times are the database's UTC_TIMESTAMP, whatever the process's zone. */
export const utcText = (d: Date): string => d.toISOString().slice(0, 23).replace('T', ' ');

const list = (n: number) => Array.from({ length: n }, () => '?').join(',');
const ROW = `msg_id AS msgId, msg, exchange, routing_key AS routingKey, status, try_count AS tryCount`;

export const HELD_SQL = {
  /** A prepared mail: stored, not published; the job asks its check-back once the timeout has passed. Args: id, msg, exchange, rk, timeoutUs, checkBackUrl, keyId. */
  insertPrepared: `INSERT INTO msg_log (msg_id, msg, exchange, routing_key, status, try_count, next_try_time, create_time, update_time, check_back_url, key_id)
    VALUES (?, ?, ?, ?, ${Status.prepared}, 0, UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3), ?, ?)`,

  /**
   * A mail written by the outbox in its caller's transaction: `sending`, due at once. next_try_time equal to
   * create_time marks it as never published (a row the API wrote is due only after its publish grace, never at its
   * creation), which is how the relay and the job tell it from a publish whose confirm was lost. Args: id, msg, exchange, rk.
   */
  insertOutbox: `INSERT INTO msg_log (msg_id, msg, exchange, routing_key, status, try_count, next_try_time, create_time, update_time)
    VALUES (?, ?, ?, ?, ${Status.sending}, 0, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))`,

  /** prepared → sending: the publish follows; the job publishes it after the grace if this process dies first. Args: graceUs, id. */
  commit: `UPDATE msg_log SET status = ${Status.sending}, try_count = 0, next_try_time = UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND,
      last_error = NULL, update_time = UTC_TIMESTAMP(3)
    WHERE msg_id = ? AND status = ${Status.prepared}`,

  /** A mail to publish at sendAt (the API's row otherwise, publish grace included, once it is due). Args: id, msg, exchange, rk, sendAt. */
  insertScheduled: `INSERT INTO msg_log (msg_id, msg, exchange, routing_key, status, try_count, next_try_time, create_time, update_time)
    VALUES (?, ?, ?, ?, ${Status.scheduled}, 0, ?, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))`,

  /** prepared or scheduled → cancelled, final. Args: note (a failure as JSON, or NULL), id. */
  cancel: `UPDATE msg_log SET status = ${Status.cancelled}, next_try_time = NULL, last_error = ?, update_time = UTC_TIMESTAMP(3)
    WHERE msg_id = ? AND status IN (${Status.prepared}, ${Status.scheduled})`,

  /** Args: id. */
  stateOf: `SELECT ${ROW}, last_error AS lastError FROM msg_log WHERE msg_id = ?`,

  /**
   * Prepared mails whose timeout has passed, oldest first, skipping rows another instance holds. Needs a transaction.
   * Args: limit.
   */
  selectExpired: `SELECT ${ROW}, check_back_url AS checkBackUrl, key_id AS keyId, create_time AS createTime
    FROM msg_log FORCE INDEX (idx_msg_log_next_try_time)
    WHERE next_try_time <= UTC_TIMESTAMP(3) AND status = ${Status.prepared}
    ORDER BY next_try_time LIMIT ? FOR UPDATE SKIP LOCKED`,

  /** The rows being asked are not due again until the question's answer (or its timeout) is in. Args: holdUs, ...ids. */
  hold: (n: number) => `UPDATE msg_log SET next_try_time = UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND
    WHERE msg_id IN (${list(n)}) AND status = ${Status.prepared}`,

  /** The check-back decided nothing: asked again after the backoff, or dead. Args: status, dead(0/1), delayUs, tryCount, lastError, id, expectedTryCount. */
  undecided: `UPDATE msg_log SET status = ?, next_try_time = IF(?, NULL, UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND), try_count = ?, last_error = ?,
      update_time = UTC_TIMESTAMP(3)
    WHERE msg_id = ? AND try_count = ? AND status = ${Status.prepared}`,

  /**
   * Mails whose first publish is due: outbox rows never published and scheduled mails whose sendAt has come, in the
   * last `window` only (an index range that stays small; older ones are the 10-second job's), skipping rows another
   * instance holds. Needs a transaction. Args: windowUs, limit.
   */
  selectDue: `SELECT ${ROW} FROM msg_log FORCE INDEX (idx_msg_log_next_try_time)
    WHERE next_try_time <= UTC_TIMESTAMP(3) AND next_try_time > UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND
      AND (status = ${Status.scheduled} OR (status = ${Status.sending} AND try_count = 0 AND next_try_time = create_time))
      AND lease_until IS NULL
    ORDER BY next_try_time LIMIT ? FOR UPDATE SKIP LOCKED`,

  /** Taken for publishing: `sending`, due again only after the publish grace, as any publish. Args: graceUs, ...ids. */
  takeDue: (n: number) => `UPDATE msg_log SET status = ${Status.sending}, next_try_time = UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND, update_time = UTC_TIMESTAMP(3)
    WHERE msg_id IN (${list(n)}) AND status IN (${Status.sending}, ${Status.scheduled})`,
} as const;
