// Delivers webhook events: every TUNING.webhooks.pollMs it takes the due pending rows of webhook_event (held, and
// committed, so no row lock is held during HTTP and no other instance takes them meanwhile), POSTs each to WEBHOOK_URL
// signed the Standard Webhooks way (webhook-id = the event's id, the same on every try; a fresh timestamp and
// signature each time), a few at a time, and records each answer: any 2xx delivers it; anything else, a timeout or no
// connection is a failed try with its reason as data, tried again with the mail backoff and failed after MAX_TRIES
// (a person retries it from the dashboard). At least once: an event is marked delivered only after its 2xx, so a
// process that dies in between leaves it held, and it is sent again when the hold ends; receivers dedupe by webhook-id.
import { EventEmitter } from 'node:events';
import { sign } from '../core/signature';
import type { RetryPolicy } from '../core/retry';
import { failureOfError, isDelivered, planFailedTry, type DeliveryFailure } from '../core/webhook-delivery';
import type { WebhookEventType } from '../core/webhook-event';
import type { Logger } from '../logger';
import type { DueEvent, WebhookRepo } from '../store/webhook-repo';
import { Poller } from '../poller';
import { TUNING } from '../tuning';

/** delivered: a 2xx; retry: a failed try, tried again later; failed: its tries ran out (a person retries it). */
export type WebhookOutcome = 'delivered' | 'retry' | 'failed';

export interface WebhookAttempt {
  eventId: string;
  msgId: string;
  type: WebhookEventType;
  outcome: WebhookOutcome;
  /** the event's failed tries after this one */
  tries: number;
  failure: DeliveryFailure | null;
  /** the POST's duration */
  ms: number;
}

export interface WebhookJobEvents {
  /** one POST of one event, and what came of it (recorded: the row has moved) */
  attempt: [a: WebhookAttempt];
}

export interface WebhookJobDeps {
  repo: Pick<WebhookRepo, 'takeDue' | 'markDelivered' | 'recordFailure' | 'release'>;
  /** WEBHOOK_URL */
  url: string;
  /** WEBHOOK_SECRET, parsed (parseSecret) */
  secret: Buffer;
  /** WEBHOOK_TIMEOUT_MS */
  timeoutMs: number;
  /** the mail's: MAX_TRIES and the backoff */
  retry: RetryPolicy;
  logger: Logger;
  fetch?: typeof fetch;
}

export class WebhookJob extends EventEmitter<WebhookJobEvents> {
  private readonly poller: Poller<number>;

  constructor(private readonly deps: WebhookJobDeps) {
    super();
    this.poller = new Poller({
      everyMs: TUNING.webhooks.pollMs,
      round: () => this.round(),
      onError: (err) => deps.logger.warn({ err: err.message }, 'webhook round failed; the next round tries again'),
    });
  }

  private get stopping(): boolean {
    return this.poller.stopping;
  }

  start(): void {
    this.poller.start();
  }

  /** Delivers what is due; resolves with how many events were taken. */
  runOnce(): Promise<number> {
    return this.poller.runOnce();
  }

  /** Batches until fewer than a full one were due (a backlog drains without waiting for the next poll). */
  private async round(): Promise<number> {
    let taken = 0;
    for (;;) {
      const n = await this.batch();
      taken += n;
      if (n < TUNING.webhooks.batch || this.stopping) return taken;
    }
  }

  private async batch(): Promise<number> {
    const { batch, concurrency, holdExtraMs } = TUNING.webhooks;
    // held a little longer than the batch's POSTs may take (each worker sends at most this many, one after another)
    const rows = await this.deps.repo.takeDue(batch, Math.ceil(batch / concurrency) * this.deps.timeoutMs + holdExtraMs);
    const queue = rows.slice();
    const delivered: { event: DueEvent; ms: number }[] = [];
    const worker = async () => {
      for (let event = this.stopping ? undefined : queue.shift(); event; event = this.stopping ? undefined : queue.shift()) {
        const e = event;
        const started = Date.now();
        const failure = await this.post(e);
        const ms = Date.now() - started;
        if (!failure) delivered.push({ event: e, ms });
        else await this.recordFailure(e, failure, ms).catch((err) => this.deps.logger.warn({ msgId: e.msgId, eventId: e.eventId, err: (err as Error).message }, 'webhook try not recorded; the event is tried again when its hold ends'));
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, rows.length) }, worker));
    // a stop came first: what was never tried is due again at once (for this instance's successor, or another)
    await this.deps.repo.release(queue.map((e) => e.id)).catch(() => undefined);
    if (delivered.length) {
      // One statement for the batch. Should it fail, the events stay held and are sent again when the hold ends: at least once.
      await this.deps.repo.markDelivered(delivered.map((d) => d.event.id));
      for (const { event, ms } of delivered) this.report(event, 'delivered', event.tries, null, ms);
    }
    return rows.length;
  }

  private async recordFailure(e: DueEvent, failure: DeliveryFailure, ms: number): Promise<void> {
    const { tries, delayMs } = planFailedTry(e.tries, this.deps.retry);
    if (!(await this.deps.repo.recordFailure(e.id, e.tries, delayMs, failure))) return; // moved meanwhile: counted elsewhere
    const outcome: WebhookOutcome = delayMs === null ? 'failed' : 'retry';
    const line = { msgId: e.msgId, eventId: e.eventId, type: e.type, tries, failure, nextTryInMs: delayMs ?? undefined };
    if (outcome === 'failed') this.deps.logger.warn(line, 'webhook event failed: its tries ran out; a person can retry it from the dashboard');
    else this.deps.logger.info(line, 'webhook not delivered; tried again later');
    this.report(e, outcome, tries, failure, ms);
  }

  private report(e: DueEvent, outcome: WebhookOutcome, tries: number, failure: DeliveryFailure | null, ms: number): void {
    this.emit('attempt', { eventId: e.eventId, msgId: e.msgId, type: e.type, outcome, tries, failure, ms });
  }

  /** One signed POST; null when a 2xx came, else why not. No redirect is followed, the answer's body is not read. */
  private async post(e: DueEvent): Promise<DeliveryFailure | null> {
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'mail-dispatch webhooks',
      ...sign(this.deps.secret, e.eventId, Math.floor(Date.now() / 1000), e.payload),
    };
    try {
      const res = await (this.deps.fetch ?? fetch)(this.deps.url, { method: 'POST', headers, body: e.payload, redirect: 'manual', signal: AbortSignal.timeout(this.deps.timeoutMs) });
      await res.body?.cancel().catch(() => undefined);
      return isDelivered(res.status) ? null : { kind: 'http-status', status: res.status };
    } catch (err) {
      return failureOfError(err, this.deps.timeoutMs);
    }
  }

  /** Takes no new event; the POSTs in flight are answered (or time out) and recorded. */
  stop(): Promise<void> {
    return this.poller.stop();
  }
}
