// The check-back (shine-mq's coordinator, RocketMQ's checkLocalTransaction): prepared mails past PREPARE_TIMEOUT_MS
// are taken (held for the question's timeout so no other instance asks too), their check-back URL is asked with a
// signed POST, and the answer applied as a guarded transition: commit → published like any mail, cancel → cancelled,
// anything else → asked again after the backoff, dead after MAX_TRIES. No check-back URL: cancelled at once.
import { EventEmitter } from 'node:events';
import cron, { type ScheduledTask } from 'node-cron';
import { backoffDelay } from '../core/backoff';
import { checkBackBody, checkBackUrlProblem, decisionOf, MAX_ANSWER_BYTES, undecidedFailure, type Decision } from '../core/check-back';
import { decodeMailMessage } from '../core/mail-message';
import type { RetryPolicy } from '../core/retry';
import { sign } from '../core/signature';
import type { Logger } from '../logger';
import type { DispatchItem } from '../services/dispatcher';
import type { ExpiredRow, HeldRepo } from '../store/held-repo';
import { TUNING } from '../tuning';

export type CheckBackOutcome = 'committed' | 'cancelled' | 'undecided' | 'dead' | 'expired';

export interface CheckBackEvents {
  /** one prepared mail's check-back, and what came of it */
  asked: [r: { msgId: string; outcome: CheckBackOutcome }];
}

export interface CheckBackDeps {
  held: HeldRepo;
  dispatch: (item: DispatchItem) => Promise<unknown>;
  /** the signing secret of the API key with this id (null: the key is no longer configured) */
  secretOf: (keyId: string | null) => Buffer | null;
  allowedHosts: readonly string[];
  timeoutMs: number;
  retry: RetryPolicy;
  cron: string;
  logger: Logger;
  fetch?: typeof fetch;
}

export class CheckBackJob extends EventEmitter<CheckBackEvents> {
  private task: ScheduledTask | null = null;
  private current: Promise<number> | null = null;
  private stopping = false;

  constructor(private readonly deps: CheckBackDeps) {
    super();
  }

  start(): void {
    this.task = cron.schedule(this.deps.cron, () => void this.runOnce().catch((err) => this.deps.logger.warn({ err: (err as Error).message }, 'check-back round failed; the next round will try again')), { noOverlap: true, name: 'check-back' });
  }

  /** One round: the expired prepared mails of one batch, a few questions at a time; resolves with how many were taken. */
  runOnce(): Promise<number> {
    this.current ??= this.round().finally(() => (this.current = null));
    return this.current;
  }

  /** Batches until fewer than a full one were due or the round's budget is spent, so it ends before the next tick. */
  private async round(): Promise<number> {
    const started = Date.now();
    let taken = 0;
    for (;;) {
      const n = await this.batch();
      taken += n;
      if (n < TUNING.checkBackBatch || this.stopping || Date.now() - started > TUNING.jobRoundBudgetMs) return taken;
    }
  }

  private async batch(): Promise<number> {
    // held a little longer than the batch's questions may take, so every answer is applied before anyone asks again
    const waves = Math.ceil(TUNING.checkBackBatch / TUNING.checkBackConcurrency);
    const rows = await this.deps.held.takeExpired(TUNING.checkBackBatch, waves * this.deps.timeoutMs + TUNING.checkBackHoldExtraMs);
    const queue = rows.slice();
    const worker = async () => {
      for (let row = queue.shift(); row; row = queue.shift()) {
        await this.settle(row).catch((err) => this.deps.logger.warn({ msgId: row!.msgId, err: (err as Error).message }, 'check-back not recorded; asked again later'));
      }
    };
    await Promise.all(Array.from({ length: TUNING.checkBackConcurrency }, worker));
    return rows.length;
  }

  private async settle(row: ExpiredRow): Promise<void> {
    const { held, logger } = this.deps;
    if (!row.checkBackUrl) {
      if (await held.cancel(row.msgId, { kind: 'prepare-expired' })) this.report(row.msgId, 'expired');
      return;
    }
    const answer = await this.ask(row);
    const decision = 'status' in answer ? decisionOf(answer.status, answer.body) : null;
    if (decision) return this.apply(row, decision);
    const tries = row.tryCount + 1;
    const delayMs = tries >= this.deps.retry.maxTries ? null : backoffDelay(tries, this.deps.retry.backoff);
    const failure = undecidedFailure(answer);
    if (!(await held.recordUndecided(row.msgId, row.tryCount, delayMs, failure))) return;
    logger[delayMs === null ? 'warn' : 'info']({ msgId: row.msgId, tries, failure }, delayMs === null ? 'mail dead: its check-back never decided' : 'check-back undecided; asking again later');
    this.report(row.msgId, delayMs === null ? 'dead' : 'undecided');
  }

  private async apply(row: ExpiredRow, decision: Decision): Promise<void> {
    if (decision === 'cancel') {
      if (await this.deps.held.cancel(row.msgId, { kind: 'check-back-cancelled' })) this.report(row.msgId, 'cancelled');
      return;
    }
    if (!(await this.deps.held.commit(row.msgId))) return; // the caller committed or cancelled meanwhile
    this.report(row.msgId, 'committed');
    await this.deps.dispatch({ msgId: row.msgId, msg: row.msg, exchange: row.exchange, routingKey: row.routingKey, tryCount: 0 });
  }

  private report(msgId: string, outcome: CheckBackOutcome): void {
    this.deps.logger.info({ msgId, outcome }, 'prepared mail settled by the check-back');
    this.emit('asked', { msgId, outcome });
  }

  /** The signed question; redirects are not followed, the answer is cut at MAX_ANSWER_BYTES. */
  private async ask(row: ExpiredRow): Promise<{ status: number; body: string } | { error: string }> {
    // The allowed hosts are checked again: the setting may have changed since the mail was prepared.
    const problem = checkBackUrlProblem(row.checkBackUrl!, this.deps.allowedHosts);
    if (problem) return { error: problem };
    const secret = this.deps.secretOf(row.keyId);
    if (!secret) return { error: 'the API key that prepared it is no longer configured, so the question cannot be signed' };
    const mail = decodeMailMessage(row.msg);
    const body = checkBackBody({ msgId: row.msgId, subject: mail.subject, tos: mail.tos, preparedAt: row.createTime, attempt: row.tryCount + 1 });
    const headers = { 'content-type': 'application/json', 'user-agent': 'mail-dispatch check-back', ...sign(secret, `${row.msgId}-${row.tryCount + 1}`, Math.floor(Date.now() / 1000), body) };
    try {
      const res = await (this.deps.fetch ?? fetch)(row.checkBackUrl!, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(this.deps.timeoutMs) });
      return { status: res.status, body: await readCapped(res) };
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      return { error: e.name === 'TimeoutError' ? `no answer within ${this.deps.timeoutMs} ms` : (e.cause?.code ?? e.message) };
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.task) await this.task.destroy();
    this.task = null;
    if (this.current) await this.current.catch(() => undefined);
  }
}

async function readCapped(res: Response): Promise<string> {
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= MAX_ANSWER_BYTES) break;
  }
  return Buffer.concat(chunks).subarray(0, MAX_ANSWER_BYTES).toString('utf8');
}
