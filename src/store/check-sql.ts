// The delayed-check scheme's statements (RELIABILITY_SCHEME=delayed-check): the producer's side against msg_log
// (src/store/resend-repo.ts), and the callback service's own table (src/store/callback-repo.ts), which may live in a
// database of its own (CALLBACK_DATABASE_URL). All times from the database's clock.
import { Status } from '../core/status';

const list = (n: number) => Array.from({ length: n }, () => '?').join(',');

export const RESEND_SQL = {
  /** What the producer needs to answer a resend request, and to publish the mail again. Args: id. */
  findForResend: `SELECT status, try_count AS tryCount, msg, exchange, routing_key AS routingKey,
      (lease_until IS NOT NULL AND lease_until > UTC_TIMESTAMP(3)) AS leased
    FROM msg_log WHERE msg_id = ?`,

  /**
   * A resend counts a try; guarded like a publish failure (still sending at that try, held by no listener), so of
   * two requests for one publish only one resends. Args: tryCount, lastError, deadlineUs, id, expectedTryCount.
   */
  markResent: `UPDATE msg_log
    SET try_count = ?, last_error = ?, next_try_time = UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND, update_time = UTC_TIMESTAMP(3)
    WHERE msg_id = ? AND try_count = ? AND status = ${Status.sending} AND (lease_until IS NULL OR lease_until <= UTC_TIMESTAMP(3))`,

  /**
   * Rows published or about to be, held by no listener, not yet past their deadline: at start the producer sends each
   * a check, since a process killed between a commit and its publishes leaves rows nobody checks. By msg_id, paged.
   * Args: afterId, limit.
   */
  awaitingCheck: `SELECT msg_id AS msgId, try_count AS tryCount FROM msg_log
    WHERE status = ${Status.sending} AND lease_owner IS NULL AND next_try_time > UTC_TIMESTAMP(3) AND msg_id > ?
    ORDER BY msg_id LIMIT ?`,
};

export const CALLBACK_SQL = {
  /** The callback service's table: per mail, the latest try a listener confirmed it took in hand. Created at its start. */
  createTable: `CREATE TABLE IF NOT EXISTS callback_confirmation (
      msg_id VARCHAR(155) NOT NULL,
      try_count INT NOT NULL,
      confirmed_at DATETIME(3) NOT NULL,
      PRIMARY KEY (msg_id),
      KEY callback_confirmation_at (confirmed_at)
    ) ENGINE=InnoDB`,

  /** Confirmations, many at once: a mail's row keeps its latest try; one seen twice changes nothing. Args per row: id, try. */
  confirm: (n: number) => `INSERT INTO callback_confirmation (msg_id, try_count, confirmed_at)
    VALUES ${Array.from({ length: n }, () => '(?, ?, UTC_TIMESTAMP(3))').join(', ')}
    ON DUPLICATE KEY UPDATE confirmed_at = IF(VALUES(try_count) > try_count, VALUES(confirmed_at), confirmed_at), try_count = GREATEST(try_count, VALUES(try_count))`,

  /** The latest confirmed try of each of these mails. Args: ...ids. */
  confirmed: (n: number) => `SELECT msg_id AS msgId, try_count AS tryCount FROM callback_confirmation WHERE msg_id IN (${list(n)})`,

  /** Confirmations older than every check that could still ask for them, a batch at a time. Args: ageUs, limit. */
  prune: `DELETE FROM callback_confirmation WHERE confirmed_at < UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND LIMIT ?`,
};
