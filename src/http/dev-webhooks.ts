// DEV_FAULTS=true only: a webhook receiver inside the app, so a person trying webhooks locally (and the scenarios)
// need no receiver of their own: start with WEBHOOK_URL=http://127.0.0.1:8080/dev/webhooks and a WEBHOOK_SECRET.
//   POST /dev/webhooks            verifies the Standard Webhooks signature with WEBHOOK_SECRET (src/core/signature.ts):
//                                 204 and the event remembered; 401 when the signature is missing or not valid
//   GET  /dev/webhooks?msgId=...  what it received (eventId, type, recipient, verified), oldest first
// Mounted by createHttpApp (src/http/app.ts) only when deps.devFaults, BEFORE the API-key check: the job's POST
// carries a signature, not an API key. GET /dev/webhooks does need the key. Production refuses DEV_FAULTS
// (src/config.ts), so this router never exists there.
import express, { Router } from 'express';
import { parseSecret, verify } from '../core/signature';
import type { Logger } from '../logger';
import type { HttpSecurity } from './security';

export interface DevWebhookReceipt {
  /** the webhook-id header */
  eventId: string | null;
  msgId: string | null;
  type: string | null;
  recipient: string | null;
  /** the signature verified with WEBHOOK_SECRET */
  verified: boolean;
  receivedAt: string;
  status: number;
}

export interface DevWebhookDeps {
  security: HttpSecurity;
  logger: Logger;
  /** WEBHOOK_SECRET (whsec_...); without it nothing verifies and every POST is answered 401 */
  secret?: string;
}

/** Receipts remembered, newest last; the oldest go first. */
const KEPT = 500;

export function createDevWebhookRouter(deps: DevWebhookDeps): Router {
  const router = Router();
  const receipts: DevWebhookReceipt[] = [];
  const secret = deps.secret ? parseSecret(deps.secret) : null;
  // the raw body, as signed: a parsed and re-serialised body would not verify
  const raw = express.text({ type: () => true, limit: '256kb' });

  router.post('/dev/webhooks', raw, (req, res) => {
    const body = typeof req.body === 'string' ? req.body : '';
    const headers = { 'webhook-id': req.get('webhook-id'), 'webhook-timestamp': req.get('webhook-timestamp'), 'webhook-signature': req.get('webhook-signature') };
    const verified = secret !== null && verify(secret, headers, body);
    const event = eventOf(body);
    const status = verified ? 204 : 401;
    receipts.push({ eventId: headers['webhook-id'] ?? null, ...event, verified, receivedAt: new Date().toISOString(), status });
    if (receipts.length > KEPT) receipts.splice(0, receipts.length - KEPT);
    deps.logger.info({ msgId: event.msgId, eventId: headers['webhook-id'], type: event.type, verified }, 'DEV_FAULTS: dev webhook receiver got an event');
    res.set('cache-control', 'no-store');
    if (verified) res.status(204).end();
    else res.status(401).json({ error: secret ? 'the signature is missing or not valid' : 'WEBHOOK_SECRET is not set, so nothing can be verified' });
  });

  // what the scenarios ask: behind the API key like every other read
  router.get('/dev/webhooks', deps.security.authenticate, (req, res) => {
    const msgId = typeof req.query.msgId === 'string' ? req.query.msgId : undefined;
    res.set('cache-control', 'no-store').json({ events: msgId === undefined ? receipts : receipts.filter((r) => r.msgId === msgId) });
  });

  return router;
}

function eventOf(body: string): { msgId: string | null; type: string | null; recipient: string | null } {
  const str = (v: unknown) => (typeof v === 'string' ? v : null);
  try {
    const e = JSON.parse(body) as Record<string, unknown> | null;
    return { msgId: str(e?.msgId), type: str(e?.type), recipient: str(e?.recipient) };
  } catch {
    return { msgId: null, type: null, recipient: null };
  }
}
