// Accepting a mail: commit the msg_log row first (the row is the promise), then publish without making
// the caller wait for the broker. A person's retry of a dead mail goes the same way.
import { allRecipients, messageOf, type DevFault } from '../core/mail-message';
import type { SuppressionCheck } from '../core/suppression';
import type { MsgIdGenerator } from '../core/ids';
import type { MailRequest } from '../core/validation';
import type { Logger } from '../logger';
import { AppError, isDatabaseUnavailable } from '../errors';
import { Batcher } from '../store/batcher';
import type { PoolConnection } from 'mariadb';
import { inTransaction } from '../store/db';
import type { HeldRepo } from '../store/held-repo';
import type { MailWrite } from '../store/idempotency-repo';
import type { MsgLogRepo, NewRow } from '../store/msg-log-repo';
import type { TopologyNames } from '../broker/topology';
import type { DispatchItem } from './dispatcher';
import { TUNING } from '../tuning';

export interface Accepted {
  msgId: string;
  /** scheduled: a sendAt ahead, published when due */
  status: 'sending' | 'scheduled';
}

const DUPLICATE_KEY = 'ER_DUP_ENTRY';
/** a request that waited for its INSERT behind one the database never answered: its own was never sent */
const NOT_SENT = 'NOT_SENT';
const NEVER_SENT = new Set(['ER_GET_CONNECTION_TIMEOUT', 'ER_CONNECTION_TIMEOUT', 'ECONNREFUSED', 'ER_POOL_ALREADY_CLOSED', 'ER_CLOSING_POOL', NOT_SENT]);

export type NewMsgRow = NewRow;

const codeOf = (err: unknown): string => (err as { code?: string }).code ?? '';
/** The statement never reached the database: no connection could be had. */
const neverSent = (err: unknown): boolean => NEVER_SENT.has(codeOf(err));

/**
 * What the requests still waiting for an INSERT hear when the one in flight failed: no connection could be had, or
 * the database left it unanswered for the socket timeout (black-holed, or hung). Theirs would wait out the same
 * timeout again; they fail now, never sent (503, nothing stored). Any other failure leaves them to their own INSERT.
 */
function waitingFailure(err: unknown): unknown {
  if (neverSent(err)) return err;
  if (codeOf(err) === 'ER_SOCKET_TIMEOUT') return Object.assign(new Error('not sent: the database left the INSERT before it unanswered'), { code: NOT_SENT, fatal: true, cause: err });
  return undefined;
}

/**
 * A mail none of whose recipients would be sent to is refused (422), naming them; one with some recipients suppressed
 * is accepted, and those recipients' outcome says `suppressed`.
 */
export function refuseIfAllSuppressed(request: MailRequest, suppressions: SuppressionCheck | undefined): void {
  if (!suppressions) return;
  const all = allRecipients(request);
  if (!all.every((a) => suppressions.has(a))) return;
  const errors = all.map((a) => ({ field: 'tos', message: `${a} is on the suppression list (GET /suppressions/${encodeURIComponent(a.toLowerCase())} says why; DELETE lifts it)` }));
  throw new AppError('RECIPIENTS_SUPPRESSED', `nothing would be sent: ${all.join(', ')} ${all.length === 1 ? 'is' : 'are'} on the suppression list`, { errors });
}

/** Publishes a committed mail and records what the broker said: the Dispatcher (under DEV_FAULTS, src/faults wraps it). */
export interface MailDispatch {
  dispatch(item: DispatchItem): Promise<unknown>;
}

export class MailService {
  private readonly inFlight = new Set<Promise<unknown>>();
  private toPublish: DispatchItem[] = [];
  private publishTimer: NodeJS.Immediate | null = null;
  // Concurrent requests share one multi-row INSERT and one commit; each still answers only after that commit.
  private readonly inserts: Batcher<NewRow>;

