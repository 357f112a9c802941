// Webhook events written in the transaction of the outcome they report (src/core/webhook-event.ts builds them), so an
// outcome is never recorded without its events, nor an event without its outcome. The job delivers them.
import { decodeFailure } from '../core/failure';
import { decodeMailMessage } from '../core/mail-message';
import { Status } from '../core/status';
import { deadEvents, type WebhookEventRow } from '../core/webhook-event';
import type { Pool } from './db';
import { SQL } from './sql';
import { WEBHOOK_SQL } from './webhook-sql';

type Conn = Pick<Pool, 'execute'>;

/** Events per statement: a batch of consumed mails with many recipients each is written in a few statements. */
const ROWS_PER_STATEMENT = 200;

export async function writeEvents(conn: Conn, events: readonly WebhookEventRow[]): Promise<void> {
  for (let i = 0; i < events.length; i += ROWS_PER_STATEMENT) {
    const chunk = events.slice(i, i + ROWS_PER_STATEMENT);
    await conn.execute(WEBHOOK_SQL.insertEvents(chunk.length), chunk.flatMap((e) => [e.eventId, e.msgId, e.type, e.recipient, e.payload]));
  }
}

/**
 * The delivered events of a batched consumed mark. When some rows were no longer pending (consumed by another
 * delivery, which wrote the same events), only the consumed ones get events; an event already written stays one.
 */
export async function writeConsumedEvents(conn: Conn, ids: readonly string[], allMarked: boolean, events: readonly WebhookEventRow[]): Promise<void> {
  if (!allMarked) {
    const rows = await conn.execute<Record<string, unknown>[]>(SQL.stateOf(ids.length), [...ids]);
    const consumed = new Set(rows.filter((r) => Number(r.status) === Status.consumed).map((r) => String(r.msgId)));
    events = events.filter((e) => consumed.has(e.msgId));
  }
  await writeEvents(conn, events);
}

/** `dead` for every recipient not final of the mails among `ids` that are dead now (after the UPDATE that made them so). */
export async function writeDeadEvents(conn: Conn, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  const rows = await conn.execute<Record<string, unknown>[]>(SQL.deadRows(ids.length), [...ids]);
  if (rows.length === 0) return;
  const finals = await conn.execute<{ msgId: string; recipient: string }[]>(SQL.finalRecipients(ids.length), [...ids]);
  const at = new Date();
  const events = rows.flatMap((r) => {
    const msgId = String(r.msgId);
    const final = new Set(finals.filter((f) => f.msgId === msgId).map((f) => f.recipient.toLowerCase()));
    let mail;
    try {
      mail = decodeMailMessage(String(r.msg));
    } catch {
      return []; // a row that is no mail has no recipients to tell about
    }
    return deadEvents(mail, final, Number(r.tryCount), decodeFailure(r.lastError as string | null), at);
  });
  await writeEvents(conn, events);
}
