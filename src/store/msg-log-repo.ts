// msg_log behind a small interface: each method is one guarded transition from src/store/sql.ts. Every transition
// that matched a row is announced as a 'transition' event (src/observability/metrics.ts counts them).
import { EventEmitter } from 'node:events';
import { encodeFailure, decodeFailure, type Failure } from '../core/failure';
import { RecipientCode, recipientStateName, type SendDecision } from '../core/recipients';
import type { FailureOutcome, RedeliveryPlan } from '../core/retry';
import { Status } from '../core/status';
import { PerItemErrors } from './batcher';
import type { PoolConnection } from 'mariadb';
import type { Pool } from './db';
import { claimDueRound } from './due-rows';
import { num, padded, toMsgRow, type ClaimedRound, type DueRow, type ListenerRow, type MsgRow, type NewRow, type RepoEvents, type RepoTiming, type SeenBy, type StoredRecipient } from './msg-log-rows';
import { MS, SQL } from './sql';
import { writeSuppressions, type NewSuppression } from './suppression-repo';
import { writeConsumedEvents, writeDeadEvents, writeEvents } from './webhook-writes';
import { batchAtomically, inTransaction } from './db';
import type { WebhookEventRow } from '../core/webhook-event';

export type { ClaimedRound, DueRow, ListenerRow, MsgRow, NewRow, RepoEvents, RepoTiming, SeenBy, StoredRecipient } from './msg-log-rows';
export { padded, sized } from './msg-log-rows';

/** What a send's outcome writes with it: recipients it suppressed and the webhook events it makes. */
export interface SendRecord {
  uncertain?: boolean;
  suppress?: readonly NewSuppression[];
  events?: readonly WebhookEventRow[];
}

export class MsgLogRepo extends EventEmitter<RepoEvents> {
  /** webhook events are written with the outcomes they report (WEBHOOK_URL set) */
  readonly webhooks: boolean;

  constructor(
    readonly pool: Pool,
    private readonly timing: RepoTiming,
    options: { webhooks?: boolean } = {},
  ) {
    super();
    this.webhooks = options.webhooks ?? false;
  }

  private moved(toStatus: number, n: number, by?: SeenBy): void {
    if (n > 0) this.emit('transition', by ? { toStatus, n, by } : { toStatus, n });
  }

  async insert(row: NewRow): Promise<void> {
    await this.writeRow(this.pool, row);
    this.moved(Status.sending, 1);
  }

  // Each public insert announces its own transitions, so they share this, not each other.
  private async writeRow(conn: Pick<Pool, 'execute'>, row: NewRow): Promise<void> {
    await conn.execute(SQL.insert, [row.msgId, row.msg, row.exchange, row.routingKey, this.timing.publishGraceMs * MS]);
  }

  /**
   * Many rows in one statement and one commit. If the statement fails on a duplicate key, each row is tried alone,
   * so only the colliding one fails; the result then says which.
   */
  async insertMany(rows: readonly NewRow[]): Promise<PerItemErrors | void> {
    const result = await this.insertRows(rows);
    const failed = result instanceof PerItemErrors ? result.errors.filter((e) => e !== undefined).length : 0;
    this.moved(Status.sending, rows.length - failed);
    return result;
  }

  private async insertRows(rows: readonly NewRow[]): Promise<PerItemErrors | void> {
    if (rows.length === 1) return this.writeRow(this.pool, rows[0]!);
    const graceUs = this.timing.publishGraceMs * MS;
    try {
      // One prepared statement with every row's values (MariaDB's bulk execute): one statement and one commit, all or
      // nothing, and the same statement text whatever the batch size, so it is prepared once per connection. MySQL's
      // server has no bulk command (the connector sends one statement per row), so there it runs in a transaction.
      await batchAtomically(this.pool, SQL.insert, rows.map((r) => [r.msgId, r.msg, r.exchange, r.routingKey, graceUs]));
    } catch (err) {
      if ((err as { code?: string }).code !== 'ER_DUP_ENTRY') throw err;
      const results = await Promise.allSettled(rows.map((r) => this.writeRow(this.pool, r)));
      return new PerItemErrors(results.map((r) => (r.status === 'rejected' ? r.reason : undefined)));
    }
  }

  /** The same insert on a connection the caller holds, inside its own transaction (Idempotency-Key). */
  async insertOn(conn: Pick<Pool, 'execute'>, row: NewRow): Promise<void> {
    await this.writeRow(conn, row);
    this.moved(Status.sending, 1);
  }

