// The dashboard's reads of msg_log and msg_event: a page of recent rows (filter by status, search by msgId or
// recipient), one mail with its history, and the dead rows a bulk retry takes. Plain SQL over the shared pool;
// times come back as epoch milliseconds computed by the database, so no time zone is involved.
import { explainMail, describeTimeline, type MsgEventRecord, type TimelineStep } from '../../core/explain';
import { decodeFailure, failurePhrase, type Failure } from '../../core/failure';
import { Status, statusName, type StatusName } from '../../core/status';
import { recipientViews, type RecipientRecordRow, type RecipientView } from '../mail-view';
import { EPOCH_MS } from '../../observability/stats';
import type { Pool } from '../../store/db';

export interface MailFilter {
  status?: number;
  /** digits: a msgId or its beginning; anything else: part of a recipient address */
  q?: string;
}

export interface MailRowView {
  msgId: string;
  status: StatusName;
  statusCode: number;
  tryCount: number;
  maxTries: number;
  subject: string | null;
  tos: string[];
  createTime: string;
  updateTime: string;
  nextTryTime: string | null;
  leaseUntil: string | null;
  /** the last failure in a sentence */
  lastError: string | null;
  /** the last failure as data */
  failure: Failure | null;
  /** where it stands and why it is not consumed yet, in one sentence */
  why: string;
}

export interface MailPage {
  mails: MailRowView[];
  /** pass as `before` for the next (older) page; null on the last page */
  next: string | null;
}

export interface MailDetail {
  mail: MailRowView;
  recipients: RecipientView[];
  timeline: TimelineStep[];
}

const COLUMNS = `msg_id AS msgId, msg, status, try_count AS tryCount, last_error AS lastError, rcpt_state AS rcptState,
  ${EPOCH_MS('create_time')} AS createMs, ${EPOCH_MS('update_time')} AS updateMs,
  ${EPOCH_MS('next_try_time')} AS nextMs, ${EPOCH_MS('lease_until')} AS leaseMs, ${EPOCH_MS('UTC_TIMESTAMP(3)')} AS nowMs`;

/** The recipients as the JSON text of the message's "tos" (rows written by hand may not be JSON at all). */
const TOS = `LOWER(CASE WHEN JSON_VALID(msg) THEN JSON_EXTRACT(msg, '$.tos') END)`;

export const MSG_ID = /^\d{1,20}$/;

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** The WHERE clause of a filter, with its arguments. */
export function whereOf(filter: MailFilter): { sql: string; args: unknown[] } {
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
      // a recipient: scans the rows (bounded by the page size); see README, "Dashboard and operations"
      parts.push(`${TOS} LIKE ?`);
      args.push(`%${escapeLike(q.toLowerCase())}%`);
    }
  }
  return { sql: parts.length ? `WHERE ${parts.join(' AND ')}` : '', args };
}

export class DashboardQueries {
  constructor(
    private readonly pool: Pool,
    private readonly maxTries: number,
  ) {}

  /** Newest first (msgIds are time-ordered snowflakes), keyset-paged with `before`. */
  async listMails(filter: MailFilter, page: { limit: number; before?: string }, timeZone?: string): Promise<MailPage> {
    const where = whereOf(filter);
    const conds = where.sql ? [where.sql.slice('WHERE '.length)] : [];
    const args = [...where.args];
    if (page.before) {
      conds.push('msg_id < ?');
      args.push(page.before);
    }
    const rows = await this.pool.query<Record<string, unknown>[]>(
      `SELECT ${COLUMNS} FROM msg_log ${conds.length ? `WHERE ${conds.join(' AND ')}` : ''} ORDER BY msg_id DESC LIMIT ?`,
      [...args, page.limit + 1],
    );
    const mails = rows.slice(0, page.limit).map((r) => this.view(r, timeZone));
    return { mails, next: rows.length > page.limit ? (mails[mails.length - 1]?.msgId ?? null) : null };
  }

