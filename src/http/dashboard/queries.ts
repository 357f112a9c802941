// The dashboard's reads of msg_log and msg_event: a page of recent rows (filter by status, search by msgId or
// recipient), one mail with its history, and the dead rows a bulk retry takes. The statements are in
// src/store/read-sql.ts; times come back as epoch milliseconds computed by the database, so no time zone is involved.
import { explainMail, describeTimeline, type MsgEventRecord, type TimelineStep } from '../../core/explain';
import { decodeFailure, failurePhrase, type Failure } from '../../core/failure';
import { statusName, type StatusName } from '../../core/status';
import { recipientViews, type RecipientRecordRow, type RecipientView } from '../mail-view';
import type { Pool } from '../../store/db';
import { DASHBOARD_SQL, type MailFilter } from '../../store/read-sql';
import { SQL } from '../../store/sql';

// Kept here for the routes (and tests) that import them from the dashboard.
export { MSG_ID, whereOf, type MailFilter } from '../../store/read-sql';

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

export class DashboardQueries {
  constructor(
    private readonly pool: Pool,
    private readonly maxTries: number,
  ) {}

  /** Newest first (msgIds are time-ordered snowflakes), keyset-paged with `before`. */
  async listMails(filter: MailFilter, page: { limit: number; before?: string }, timeZone?: string): Promise<MailPage> {
    const { sql, args } = DASHBOARD_SQL.listMails(filter, page.before, page.limit + 1);
    const rows = await this.pool.query<Record<string, unknown>[]>(sql, args);
    const mails = rows.slice(0, page.limit).map((r) => this.view(r, timeZone));
    return { mails, next: rows.length > page.limit ? (mails[mails.length - 1]?.msgId ?? null) : null };
  }

  async getMail(msgId: string, timeZone?: string): Promise<MailDetail | null> {
    const rows = await this.pool.query<Record<string, unknown>[]>(DASHBOARD_SQL.findMail, [msgId]);
    if (!rows[0]) return null;
    const events = await this.pool.query<Record<string, unknown>[]>(DASHBOARD_SQL.mailEvents, [msgId]);
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
    const stored = Number(rows[0].rcptState) === 1 ? await this.pool.query<RecipientRecordRow[]>(SQL.findRecipients, [msgId]) : [];
    const recipients = recipientViews({ status: mail.statusCode, updateTime: new Date(mail.updateTime), failure: mail.failure }, mail.tos, stored);
    return { mail, recipients, timeline: describeTimeline(records, this.maxTries) };
  }

  /** How many dead rows a bulk retry with this filter would take. */
  async countDead(q?: string): Promise<number> {
    const { sql, args } = DASHBOARD_SQL.countDead(q);
    const [row] = await this.pool.query<{ n: number }[]>(sql, args);
    return Number(row?.n ?? 0);
  }

  /** A batch of dead msgIds, oldest first, after `after` (keyset). */
  async deadIds(q: string | undefined, after: string | null, limit: number): Promise<string[]> {
    const { sql, args } = DASHBOARD_SQL.deadIds(q, after, limit);
    const rows = await this.pool.query<{ msgId: string }[]>(sql, args);
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