  /** Many rows in one statement on a connection inside the caller's transaction (POST /mail/batch). */
  async insertAllOn(conn: Pick<PoolConnection, 'batch'>, rows: readonly NewRow[]): Promise<void> {
    if (rows.length === 0) return;
    await conn.batch(SQL.insert, rows.map((r) => [r.msgId, r.msg, r.exchange, r.routingKey, this.timing.publishGraceMs * MS]));
    this.moved(Status.sending, rows.length);
  }

  /** Confirms of publishes made at `tryCount`; rows no longer `sending` at that try are left alone (a late confirm undoes nothing). */
  async markDelivered(ids: readonly string[], tryCount: number): Promise<number> {
    if (ids.length === 0) return 0;
    const list = padded(ids);
    const res = await this.pool.execute(SQL.markDelivered(list.length), [this.timing.consumeDeadlineMs * MS, tryCount, ...list]);
    const n = num(res.affectedRows);
    this.moved(Status.delivered, n);
    return n;
  }

  /** One counted publish failure, if the row is still `sending` at that try and no listener holds it. */
  async recordPublishFailure(msgId: string, expectedTryCount: number, outcome: FailureOutcome, failure: Failure): Promise<boolean> {
    const dead = outcome.delayMs === null;
    const args = [outcome.status, dead ? 1 : 0, (outcome.delayMs ?? 0) * MS, outcome.tryCount, encodeFailure(failure), msgId, expectedTryCount];
    const write = async (conn: Pick<Pool, 'execute'>) => {
      const ok = num((await conn.execute(SQL.recordPublishFailure, args)).affectedRows) === 1;
      if (ok && dead && this.webhooks) await writeDeadEvents(conn, [msgId]);
      return ok;
    };
    const applied = dead && this.webhooks ? await inTransaction(this.pool, write) : await write(this.pool);
    if (applied) this.moved(outcome.status, 1, 'publisher');
    return applied;
  }

  /**
   * A send's outcome, by the holder of the claim, with the recipients whose state it changed (one transaction).
   * False when the claim was no longer this owner's: nothing is written.
   */
  async recordSend(msgId: string, owner: string, expectedTryCount: number, d: SendDecision, opts: SendRecord = {}): Promise<boolean> {
    const applied = await this.writeSend(msgId, owner, expectedTryCount, d, opts);
    if (applied) this.moved(d.status, 1, 'listener');
    return applied;
  }

  private async writeSend(msgId: string, owner: string, expectedTryCount: number, d: SendDecision, opts: SendRecord): Promise<boolean> {
    const final = d.delayMs === null;
    const args = [opts.uncertain ? 1 : 0, d.status, final ? 1 : 0, (d.delayMs ?? 0) * MS, d.tryCount, d.failure ? encodeFailure(d.failure) : null, d.perRecipient ? 1 : 0, msgId, expectedTryCount, owner];
    const recipients = d.perRecipient ? d.changed : [];
    const events = opts.events ?? [];
    const suppress = opts.suppress ?? [];
    if (recipients.length === 0 && events.length === 0 && suppress.length === 0) return num((await this.pool.execute(SQL.recordSend, args)).affectedRows) === 1;
    // The outcome, the recipients' states, the addresses it suppressed and its webhook events: one transaction.
    // (a claim lost meanwhile writes nothing: the transaction commits nothing)
    return inTransaction(this.pool, async (conn) => {
      if (num((await conn.execute(SQL.recordSend, args)).affectedRows) !== 1) return false;
      if (recipients.length) {
        const values = recipients.flatMap((r) => [msgId, r.recipient.toLowerCase(), RecipientCode[r.state], r.failure ? encodeFailure(r.failure) : null]);
        await conn.execute(SQL.upsertRecipients(recipients.length), values);
      }
      await writeSuppressions(conn, suppress);
      await writeEvents(conn, events);
      return true;
    });
  }

  async findRecipients(msgId: string): Promise<StoredRecipient[]> {
    const rows = await this.pool.execute<Record<string, unknown>[]>(SQL.findRecipients, [msgId]);
    return rows.map((r) => ({
      recipient: String(r.recipient),
      state: recipientStateName(num(r.state)),
      failure: decodeFailure(r.failure as string | null),
      tries: num(r.tries),
      updateTime: r.updateTime as Date,
    }));
  }

  /** Gives claims back unsent: no try, nothing uncertain. Answers how many rows were released. */
  async releaseClaims(owner: string, ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    const list = padded(ids);
    const res = await this.pool.execute(SQL.releaseClaims(list.length), [this.timing.consumeDeadlineMs * MS, owner, ...list]);
    return num(res.affectedRows);
  }

