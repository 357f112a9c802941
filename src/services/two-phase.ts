// Two-phase sending (shine-mq's coordinator): a mail is prepared before the caller's business transaction (stored,
// not sent), committed after it (sent as any mail) or cancelled; one still prepared after PREPARE_TIMEOUT_MS is
// settled by its check-back (src/jobs/check-back-job.ts). Every move is a guarded transition of msg_log, so a
// commit racing a cancel or a check-back moves the row once, and the loser learns what happened.
import { decodeFailure } from '../core/failure';
import type { MsgIdGenerator } from '../core/ids';
import { messageOf } from '../core/mail-message';
import { Status } from '../core/status';
import type { MailRequest } from '../core/validation';
import type { TopologyNames } from '../broker/topology';
import { AppError, isDatabaseUnavailable } from '../errors';
import type { Logger } from '../logger';
import type { SuppressionCheck } from '../core/suppression';
import type { HeldRepo } from '../store/held-repo';
import type { MailWrite } from '../store/idempotency-repo';
import { TUNING } from '../tuning';
import { refuseIfAllSuppressed, type MailDispatch } from './mail-service';

export interface Prepared {
  msgId: string;
  status: 'prepared';
}

const DUPLICATE_KEY = 'ER_DUP_ENTRY';

/** A row dead because its check-back never decided was never committed: neither a commit nor a cancel applies now. */
const neverCommitted = (row: { status: number; lastError: string | null }) =>
  row.status === Status.dead && (decodeFailure(row.lastError)?.kind ?? '').startsWith('check-back');

export class TwoPhase {
  constructor(
    private readonly deps: {
      held: HeldRepo;
      dispatcher: MailDispatch;
      ids: MsgIdGenerator;
      topology: TopologyNames;
      prepareTimeoutMs: number;
      logger: Logger;
      suppressions?: SuppressionCheck;
    },
  ) {}

  /** Stores the mail as prepared; with an Idempotency-Key, in one transaction with the key's row. */
  async prepare(request: MailRequest, opts: { checkBackUrl: string | null; keyId: string | null }, idempotency?: { insert(row: { msgId: string; msg: string; exchange: string; routingKey: string }, write: MailWrite): Promise<void> }): Promise<Prepared> {
    const { topology, held, prepareTimeoutMs } = this.deps;
    refuseIfAllSuppressed(request, this.deps.suppressions);
    for (let attempt = 1; ; attempt++) {
      const msgId = this.deps.ids.next();
      const row = { msgId, msg: messageOf(msgId, request), exchange: topology.exchange, routingKey: topology.routingKey, ...opts };
      try {
        if (idempotency) await idempotency.insert(row, (conn) => held.insertOn(conn, row, prepareTimeoutMs));
        else await held.insert(row, prepareTimeoutMs);
        this.deps.logger.info({ msgId, tos: request.tos.length, checkBack: opts.checkBackUrl !== null }, 'mail prepared');
        return { msgId, status: 'prepared' };
      } catch (err) {
        if (isDatabaseUnavailable(err)) throw new AppError('DATABASE_UNAVAILABLE', 'nothing was stored');
        if ((err as { code?: string }).code !== DUPLICATE_KEY || attempt >= TUNING.duplicateKeyTries) throw err;
      }
    }
  }

  /** prepared → sending, then published. Idempotent: a mail already committed answers the same. */
  async commit(msgId: string): Promise<void> {
    const { held } = this.deps;
    if (await held.commit(msgId)) {
      const row = await held.state(msgId);
      this.deps.logger.info({ msgId }, 'prepared mail committed');
      // If this process dies before the publish, the job publishes the row once its publish grace has passed.
      if (row) await this.deps.dispatcher.dispatch({ ...row, tryCount: 0 });
      return;
    }
    const row = await this.existing(msgId);
    if (row.status === Status.cancelled) throw new AppError('MAIL_CANCELLED', `mail ${msgId} was cancelled; it will never be sent`);
    if (neverCommitted(row)) throw new AppError('MAIL_NOT_PREPARED', `mail ${msgId} is dead: its check-back never decided. POST /mail/${msgId}/retry sends it`);
    // committed before (by the caller or its check-back): the same answer again
  }

  /** prepared or scheduled → cancelled. Idempotent: a mail already cancelled answers the same. */
  async cancel(msgId: string): Promise<void> {
    if (await this.deps.held.cancel(msgId)) {
      this.deps.logger.info({ msgId }, 'prepared mail cancelled');
      return;
    }
    const row = await this.existing(msgId);
    if (row.status === Status.cancelled) return;
    if (neverCommitted(row)) throw new AppError('MAIL_NOT_PREPARED', `mail ${msgId} is dead: its check-back never decided; there is nothing to cancel`);
    throw new AppError('MAIL_COMMITTED', `mail ${msgId} is already being sent (committed, due, or sent without prepare or sendAt); it can no longer be cancelled`);
  }

  private async existing(msgId: string) {
    const row = await this.deps.held.state(msgId);
    if (!row) throw new AppError('MAIL_NOT_FOUND', `no mail with msgId ${msgId}`);
    return row;
  }
}
