// Two-phase sending over HTTP: POST /mail/prepare, POST /mail/:msgId/commit, POST /mail/:msgId/cancel (which also
// cancels a scheduled mail before its sendAt), and GET /check-back/secret (the caller's signing secret for the
// check-backs it receives). src/services/two-phase.ts.
import { Router, type Request } from 'express';
import { checkBackUrlProblem } from '../core/check-back';
import { formatSecret } from '../core/signature';
import { validateMailRequest } from '../core/validation';
import { AppError } from '../errors';
import type { TwoPhase } from '../services/two-phase';
import type { HttpSecurity } from './security';

export interface TwoPhaseDeps {
  twoPhase: TwoPhase;
  security: HttpSecurity;
  maxRecipients: number;
  allowedHosts: readonly string[];
  secretOf: (keyId: string | null) => Buffer | null;
}

const MSG_ID = /^\d{1,20}$/;

function msgIdOf(req: Request): string {
  const msgId = String(req.params.msgId);
  if (!MSG_ID.test(msgId)) throw new AppError('MAIL_NOT_FOUND', `no mail with msgId ${msgId.slice(0, 40)}`);
  return msgId;
}

function invalid(field: string, message: string): AppError {
  return new AppError('VALIDATION_FAILED', `${field}: ${message}`, { errors: [{ field, message }] });
}

/** The body of /mail/send plus an optional checkBackUrl on an allowed host. */
function preparedRequestOf(body: unknown, deps: TwoPhaseDeps) {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('(body)', 'the body must be a JSON object');
  const { checkBackUrl, ...mail } = body as Record<string, unknown>;
  if (checkBackUrl !== undefined && typeof checkBackUrl !== 'string') throw invalid('checkBackUrl', 'must be a URL string');
  const problem = checkBackUrl === undefined ? null : checkBackUrlProblem(checkBackUrl, deps.allowedHosts);
  if (problem) throw invalid('checkBackUrl', problem);
  const result = validateMailRequest(mail, deps.maxRecipients);
  if (!result.ok) throw new AppError('VALIDATION_FAILED', result.errors.map((e) => `${e.field}: ${e.message}`).join('; '), { errors: result.errors });
  if (result.value.sendAt) throw invalid('sendAt', 'a prepared mail goes out when it is committed; to send at a time, use POST /mail/send with sendAt');
  return { mail: result.value, checkBackUrl: checkBackUrl ?? null };
}

export function createTwoPhaseRouter(deps: TwoPhaseDeps): Router {
  const router = Router();

  router.post('/mail/prepare', async (req, res) => {
    const { mail, checkBackUrl } = preparedRequestOf(req.body, deps);
    const keyId = req.caller?.keyId ?? null;
    const prepared = await deps.security.accept(
      req,
      res,
      mail.tos,
      (idempotency) => deps.twoPhase.prepare(mail, { checkBackUrl, keyId }, idempotency),
      { route: 'prepare', replayed: (msgId) => ({ msgId, status: 'prepared' as const }) },
    );
    res.status(201).location(`/mail/${prepared.msgId}`).json(prepared);
  });

  router.post('/mail/:msgId/commit', async (req, res) => {
    const msgId = msgIdOf(req);
    await deps.twoPhase.commit(msgId);
    res.status(202).location(`/mail/${msgId}`).json({ msgId, status: 'committed' });
  });

  router.post('/mail/:msgId/cancel', async (req, res) => {
    const msgId = msgIdOf(req);
    await deps.twoPhase.cancel(msgId);
    res.status(200).location(`/mail/${msgId}`).json({ msgId, status: 'cancelled' });
  });

  router.get('/check-back/secret', (req, res) => {
    const secret = deps.secretOf(req.caller?.keyId ?? null);
    if (!secret) throw new AppError('UNAUTHORIZED');
    res.set('cache-control', 'no-store').json({ secret: formatSecret(secret), scheme: 'Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature: v1,<base64 HMAC-SHA256>)' });
  });

  return router;
}