  /** Renews the leases of claims still in hand; answers how many rows this owner still holds. */
  async extendLeases(owner: string, ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    const leaseUs = this.timing.leaseMs * MS;
    const list = padded(ids);
    const res = await this.pool.execute(SQL.extendLeases(list.length), [leaseUs, leaseUs, owner, ...list]);
    return num(res.affectedRows);
  }

  /** Ends every claim of owners named `<prefix>:...` now (a listener thread that died). */
  async expireClaimsOf(prefix: string): Promise<number> {
    const res = await this.pool.execute(SQL.expireClaimsOf, [prefix]);
    return num(res.affectedRows);
  }

  /**
   * The listener's atomic claim: true for exactly one holder while the lease lasts. With `takeOverExpired` false,
   * a lease that ran out is left for the job to decide (the "dead" uncertain policy).
   */
  async claim(msgId: string, owner: string, takeOverExpired = true, perRecipient = false): Promise<boolean> {
    const leaseUs = this.timing.leaseMs * MS;
    const res = await this.pool.execute(SQL.claim(takeOverExpired, 1, perRecipient), [owner, leaseUs, leaseUs, msgId]);
    return num(res.affectedRows) === 1;
  }

  /**
   * Claims several rows for one owner at once; answers, per id, whether this owner now holds it. Asking again with the
   * same owner is safe (a claim whose answer was lost): the rows it already holds are found, not claimed twice.
   */
  async claimMany(ids: readonly string[], owner: string, takeOverExpired = true): Promise<boolean[]> {
    const leaseUs = this.timing.leaseMs * MS;
    const list = padded(ids);
    const res = await this.pool.execute(SQL.claim(takeOverExpired, list.length), [owner, leaseUs, leaseUs, ...list]);
    if (num(res.affectedRows) === ids.length) return ids.map(() => true);
    const held = new Set((await this.pool.execute<{ msgId: string }[]>(SQL.claimedBy(list.length), [owner, ...list])).map((r) => String(r.msgId)));
    return ids.map((id) => held.has(id));
  }

  async markConsumed(msgId: string, note: string | null): Promise<boolean> {
    const res = await this.pool.execute(SQL.markConsumed(1), [note, msgId]);
    const applied = num(res.affectedRows) === 1;
    if (applied) this.moved(Status.consumed, 1);
    return applied;
  }

  /** Many accepted sends at once (no notes), with their webhook events when there are any. */
  async markManyConsumed(ids: readonly string[], events: readonly WebhookEventRow[] = []): Promise<number> {
    const list = padded(ids);
    const mark = (conn: Pick<Pool, 'execute'>) => conn.execute(SQL.markConsumed(list.length), [null, ...list]).then((res) => num(res.affectedRows));
    const n =
      events.length === 0
        ? await mark(this.pool)
        : await inTransaction(this.pool, async (conn) => {
            const marked = await mark(conn);
            await writeConsumedEvents(conn, ids, marked === ids.length, events);
            return marked;
          });
    this.moved(Status.consumed, n);
    return n;
  }

  async findForListener(msgId: string): Promise<ListenerRow | null> {
    const rows = await this.pool.execute<Record<string, unknown>[]>(SQL.findForListener, [msgId]);
    const r = rows[0];
    if (!r) return null;
    return { ...toMsgRow(r), leased: num(r.leased) === 1, leaseOwner: (r.leaseOwner as string | null) ?? null, perRecipient: num(r.rcptState) === 1 };
  }

  async findRow(msgId: string): Promise<MsgRow | null> {
    const rows = await this.pool.execute<Record<string, unknown>[]>(SQL.findRow, [msgId]);
    return rows[0] ? toMsgRow(rows[0]) : null;
  }

  /**
   * Takes up to `limit` due rows that no other instance holds, applies `plan` to each, and commits the new
   * states before anything is published, so two instances never re-publish the same row in one round.
   */
  async claimDue(limit: number, plan: (row: DueRow) => RedeliveryPlan): Promise<ClaimedRound> {
    const round = await claimDueRound(this.pool, this.timing, limit, plan, this.webhooks);
    this.moved(Status.sending, round.republish.length);
    this.moved(Status.dead, round.dead.length, 'job');
    if (round.republish.length > 0) this.emit('redelivered', { n: round.republish.length });
    return round;
  }

  /** A person's retry: only a dead row comes back, as `sending`, with a fresh budget. */
  async manualRetry(msgId: string): Promise<boolean> {
    const res = await this.pool.execute(SQL.manualRetry, [this.timing.publishGraceMs * MS, msgId]);
    const applied = num(res.affectedRows) === 1;
    if (applied) {
      this.moved(Status.sending, 1);
      this.emit('retried', { msgId });
    }
    return applied;
  }
}
