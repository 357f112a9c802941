// The webhook events a person looks at (the dashboard's Webhooks panel) and retries:
//   GET  /webhooks/events?state=pending|failed&limit=   the counts, and the events in that state, most recently changed first
//   POST /webhooks/events/:id/retry                     a failed event pending again with a fresh budget of tries
//   POST /webhooks/events/retry                         every failed event (at most RETRY_ALL_MAX at once) pending again
// Mounted by createDashboardRouter, so behind the API key and the same-origin guard like every other route that
// changes something (src/http/app.ts). The id is the event's webhook-id, as its receiver got it.
import express, { type Request } from 'express';
import { AppError } from '../../errors';
import type { Logger } from '../../logger';
import type { ListedState, WebhookRepo } from '../../store/webhook-repo';

export interface WebhookRoutesDeps {
  repo: Pick<WebhookRepo, 'counts' | 'list' | 'retry' | 'retryAllFailed'>;
  logger: Logger;
}

/** What an event id may look like (src/core/webhook-event.ts makes `<msgId>-<type>-<base64url>`). */
export const EVENT_ID = /^[A-Za-z0-9_.:-]{1,200}$/;
export const WEBHOOK_LIST_MAX = 200;
/** a bulk retry makes at most this many events due at once: a receiver back from an outage is not sent a day's events in one go */
export const RETRY_ALL_MAX = 10_000;
const LISTED: readonly ListedState[] = ['pending', 'failed'];

export function createWebhookRouter(deps: WebhookRoutesDeps): express.Router {
  const router = express.Router();

  router.get('/webhooks/events', async (req, res) => {
    const state = stateOf(req);
    const limit = limitOf(req);
    const [counts, events] = await Promise.all([deps.repo.counts(), deps.repo.list(state, limit)]);
    res.setHeader('Cache-Control', 'no-store');
    res.json({ state, counts, events });
  });

  router.post('/webhooks/events/retry', async (_req, res) => {
    const retried = await deps.repo.retryAllFailed(RETRY_ALL_MAX);
    const left = retried === RETRY_ALL_MAX ? (await deps.repo.counts()).failed : 0;
    deps.logger.info({ retried, left }, 'failed webhook events retried by a person');
    res.json({ retried, left });
  });

  router.post('/webhooks/events/:id/retry', async (req, res) => {
    const id = String(req.params.id);
    const result = EVENT_ID.test(id) ? await deps.repo.retry(id) : 'not-found';
    if (result === 'not-found') throw new AppError('WEBHOOK_EVENT_NOT_FOUND', `no webhook event with id ${id.slice(0, 60)}`);
    if (result === 'not-failed') throw new AppError('WEBHOOK_EVENT_NOT_FAILED', `webhook event ${id} is not failed: it is delivered, or its tries are still going on`);
    deps.logger.info({ eventId: id, msgId: id.split('-')[0] }, 'failed webhook event retried by a person');
    res.json({ id, state: 'pending' });
  });

  return router;
}

function invalid(field: string, message: string): AppError {
  return new AppError('VALIDATION_FAILED', `${field}: ${message}`, { errors: [{ field, message }] });
}

function stateOf(req: Request): ListedState {
  const v = req.query.state;
  if (v === undefined || v === '') return 'failed';
  if (typeof v !== 'string' || !(LISTED as readonly string[]).includes(v)) throw invalid('state', `must be one of ${LISTED.join(', ')}`);
  return v as ListedState;
}

function limitOf(req: Request): number {
  const v = req.query.limit;
  if (v === undefined || v === '') return 50;
  if (typeof v !== 'string' || !/^\d{1,4}$/.test(v) || Number(v) < 1 || Number(v) > WEBHOOK_LIST_MAX) throw invalid('limit', `must be an integer from 1 to ${WEBHOOK_LIST_MAX}`);
  return Number(v);
}
