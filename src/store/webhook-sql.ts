// Every statement on webhook_event (src/core/webhook-event.ts says what an event is).
import { WebhookState } from '../core/webhook-event';
import { EPOCH_MS } from './read-sql';

const rows = (n: number, one: string) => Array.from({ length: n }, () => one).join(', ');

export const WEBHOOK_SQL = {
  /**
   * Events written in the transaction of the outcome they report, due at once. An event already written (the same
   * event_id) is left as it is. Args per row: eventId, msgId, type, recipient, payload.
   */
  insertEvents: (n: number) => `INSERT INTO webhook_event (event_id, msg_id, type, recipient, payload, state, tries, next_try_time, create_time, update_time)
    VALUES ${rows(n, '(?, ?, ?, ?, ?, 0, 0, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))')}
    ON DUPLICATE KEY UPDATE event_id = event_id`,
} as const;

// ---- delivery (src/store/webhook-repo.ts, src/jobs/webhook-job.ts). Every transition is a guarded UPDATE naming the
// state it starts from; all times are the database's, UTC_TIMESTAMP(3).
const ids = (n: number) => Array.from({ length: n }, () => '?').join(',');
const { pending: PENDING, delivered: DELIVERED, failed: FAILED } = WebhookState;
const EVENT = 'id, event_id AS eventId, msg_id AS msgId, type, recipient, payload, tries';

export const WEBHOOK_DELIVERY_SQL = {
  /**
   * Pending events whose time has come, oldest first, skipping rows another instance holds: a range of the
   * next_try_time index (delivered and failed rows have NULL there and are never read). Needs a transaction. Args: limit.
   */
  selectDue: `SELECT ${EVENT} FROM webhook_event FORCE INDEX (idx_webhook_event_next_try_time)
    WHERE next_try_time <= UTC_TIMESTAMP(3) AND state = ${PENDING}
    ORDER BY next_try_time LIMIT ? FOR UPDATE SKIP LOCKED`,

  /** Taken: not due again until the POSTs of the batch are answered (or timed out). Args: holdUs, ...ids. */
  hold: (n: number) => `UPDATE webhook_event SET next_try_time = UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND
    WHERE id IN (${ids(n)}) AND state = ${PENDING}`,

  /** Taken but never tried (the job stopped first): due again at once. Args: ...ids. */
  release: (n: number) => `UPDATE webhook_event SET next_try_time = UTC_TIMESTAMP(3)
    WHERE id IN (${ids(n)}) AND state = ${PENDING}`,

  /** pending → delivered, final: a 2xx came. Args: ...ids. */
  delivered: (n: number) => `UPDATE webhook_event SET state = ${DELIVERED}, next_try_time = NULL, update_time = UTC_TIMESTAMP(3)
    WHERE id IN (${ids(n)}) AND state = ${PENDING}`,

  /**
   * A failed try, counted once (the try count it started from is named): tried again after the backoff, or failed
   * (final until a person retries it). Args: tries, lastError, failed(0/1), failed(0/1), delayUs, id, expectedTries.
   */
  failedTry: `UPDATE webhook_event SET tries = ?, last_error = ?, state = IF(?, ${FAILED}, ${PENDING}),
      next_try_time = IF(?, NULL, UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND), update_time = UTC_TIMESTAMP(3)
    WHERE id = ? AND state = ${PENDING} AND tries = ?`,

  /** failed → pending, due now, with a fresh budget of tries: a person's retry. Args: eventId. */
  retry: `UPDATE webhook_event SET state = ${PENDING}, tries = 0, next_try_time = UTC_TIMESTAMP(3), update_time = UTC_TIMESTAMP(3)
    WHERE event_id = ? AND state = ${FAILED}`,

  /** Every failed event (up to a limit per request) pending again, due now: a person's retry after a receiver's outage. Args: limit. */
  retryAllFailed: `UPDATE webhook_event SET state = ${PENDING}, tries = 0, next_try_time = UTC_TIMESTAMP(3), update_time = UTC_TIMESTAMP(3)
    WHERE state = ${FAILED} LIMIT ?`,

  /** Events not delivered, by state: a range of idx_webhook_event_state_update_time (delivered rows are not read). */
  counts: `SELECT state, COUNT(*) AS n FROM webhook_event WHERE state IN (${PENDING}, ${FAILED}) GROUP BY state`,

  /** The events in one state, the most recently changed first (the index, read backwards). Args: state, limit. */
  list: `SELECT event_id AS eventId, msg_id AS msgId, type, recipient, state, tries, last_error AS lastError,
      ${EPOCH_MS('next_try_time')} AS nextMs, ${EPOCH_MS('create_time')} AS createMs, ${EPOCH_MS('update_time')} AS updateMs
    FROM webhook_event FORCE INDEX (idx_webhook_event_state_update_time)
    WHERE state = ? ORDER BY update_time DESC, id DESC LIMIT ?`,

  /** Args: eventId. */
  stateOf: `SELECT state FROM webhook_event WHERE event_id = ?`,
} as const;
