// How a msg_log row is shown by the API: status by name and code, times as ISO strings, the mail's subject and recipients.
import { statusName, type StatusName } from '../core/status';
import type { MsgRow } from '../store/msg-log-repo';

/** A whole msg_log row as Prisma reads it. */
export interface MsgLogRecord extends MsgRow {
  nextTryTime: Date | null;
  createTime: Date;
  updateTime: Date;
  lastError: string | null;
  uncertainCount: number;
}

export interface MailView {
  msgId: string;
  status: StatusName;
  statusCode: number;
  tryCount: number;
  maxTries: number;
  nextTryTime: string | null;
  createTime: string;
  updateTime: string;
  lastError: string | null;
  /** sends whose SMTP outcome was unknown and that were sent again */
  uncertainCount: number;
  exchange: string;
  routingKey: string;
  subject: string | null;
  tos: string[];
}

export function toMailView(row: MsgLogRecord, maxTries: number): MailView {
  let subject: string | null = null;
  let tos: string[] = [];
  try {
    const m = JSON.parse(row.msg) as { subject?: unknown; tos?: unknown };
    if (typeof m.subject === 'string') subject = m.subject;
    if (Array.isArray(m.tos)) tos = m.tos.map(String);
  } catch {
    // a row written by hand may hold anything; the view still shows its state
  }
  return {
    msgId: row.msgId,
    status: statusName(row.status),
    statusCode: row.status,
    tryCount: row.tryCount,
    maxTries,
    nextTryTime: row.nextTryTime?.toISOString() ?? null,
    createTime: row.createTime.toISOString(),
    updateTime: row.updateTime.toISOString(),
    lastError: row.lastError,
    uncertainCount: row.uncertainCount,
    exchange: row.exchange,
    routingKey: row.routingKey,
    subject,
    tos,
  };
}