  async getMail(msgId: string, timeZone?: string): Promise<MailDetail | null> {
    const rows = await this.pool.query<Record<string, unknown>[]>(`SELECT ${COLUMNS} FROM msg_log WHERE msg_id = ?`, [msgId]);
    if (!rows[0]) return null;
    const events = await this.pool.query<Record<string, unknown>[]>(
      `SELECT CAST(id AS CHAR) AS id, ${EPOCH_MS('at')} AS atMs, from_status AS fromStatus, to_status AS toStatus, try_count AS tryCount, lease, error,
         ${EPOCH_MS('next_try_time')} AS nextMs, ms_in_previous_state AS msInPreviousState
       FROM msg_event WHERE msg_id = ? ORDER BY id LIMIT 1000`,
      [msgId],
    );
    const records: MsgEventRecord[] = events.map((e) => ({
      id: String(e.id),
      at: new Date(Number(e.atMs)),
      fromStatus: e.fromStatus === null ? null : Number(e.fromStatus),
      toStatus: Number(e.toStatus),
      tryCount: Number(e.tryCount),
      lease: Number(e.lease),
      error: (e.error as string | null) ?? null,
      nextTryTime: e.nextMs === null ? null : new Date(Number(e.nextMs)),
      msInPreviousState: e.msInPreviousState === null ? null : Number(e.msInPreviousState),
    }));
    const mail = this.view(rows[0], timeZone);
    const stored =
      Number(rows[0].rcptState) === 1
        ? await this.pool.query<RecipientRecordRow[]>('SELECT recipient, state, failure, tries, update_time AS updateTime FROM msg_recipient WHERE msg_id = ?', [msgId])
        : [];
    const recipients = recipientViews({ status: mail.statusCode, updateTime: new Date(mail.updateTime), failure: mail.failure }, mail.tos, stored);
    return { mail, recipients, timeline: describeTimeline(records, this.maxTries) };
  }

  /** How many dead rows a bulk retry with this filter would take. */
  async countDead(q?: string): Promise<number> {
    const where = whereOf({ status: Status.dead, q });
    const [row] = await this.pool.query<{ n: number }[]>(`SELECT COUNT(*) AS n FROM msg_log ${where.sql}`, where.args);
    return Number(row?.n ?? 0);
  }

  /** A batch of dead msgIds, oldest first, after `after` (keyset). */
  async deadIds(q: string | undefined, after: string | null, limit: number): Promise<string[]> {
    const where = whereOf({ status: Status.dead, q });
    const args = [...where.args];
    let sql = `SELECT msg_id AS msgId FROM msg_log ${where.sql}`;
    if (after !== null) {
      sql += ' AND msg_id > ?';
      args.push(after);
    }
    const rows = await this.pool.query<{ msgId: string }[]>(`${sql} ORDER BY msg_id LIMIT ?`, [...args, limit]);
    return rows.map((r) => String(r.msgId));
  }

  private view(r: Record<string, unknown>, timeZone?: string): MailRowView {
    let subject: string | null = null;
    let tos: string[] = [];
    try {
      const m = JSON.parse(String(r.msg)) as { subject?: unknown; tos?: unknown };
      if (typeof m.subject === 'string') subject = m.subject;
      if (Array.isArray(m.tos)) tos = m.tos.map(String);
    } catch {
      // a row written by hand may hold anything; its state is still shown
    }
    const failure = decodeFailure((r.lastError as string | null) ?? null);
    const date = (v: unknown) => (v === null || v === undefined ? null : new Date(Number(v)));
    const status = Number(r.status);
    const updateTime = date(r.updateMs)!;
    const state = {
      status,
      tryCount: Number(r.tryCount),
      maxTries: this.maxTries,
      lastError: (r.lastError as string | null) ?? null,
      updateTime,
      nextTryTime: date(r.nextMs),
      leaseUntil: date(r.leaseMs),
    };
    let name: StatusName;
    try {
      name = statusName(status);
    } catch {
      name = `unknown_${status}` as StatusName;
    }
    return {
      msgId: String(r.msgId),
      status: name,
      statusCode: status,
      tryCount: state.tryCount,
      maxTries: this.maxTries,
      subject,
      tos,
      createTime: date(r.createMs)!.toISOString(),
      updateTime: updateTime.toISOString(),
      nextTryTime: state.nextTryTime?.toISOString() ?? null,
      leaseUntil: state.leaseUntil?.toISOString() ?? null,
      lastError: failure ? failurePhrase(failure) : null,
      failure,
      why: explainMail(state, { now: new Date(Number(r.nowMs)), timeZone }),
    };
  }
}
