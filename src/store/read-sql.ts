// The reads people look at, in one place: the dashboard's pages of msg_log, one mail's history from msg_event (its
// recipients are SQL.findRecipients), and the stats behind the dashboard and /metrics. None of them writes.
// Times are read as epoch milliseconds computed by the database (EPOCH_MS), so no time zone is ever involved.
import { PENDING, Status } from '../core/status';
import { TUNING } from '../tuning';

/** A DATETIME column (or UTC_TIMESTAMP(3)) as epoch milliseconds, computed by the database. */
export const EPOCH_MS = (col: string) => `(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', ${col}) DIV 1000)`;

/** A statement whose text depends on its arguments, with those arguments in order. */
export interface Statement {
  sql: string;
  args: unknown[];
}

/** What the dashboard can search msg_log by. */
export interface MailFilter {
  status?: number;
  /** digits: a msgId or its beginning; anything else: part of a recipient address */
  q?: string;
}

/** What a msgId looks like (a snowflake id in decimal); a search of digits is a msgId prefix. */
export const MSG_ID = /^\d{1,20}$/;

const PENDING_LIST = PENDING.join(',');
// the statuses counted by an index range (consumed, the many, is counted apart; cancelled ones are few and deleted with it by retention)
const ACTIVE_LIST = [...PENDING, Status.dead, Status.prepared, Status.cancelled].join(',');

/** The columns of one dashboard row: the row, its times as epoch ms, and the database's clock to explain it by. */
const MAIL_COLUMNS = `msg_id AS msgId, msg, status, try_count AS tryCount, last_error AS lastError, rcpt_state AS rcptState,
  ${EPOCH_MS('create_time')} AS createMs, ${EPOCH_MS('update_time')} AS updateMs,
  ${EPOCH_MS('next_try_time')} AS nextMs, ${EPOCH_MS('lease_until')} AS leaseMs, ${EPOCH_MS('UTC_TIMESTAMP(3)')} AS nowMs`;

/** The recipients (To, Cc, Bcc) as the JSON text of the message (rows written by hand may not be JSON at all). */
const TOS = `LOWER(CASE WHEN JSON_VALID(msg) THEN JSON_EXTRACT(msg, '$.tos', '$.cc', '$.bcc') END)`;

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

function conditionsOf(filter: MailFilter): { parts: string[]; args: unknown[] } {
  const parts: string[] = [];
  const args: unknown[] = [];
  if (filter.status !== undefined) {
    parts.push('status = ?');
    args.push(filter.status);
  }
  const q = filter.q?.trim();
  if (q) {
    if (MSG_ID.test(q)) {
      // a prefix of the primary key: an index range
      parts.push('msg_id LIKE ?');
      args.push(`${q}%`);
    } else {
      // a recipient: scans the rows (bounded by the page size); see README, "Dashboard"
      parts.push(`${TOS} LIKE ?`);
      args.push(`%${escapeLike(q.toLowerCase())}%`);
    }
  }
  return { parts, args };
}

const where = (parts: readonly string[]) => (parts.length ? `WHERE ${parts.join(' AND ')}` : '');

/** The WHERE clause of a filter, with its arguments. */
export function whereOf(filter: MailFilter): Statement {
  const c = conditionsOf(filter);
  return { sql: where(c.parts), args: c.args };
}

export const DASHBOARD_SQL = {
  /** A page of mails, newest first (msgIds are time-ordered), older than `before` (keyset); `limit` rows. */
  listMails(filter: MailFilter, before: string | undefined, limit: number): Statement {
    const c = conditionsOf(filter);
    if (before) {
      c.parts.push('msg_id < ?');
      c.args.push(before);
    }
    return { sql: `SELECT ${MAIL_COLUMNS} FROM msg_log ${where(c.parts)} ORDER BY msg_id DESC LIMIT ?`, args: [...c.args, limit] };
  },

  /** One mail, with the same columns as a page's rows. Args: id. */
  findMail: `SELECT ${MAIL_COLUMNS} FROM msg_log WHERE msg_id = ?`,

  /** A mail's history, in order (the triggers of msg_log write it), bounded. Args: id. */
  mailEvents: `SELECT CAST(id AS CHAR) AS id, ${EPOCH_MS('at')} AS atMs, from_status AS fromStatus, to_status AS toStatus, try_count AS tryCount, lease, error,
      ${EPOCH_MS('next_try_time')} AS nextMs, ms_in_previous_state AS msInPreviousState
    FROM msg_event WHERE msg_id = ? ORDER BY id LIMIT ${TUNING.mailHistoryRows}`,

  /** How many dead mails match `q` (what a bulk retry would take). */
  countDead(q: string | undefined): Statement {
    const c = conditionsOf({ status: Status.dead, q });
    return { sql: `SELECT COUNT(*) AS n FROM msg_log ${where(c.parts)}`, args: c.args };
  },

  /** The next `limit` dead msgIds matching `q`, oldest first, after `after` (keyset). */
  deadIds(q: string | undefined, after: string | null, limit: number): Statement {
    const c = conditionsOf({ status: Status.dead, q });
    if (after !== null) {
      c.parts.push('msg_id > ?');
      c.args.push(after);
    }
    return { sql: `SELECT msg_id AS msgId FROM msg_log ${where(c.parts)} ORDER BY msg_id LIMIT ?`, args: [...c.args, limit] };
  },
} as const;

/**
 * The stats, cheap enough to read every second during a load run: the non-final and dead counts are an index range
 * over idx_msg_log_status_update_time; the consumed count is the largest (RETENTION_DAYS of mails), so it is read less often; throughput
 * comes from msg_event through its covering index idx_msg_event_at (at, from_status, to_status).
 */
export const STATS_SQL = {
  /** The database's clock. */
  clock: `SELECT ${EPOCH_MS('UTC_TIMESTAMP(3)')} AS nowMs`,

  /** Counts of the non-final statuses and dead. */
  activeCounts: `SELECT status, COUNT(*) AS n FROM msg_log WHERE status IN (${ACTIVE_LIST}) GROUP BY status`,

  /** Rows whose next_try_time has passed: the job's work for its next round. */
  due: `SELECT COUNT(*) AS n FROM msg_log WHERE next_try_time <= UTC_TIMESTAMP(3)`,

  /** The oldest mail not final yet. */
  oldestPending: `SELECT msg_id AS msgId, ${EPOCH_MS('create_time')} AS createMs FROM msg_log WHERE status IN (${PENDING_LIST}) ORDER BY create_time LIMIT 1`,

  /** Consumed mails: the biggest count, refreshed less often when it gets slow. */
  consumedCount: `SELECT COUNT(*) AS n FROM msg_log WHERE status = ${Status.consumed}`,

  /** Transitions by kind in buckets of `bucketSeconds` (b: epoch seconds DIV bucketSeconds), from `fromSeconds` on. Args: bucketSeconds, fromSeconds. */
  throughput: `SELECT TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', at) DIV ? AS b,
      SUM(from_status IS NULL) AS accepted,
      SUM(to_status = ${Status.consumed} AND from_status <> ${Status.consumed}) AS consumed,
      SUM(to_status IN (${Status.delivery_failed}, ${Status.consume_failed}) AND from_status IS NOT NULL) AS failed,
      SUM(to_status = ${Status.dead} AND from_status <> ${Status.dead}) AS dead,
      SUM(to_status = ${Status.sending} AND from_status IS NOT NULL) AS retried
    FROM msg_event FORCE INDEX (idx_msg_event_at)
    WHERE at >= '1970-01-01 00:00:00' + INTERVAL ? SECOND
    GROUP BY b`,
} as const;
