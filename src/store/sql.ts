// Every statement the product runs against msg_log, in one place (pg-boss keeps its plans.ts the same way).
// Each transition is a guarded UPDATE: its WHERE names the states it may start from (src/core/status.ts),
// so a transition that lost a race matches no row. All times come from the database's clock, UTC_TIMESTAMP(3).
import { PENDING, Status } from '../core/status';

const PENDING_LIST = PENDING.join(',');
const list = (n: number) => Array.from({ length: n }, () => '?').join(',');

export const SQL = {
  /** A new mail, `sending`, due for the job only after its publish grace has passed. Args: id, msg, exchange, rk, graceUs. */
  insert: `INSERT INTO msg_log (msg_id, msg, exchange, routing_key, status, try_count, next_try_time, create_time, update_time)
    VALUES (?, ?, ?, ?, ${Status.sending}, 0, UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))`,

  /**
   * Broker confirms, many at once, for publishes made at one try count: a confirm of an earlier try (recorded late)
   * matches nothing. A row a listener already holds keeps its lease deadline. Args: deadlineUs, tryCount, ...ids.
   */
  markDelivered: (n: number) => `UPDATE msg_log
    SET status = ${Status.delivered},
        next_try_time = IF(lease_until IS NULL, UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND, next_try_time),
        update_time = UTC_TIMESTAMP(3)
    WHERE status = ${Status.sending} AND try_count = ? AND msg_id IN (${list(n)})`,

  /**
   * A counted publish failure. A row a listener already holds (RabbitMQ may deliver before it confirms) is left
   * alone: the message reached the queue after all, and clearing the lease would let a second listener send it.
   * Args: status, dead(0/1), delayUs, tryCount, lastError, id, expectedTryCount.
   */
  recordPublishFailure: `UPDATE msg_log
    SET status = ?,
        next_try_time = IF(?, NULL, UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND),
        try_count = ?,
        last_error = ?,
        update_time = UTC_TIMESTAMP(3)
    WHERE msg_id = ? AND try_count = ? AND status = ${Status.sending} AND (lease_until IS NULL OR lease_until <= UTC_TIMESTAMP(3))`,

  /**
   * The listener's outcome of one send, by the holder of the claim only: consumed, consume_failed with backoff, or
   * dead. Args: uncertain(0/1), status, final(0/1), delayUs, tryCount, lastError, perRecipient(0/1), id, expectedTryCount, leaseOwner.
   */
  recordSend: `UPDATE msg_log
    SET uncertain_count = uncertain_count + ?,
        status = ?,
        next_try_time = IF(?, NULL, UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND),
        try_count = ?,
        last_error = ?,
        rcpt_state = GREATEST(rcpt_state, ?),
        lease_until = NULL, lease_owner = NULL,
        update_time = UTC_TIMESTAMP(3)
    WHERE msg_id = ? AND try_count = ? AND status IN (${PENDING_LIST}) AND lease_owner = ?`,

  /**
   * Claims given back unsent (the relay is down, the listener stops, a claim's answer was lost): no try counted,
   * nothing uncertain; the message goes back to RabbitMQ, so the job looks again only after the consume deadline.
   * Args: deadlineUs, owner, ...ids.
   */
  releaseClaims: (n: number) => `UPDATE msg_log
    SET lease_until = NULL, lease_owner = NULL, next_try_time = UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND, update_time = UTC_TIMESTAMP(3)
    WHERE lease_owner = ? AND msg_id IN (${list(n)}) AND status IN (${PENDING_LIST})`,

  /** A listener thread died: its claims end now, and whoever takes them over counts them uncertain. Args: ownerPrefix. */
  expireClaimsOf: `UPDATE msg_log SET lease_until = UTC_TIMESTAMP(3), next_try_time = UTC_TIMESTAMP(3)
    WHERE lease_owner LIKE CONCAT(?, ':%') AND lease_until > UTC_TIMESTAMP(3) AND status IN (${PENDING_LIST})`,

  /** The holder renews its claims while it sends. Args: leaseUs, leaseUs, owner, ...ids. */
  extendLeases: (n: number) => `UPDATE msg_log
    SET lease_until = UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND, next_try_time = UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND
    WHERE lease_owner = ? AND msg_id IN (${list(n)}) AND status IN (${PENDING_LIST})`,

  /**
   * Recipients' outcomes: an accepted (1), bounced (3) or suppressed (4) recipient is final and never changes again. In ON DUPLICATE
   * KEY UPDATE the assignments run left to right, so state is assigned last. Args per row: id, recipient, state, failure.
   */
  upsertRecipients: (n: number) => `INSERT INTO msg_recipient (msg_id, recipient, state, failure, tries, update_time)
    VALUES ${Array.from({ length: n }, () => '(?, ?, ?, ?, 1, UTC_TIMESTAMP(3))').join(', ')}
    ON DUPLICATE KEY UPDATE
      failure = IF(state IN (1, 3, 4), failure, VALUES(failure)),
      tries = tries + IF(state IN (1, 3, 4), 0, 1),
      update_time = IF(state IN (1, 3, 4), update_time, VALUES(update_time)),
      state = IF(state IN (1, 3, 4), state, VALUES(state))`,

  /** Args: id. */
  findRecipients: `SELECT recipient, state, failure, tries, update_time AS updateTime FROM msg_recipient WHERE msg_id = ? ORDER BY recipient`,

  /** A listener's relay circuit: open (down_since kept from the first failure), or closed (NULL). Args: instance, down(0/1), failure. */
  upsertRelay: `INSERT INTO relay_status (instance, down_since, checked_at, failure) VALUES (?, IF(?, UTC_TIMESTAMP(3), NULL), UTC_TIMESTAMP(3), ?)
    ON DUPLICATE KEY UPDATE down_since = IF(VALUES(down_since) IS NULL, NULL, COALESCE(down_since, VALUES(down_since))),
      checked_at = UTC_TIMESTAMP(3), failure = VALUES(failure)`,

  /** Whether any live listener finds its relay down, and since when. Args: freshUs. */
  relayDown: `SELECT MIN(down_since) AS since, COUNT(*) AS listeners, MAX(failure) AS failure FROM relay_status
    WHERE down_since IS NOT NULL AND checked_at > UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND`,

  /** Args: instance. */
  deleteRelay: `DELETE FROM relay_status WHERE instance = ?`,

  /** The job leaves a row in the queue's hands a while longer (the relay is down, or the queue is still draining). Args: deadlineUs, ...ids. */
  postpone: (n: number) => `UPDATE msg_log SET next_try_time = UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND
    WHERE msg_id IN (${list(n)}) AND status = ${Status.delivered} AND lease_until IS NULL`,

  /** After a commit whose answer was lost: which rows carry the round's new state. Args: ...ids. */
  stateOf: (n: number) => `SELECT msg_id AS msgId, status, try_count AS tryCount FROM msg_log WHERE msg_id IN (${list(n)})`,

  /**
   * The listener's claim, taken once an SMTP lane is free: one holder at a time; the job looks again when the lease
   * runs out. Taking over a lease that ran out with no outcome is an uncertain resend (the first holder may have sent
   * it). A mail whose recipients have their own outcomes is claimed alone (perRecipient), then its recipients read.
   * Args: owner, leaseUs, leaseUs, ...ids.
   */
  claim: (takeOverExpired: boolean, n = 1, perRecipient = false) => `UPDATE msg_log
    SET uncertain_count = uncertain_count + IF(lease_until IS NULL, 0, 1),
        lease_owner = ?,
        lease_until = UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND,
        next_try_time = UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND,
        update_time = UTC_TIMESTAMP(3)
    WHERE msg_id IN (${list(n)}) AND status IN (${PENDING_LIST}) AND rcpt_state = ${perRecipient ? 1 : 0}
      AND ${takeOverExpired ? '(lease_until IS NULL OR lease_until <= UTC_TIMESTAMP(3))' : 'lease_until IS NULL'}`,

  /** Which of the rows a batched claim took. Args: owner, ...ids. */
  claimedBy: (n: number) => `SELECT msg_id AS msgId FROM msg_log WHERE lease_owner = ? AND msg_id IN (${list(n)})`,

  /** The SMTP server accepted the mails, every recipient: final. A late confirm can no longer touch them. Args: note, ...ids. */
  markConsumed: (n: number) => `UPDATE msg_log
    SET status = ${Status.consumed}, next_try_time = NULL, lease_until = NULL, lease_owner = NULL, last_error = ?, update_time = UTC_TIMESTAMP(3)
    WHERE msg_id IN (${list(n)}) AND status IN (${PENDING_LIST})`,

  /** What the listener needs to decide. Args: id. */
  findForListener: `SELECT msg_id AS msgId, msg, exchange, routing_key AS routingKey, status, try_count AS tryCount,
      (lease_until IS NOT NULL AND lease_until > UTC_TIMESTAMP(3)) AS leased, lease_owner AS leaseOwner, rcpt_state AS rcptState
    FROM msg_log WHERE msg_id = ?`,

  /**
   * Due rows, oldest first, skipping rows another instance holds; `unpublished`: a row whose first publish nobody made
   * yet (an outbox row, or a scheduled mail whose sendAt has come: src/store/held-sql.ts). Needs a transaction. Args: limit.
   * The index is forced: when most rows are due (a backlog) MariaDB prefers a full scan and filesort,
   * which reads every due row and makes a racing instance's SKIP LOCKED find nothing.
   */
  selectDueForUpdate: `SELECT msg_id AS msgId, msg, exchange, routing_key AS routingKey, status, try_count AS tryCount,
      (lease_until IS NOT NULL) AS leaseExpired, (next_try_time = create_time OR status = ${Status.scheduled}) AS unpublished
    FROM msg_log FORCE INDEX (idx_msg_log_next_try_time)
    WHERE next_try_time <= UTC_TIMESTAMP(3) AND status IN (${PENDING_LIST}, ${Status.scheduled}) AND (lease_until IS NULL OR lease_until <= UTC_TIMESTAMP(3))
    ORDER BY next_try_time
    LIMIT ?
    FOR UPDATE SKIP LOCKED`,

  /** The job re-publishes: sending again, due again only after the publish grace. Args: uncertain(0/1), tryCount, graceUs, reason, ...ids. */
  markRepublishing: (n: number) => `UPDATE msg_log
    SET uncertain_count = uncertain_count + ?, status = ${Status.sending}, try_count = ?, next_try_time = UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND,
        lease_until = NULL, lease_owner = NULL, last_error = COALESCE(?, last_error), update_time = UTC_TIMESTAMP(3)
    WHERE msg_id IN (${list(n)})`,

  /** The job gives up on a row. Args: uncertain(0/1), tryCount, reason, ...ids. */
  markDeadByJob: (n: number) => `UPDATE msg_log
    SET uncertain_count = uncertain_count + ?, status = ${Status.dead}, try_count = ?, next_try_time = NULL, lease_until = NULL, lease_owner = NULL,
        last_error = ?, update_time = UTC_TIMESTAMP(3)
    WHERE msg_id IN (${list(n)})`,

  /** A person's retry takes a row out of dead, with a fresh budget of tries. Args: graceUs, id. */
  manualRetry: `UPDATE msg_log
    SET status = ${Status.sending}, try_count = 0, next_try_time = UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND,
        last_error = NULL, lease_until = NULL, lease_owner = NULL, update_time = UTC_TIMESTAMP(3)
    WHERE msg_id = ? AND status = ${Status.dead}`,

  /** Rows just made dead, with what their webhook events need. Args: ...ids. */
  deadRows: (n: number) => `SELECT msg_id AS msgId, msg, try_count AS tryCount, last_error AS lastError
    FROM msg_log WHERE msg_id IN (${list(n)}) AND status = ${Status.dead}`,

  /** The recipients of these mails whose outcome is final (accepted, bounced, suppressed). Args: ...ids. */
  finalRecipients: (n: number) => `SELECT msg_id AS msgId, recipient FROM msg_recipient WHERE msg_id IN (${list(n)}) AND state IN (1, 3, 4)`,

  /** Args: id. */
  findRow: `SELECT msg_id AS msgId, msg, exchange, routing_key AS routingKey, status, try_count AS tryCount
    FROM msg_log WHERE msg_id = ?`,
} as const;

export const MS = 1000; // microseconds per millisecond, for INTERVAL ? MICROSECOND
