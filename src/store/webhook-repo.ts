// webhook_event from a pending row onward, behind a small interface (statements: WEBHOOK_DELIVERY_SQL in
// src/store/webhook-sql.ts): the job takes due rows and holds them while it POSTs (no row lock is held during HTTP),
// then records each answer as a guarded transition; the dashboard counts, lists and retries. The rows are written
// in the transactions of the outcomes they report (WEBHOOK_SQL.insertEvents), not here.
import { decodeDeliveryFailure, deliveryFailurePhrase, encodeDeliveryFailure, type DeliveryFailure } from '../core/webhook-delivery';
import { WebhookState, type WebhookEventType } from '../core/webhook-event';
import { inTransaction, type Pool } from './db';
import { num } from './msg-log-rows';
import { MS } from './sql';
import { WEBHOOK_DELIVERY_SQL as SQL } from './webhook-sql';

/** A pending event taken for delivery. */
export interface DueEvent {
  id: number;
  /** the webhook-id header */
  eventId: string;
  msgId: string;
  type: WebhookEventType;
  recipient: string;
  /** the exact body to send (and sign) */
  payload: string;
  /** failed tries so far */
  tries: number;
}

export type WebhookStateName = keyof typeof WebhookState;
export type ListedState = Exclude<WebhookStateName, 'delivered'>;

export interface WebhookCounts {
  pending: number;
  failed: number;
}

/** One event as the dashboard and GET /webhooks/events show it. */
export interface WebhookEventView {
  /** the event's id: the webhook-id header its receiver got */
  id: string;
  msgId: string;
  type: WebhookEventType;
  recipient: string;
  state: WebhookStateName;
  tries: number;
  nextTryTime: string | null;
  /** the last failed try in a sentence */
  lastError: string | null;
  /** the same as data */
  failure: DeliveryFailure | null;
  createTime: string;
  updateTime: string;
}

export type RetryResult = 'retried' | 'not-failed' | 'not-found';

// only the rows taken are locked, so a racing instance skips to the next ones
const READ_COMMITTED = { readCommitted: true };
const STATE_NAMES = Object.fromEntries(Object.entries(WebhookState).map(([k, v]) => [v, k])) as Record<number, WebhookStateName>;

export class WebhookRepo {
  constructor(readonly pool: Pool) {}

  /** Due pending events, held for `holdMs` (no other instance takes them meanwhile); committed before any POST. */
  async takeDue(limit: number, holdMs: number): Promise<DueEvent[]> {
    return inTransaction(this.pool, async (conn) => {
      const rows = await conn.query<Record<string, unknown>[]>(SQL.selectDue, [limit]);
      const due = rows.map((r): DueEvent => ({
        id: num(r.id),
        eventId: String(r.eventId),
        msgId: String(r.msgId),
        type: String(r.type) as WebhookEventType,
        recipient: String(r.recipient),
        payload: String(r.payload),
        tries: num(r.tries),
      }));
      if (due.length) await conn.query(SQL.hold(due.length), [holdMs * MS, ...due.map((e) => e.id)]);
      return due;
    }, READ_COMMITTED);
  }

  /** Taken events that were never tried (a stop came first): due again at once, for any instance. */
  async release(ids: readonly number[]): Promise<void> {
    if (ids.length) await this.pool.query(SQL.release(ids.length), [...ids]);
  }

  /** pending → delivered, in one statement; resolves with how many moved (an event delivered twice moves once). */
  async markDelivered(ids: readonly number[]): Promise<number> {
    if (!ids.length) return 0;
    const res = await this.pool.query(SQL.delivered(ids.length), [...ids]);
    return num(res.affectedRows);
  }

  /**
   * A failed try of an event that had `expectedTries`: tried again after `delayMs`, or failed (delayMs null).
   * False when the row moved meanwhile (the try is then not counted twice).
   */
  async recordFailure(id: number, expectedTries: number, delayMs: number | null, failure: DeliveryFailure): Promise<boolean> {
    const failed = delayMs === null ? 1 : 0;
    const res = await this.pool.query(SQL.failedTry, [expectedTries + 1, encodeDeliveryFailure(failure), failed, failed, (delayMs ?? 0) * MS, id, expectedTries]);
    return num(res.affectedRows) === 1;
  }

  /** A person's retry: a failed event is pending again, due now, with a fresh budget of tries. */
  async retry(eventId: string): Promise<RetryResult> {
    const res = await this.pool.query(SQL.retry, [eventId]);
    if (num(res.affectedRows) === 1) return 'retried';
    const rows = await this.pool.query<{ state: number }[]>(SQL.stateOf, [eventId]);
    return rows.length ? 'not-failed' : 'not-found';
  }

  /** A person's retry of every failed event, at most `limit` at once; answers how many are pending again. */
  async retryAllFailed(limit: number): Promise<number> {
    return num((await this.pool.query(SQL.retryAllFailed, [limit])).affectedRows);
  }

  async counts(): Promise<WebhookCounts> {
    const rows = await this.pool.query<{ state: number; n: number }[]>(SQL.counts);
    const out: WebhookCounts = { pending: 0, failed: 0 };
    for (const r of rows) {
      if (num(r.state) === WebhookState.pending) out.pending = num(r.n);
      if (num(r.state) === WebhookState.failed) out.failed = num(r.n);
    }
    return out;
  }

  /** The events in one state, the most recently changed first. */
  async list(state: ListedState, limit: number): Promise<WebhookEventView[]> {
    const rows = await this.pool.query<Record<string, unknown>[]>(SQL.list, [WebhookState[state], limit]);
    const iso = (v: unknown) => (v === null || v === undefined ? null : new Date(num(v)).toISOString());
    return rows.map((r) => {
      const failure = decodeDeliveryFailure(r.lastError as string | null);
      return {
        id: String(r.eventId),
        msgId: String(r.msgId),
        type: String(r.type) as WebhookEventType,
        recipient: String(r.recipient),
        state: STATE_NAMES[num(r.state)] ?? 'pending',
        tries: num(r.tries),
        nextTryTime: iso(r.nextMs),
        lastError: failure ? deliveryFailurePhrase(failure) : ((r.lastError as string | null) ?? null),
        failure,
        createTime: iso(r.createMs)!,
        updateTime: iso(r.updateMs)!,
      };
    });
  }
}