  constructor(
    private readonly deps: {
      repo: MsgLogRepo;
      /** scheduled mails' rows (src/store/held-repo.ts) */
      held: HeldRepo;
      dispatcher: MailDispatch;
      ids: MsgIdGenerator;
      topology: TopologyNames;
      logger: Logger;
      /** this process's copy of the suppression list (src/store/suppression-list.ts) */
      suppressions?: SuppressionCheck;
    },
  ) {
    // A batch that could not get a connection, or got no answer, fails the requests waiting behind it at once (503,
    // nothing stored), instead of letting each wait out a timeout a second time.
    this.inserts = new Batcher<NewRow>({ ...TUNING.insertBatch, failWaiting: waitingFailure, flush: (rows) => deps.repo.insertMany(rows) });
  }

  /**
   * Resolves once the row is committed; the publish and its confirm carry on in the background. A `devFault` (the
   * documented scenarios: DEV_FAULTS=true) is stored with the mail as data; src/faults plays it.
   */
  async send(request: MailRequest, devFault?: DevFault, idempotency?: { insert(row: NewRow, write?: MailWrite): Promise<void> }): Promise<Accepted> {
    const { topology } = this.deps;
    refuseIfAllSuppressed(request, this.deps.suppressions);
    const sendAt = request.sendAt && request.sendAt.getTime() > Date.now() ? request.sendAt : null;
    const row = { msgId: '', msg: '', exchange: topology.exchange, routingKey: topology.routingKey, tryCount: 0 };
    for (let attempt = 1; ; attempt++) {
      row.msgId = this.deps.ids.next();
      row.msg = messageOf(row.msgId, request, devFault);
      try {
        const newRow = { msgId: row.msgId, msg: row.msg, exchange: row.exchange, routingKey: row.routingKey };
        // With an Idempotency-Key, the key row and the msg_log row are inserted in one transaction.
        if (sendAt) {
          const { held } = this.deps;
          await (idempotency ? idempotency.insert(newRow, (conn) => held.insertScheduled(conn, newRow, sendAt)) : held.insertScheduled(held.pool, newRow, sendAt));
        } else {
          await (idempotency ? idempotency.insert(newRow) : this.inserts.add(newRow));
        }
        break;
      } catch (err) {
        if (isDatabaseUnavailable(err)) {
          if (await this.storedDespite(row.msgId, err)) break;
          throw new AppError('DATABASE_UNAVAILABLE', 'nothing was stored');
        }
        // Leased instance numbers never collide; two instances pinned to one SNOWFLAKE_WORKER_ID could: a fresh id settles it.
        if ((err as { code?: string }).code !== DUPLICATE_KEY || attempt >= TUNING.duplicateKeyTries) throw err;
      }
    }
    if (sendAt) {
      this.deps.logger.info({ msgId: row.msgId, tos: request.tos.length, sendAt }, 'mail scheduled');
      return { msgId: row.msgId, status: 'scheduled' };
    }
    this.deps.logger.info({ msgId: row.msgId, tos: request.tos.length, devFault }, 'mail accepted');
    this.publishSoon(row);
    return { msgId: row.msgId, status: 'sending' };
  }

  /**
   * Publishes once this turn of the event loop is over: the answers of a committed insert batch are written first,
   * and the batch's publishes follow, instead of each 202 waiting for the publishes of the requests before it.
   */
  private publishSoon(row: DispatchItem): void {
    this.toPublish.push(row);
    this.publishTimer ??= setImmediate(() => this.publishPending());
  }

  private publishPending(): void {
    if (this.publishTimer) clearImmediate(this.publishTimer);
    this.publishTimer = null;
    const batch = this.toPublish;
    this.toPublish = [];
    for (const row of batch) this.track(this.deps.dispatcher.dispatch(row));
  }

