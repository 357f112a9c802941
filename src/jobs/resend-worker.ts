// The producer's side of the delayed-check scheme (RELIABILITY_SCHEME=delayed-check), run by the job role: it takes
// the callback service's resend requests (a check found no confirmation) and decides with the row and what it knows of
// the world (src/core/delayed-check.ts, planResend): nothing (the mail moved on), a check again later (the queue is
// still draining), nothing for now (the relay is down: the job's deadline looks later), a counted resend, or dead.
// At start it also sends a check for every row that awaits one: a process killed between a commit and its publishes
// leaves rows nobody else would check before the job's deadline.
import { EventEmitter } from 'node:events';
import type { ConsumeMessage } from 'amqplib';
import type { Settlement } from '../broker/queue-worker';
import { decodeCheck, planResend, type CheckMessage, type ResendContext, type ResendPlan } from '../core/delayed-check';
import type { Failure } from '../core/failure';
import { Status } from '../core/status';
import type { Logger } from '../logger';
import type { PublishOutcome } from '../broker/publisher';
import type { DispatchItem } from '../services/dispatcher';
import type { MsgLogRepo } from '../store/msg-log-repo';
import type { ResendRepo } from '../store/resend-repo';
import { TUNING } from '../tuning';

/** the database or the broker did not answer: the message goes back after a pause */
const RETRY_LATER: Settlement = { requeueAfterMs: TUNING.callback.retryLaterMs };

export interface ResendEvents {
  /** a resend request answered, by what was done */
  handled: [action: ResendPlan['action']];
}

export class ResendWorker extends EventEmitter<ResendEvents> {
  private context: { at: number; value: Promise<ResendContext> } | null = null;
  private stopped = false;

  constructor(
    private readonly deps: {
      resends: ResendRepo;
      repo: MsgLogRepo;
      dispatch: (item: DispatchItem) => Promise<unknown>;
      recheck: (m: CheckMessage) => Promise<PublishOutcome>;
      world: () => Promise<ResendContext>;
      maxTries: number;
      logger: Logger;
    },
  ) {
    super();
  }

  async onRequest(msg: ConsumeMessage): Promise<Settlement> {
    const req = decodeCheck(msg.content);
    if (!req) {
      this.deps.logger.warn({ messageId: msg.properties.messageId }, 'not a resend request; dropped');
      return 'ack';
    }
    const row = await this.deps.resends.find(req.msgId);
    const plan = planResend(row, req, this.deps.maxTries, await this.world());
    const failure: Failure = { kind: 'unconfirmed', detail: `try ${req.tryCount}` };
    switch (plan.action) {
      case 'recheck':
        if (!(await this.deps.recheck(req)).ok) return RETRY_LATER;
        break;
      case 'resend':
        // counted first, guarded by the try count: of two requests for one publish, one resends
        if (await this.deps.resends.markResent(req.msgId, req.tryCount, plan.tryCount, failure)) {
          this.deps.logger.warn({ msgId: req.msgId, tryCount: plan.tryCount }, 'no confirmation came for the mail; sent again');
          await this.deps.dispatch({ ...row!.item, tryCount: plan.tryCount });
        }
        break;
      case 'dead':
        if (await this.deps.repo.recordPublishFailure(req.msgId, req.tryCount, { status: Status.dead, tryCount: plan.tryCount, delayMs: null }, failure)) {
          this.deps.logger.warn({ msgId: req.msgId, tryCount: plan.tryCount, failure }, 'mail dead');
        }
        break;
    }
    this.emit('handled', plan.action);
    return 'ack';
  }

  /** The relay and the queue as the job sees them, asked at most once a second across a burst of requests. */
  private world(): Promise<ResendContext> {
    const now = Date.now();
    if (!this.context || now - this.context.at > TUNING.callback.contextTtlMs) this.context = { at: now, value: this.deps.world() };
    return this.context.value;
  }

  /**
   * Sends a check for every row that awaits one (see the top of this file), page by page, in the background. A page
   * the broker did not take (not connected yet, blocked) is sent again after a pause, until the worker stops.
   */
  async sweep(): Promise<number> {
    let after = '';
    let sent = 0;
    while (!this.stopped) {
      const page = await this.deps.resends.awaitingCheck(after, TUNING.callback.sweepPage);
      const outcomes = await Promise.all(page.map((m) => this.deps.recheck(m)));
      if (outcomes.some((o) => !o.ok)) {
        await new Promise((r) => setTimeout(r, TUNING.callback.retryLaterMs));
        continue;
      }
      sent += page.length;
      if (page.length < TUNING.callback.sweepPage) break;
      after = page[page.length - 1]!.msgId;
    }
    return sent;
  }

  stop(): void {
    this.stopped = true;
  }
}