  /**
   * The connection failed around the INSERT: it may have committed before the reply was lost. True when the row is
   * there (the mail is accepted after all); false when it is not; an AppError naming the msgId when nobody can tell.
   */
  private async storedDespite(msgId: string, cause: unknown): Promise<boolean> {
    // No connection was ever had: the statement was never sent.
    if (neverSent(cause)) return false;
    // A short look, so the client hears about it in seconds rather than waiting out a second outage.
    const lookup = this.deps.repo.findRow(msgId).catch(() => undefined);
    const row = await Promise.race([lookup, new Promise<undefined>((r) => setTimeout(() => r(undefined), TUNING.storedLookupMs).unref())]);
    if (row !== undefined) return row !== null;
    this.deps.logger.warn({ msgId, err: (cause as Error).message }, 'database lost during an insert; the outcome is unknown');
    throw new AppError(
      'DATABASE_UNAVAILABLE',
      `the database went away during the insert: mail ${msgId} may have been stored. GET /mail/${msgId} tells once it is back; to resend safely, use an Idempotency-Key`,
      { msgId },
    );
  }

  /**
   * A batch: every mail in one transaction (with the Idempotency-Key's row, when there is one, which keeps `answer` of
   * the accepted mails to replay), then the ones to send now published. All or nothing: a failure stores none.
   */
  /** The problem of a mail of a batch whose every recipient is suppressed, else null. */
  suppressedProblem(request: MailRequest): AppError | null {
    try {
      refuseIfAllSuppressed(request, this.deps.suppressions);
      return null;
    } catch (err) {
      return err as AppError;
    }
  }

  async sendBatch(requests: readonly MailRequest[], answer: (accepted: Accepted[]) => string, idempotency?: { insert(row: NewRow, write: MailWrite, result?: string): Promise<void> }): Promise<Accepted[]> {
    const { topology, repo, held } = this.deps;
    for (let attempt = 1; ; attempt++) {
      const rows = requests.map((request) => {
        const msgId = this.deps.ids.next();
        const msg = messageOf(msgId, request);
        const sendAt = request.sendAt && request.sendAt.getTime() > Date.now() ? request.sendAt : null;
        return { row: { msgId, msg, exchange: topology.exchange, routingKey: topology.routingKey, tryCount: 0 }, sendAt };
      });
      const accepted: Accepted[] = rows.map(({ row, sendAt }) => ({ msgId: row.msgId, status: sendAt ? 'scheduled' : 'sending' }));
      const writeAll = async (conn: PoolConnection) => {
        await repo.insertAllOn(conn, rows.filter((r) => !r.sendAt).map((r) => r.row));
        for (const { row, sendAt } of rows) if (sendAt) await held.insertScheduled(conn, row, sendAt);
      };
      try {
        if (idempotency) await idempotency.insert(rows[0]!.row, writeAll, answer(accepted));
        else await inTransaction(repo.pool, writeAll);
      } catch (err) {
        if (isDatabaseUnavailable(err)) throw new AppError('DATABASE_UNAVAILABLE', 'the batch may not have been stored; send it again with the same Idempotency-Key to be sure it is stored once');
        if ((err as { code?: string }).code !== DUPLICATE_KEY || attempt >= TUNING.duplicateKeyTries) throw err;
        continue;
      }
      // one line per mail, as for a single one: every mail's log carries its msgId
      for (const { row, sendAt } of rows) this.deps.logger.info({ msgId: row.msgId, batch: rows.length, ...(sendAt ? { sendAt } : {}) }, sendAt ? 'mail scheduled' : 'mail accepted');
      for (const { row, sendAt } of rows) if (!sendAt) this.publishSoon(row);
      return accepted;
    }
  }

  /** Puts a dead mail back in play; false when the row is not dead (or does not exist). */
  async retry(msgId: string): Promise<boolean> {
    const { repo } = this.deps;
    if (!(await repo.manualRetry(msgId))) return false;
    const row = await repo.findRow(msgId);
    this.deps.logger.info({ msgId }, 'dead mail retried by a person');
    if (row) this.track(this.deps.dispatcher.dispatch(row));
    return true;
  }

  private track(p: Promise<unknown>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  /** Waits for publishes started by requests to settle (each bounded by the confirm timeout). */
  async drain(): Promise<void> {
    await this.inserts.close();
    this.publishPending();
    await Promise.allSettled([...this.inFlight]);
  }
}
