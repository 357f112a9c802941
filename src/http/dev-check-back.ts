// DEV_FAULTS=true only: a stand-in for a business system's check-back endpoint, so the documented two-phase scenarios
// (postman/, scenario 4) can let the job settle a prepared mail without a system of their own. Prepare a mail with
// `checkBackUrl: <this app>/dev/check-back/<decision>` and the job's question gets the answer a business system would
// give:
//   POST /dev/check-back/commit    200 {"decision":"commit"}   the transaction committed: the mail is sent
//   POST /dev/check-back/cancel    200 {"decision":"cancel"}   it rolled back: the mail is cancelled
//   POST /dev/check-back/unknown   200 {"decision":"unknown"}  undecided (asked again with backoff, dead after MAX_TRIES)
//   POST /dev/check-back/none      200 {}                      undecided
//   POST /dev/check-back/garbage   200 text/plain              undecided: not JSON
//   POST /dev/check-back/error     500                         undecided: the business system failed
// Like a real receiver it checks the Standard Webhooks signature (src/core/signature.ts) against the secret of every
// configured API key ("anonymous" without keys) and answers 401 to a question it cannot verify. It remembers the last
// questions it got; GET /dev/check-back lists them (?msgId=...), with the hosts check-backs may go to.
//
// Mounted by createHttpApp (src/http/app.ts) only when deps.devFaults, BEFORE the API-key check: the job's question
// carries a signature, not an API key. GET /dev/check-back does need the key. Production refuses DEV_FAULTS
// (src/config.ts), so this router never exists there.
import express, { Router } from 'express';
import { secretOfKey, secretOfKeyHash, verify } from '../core/signature';
import { AppError } from '../errors';
import type { Logger } from '../logger';
import type { HttpSecurity } from './security';

export const DEV_CHECK_BACK_ANSWERS = {
  commit: { status: 200, type: 'application/json', body: '{"decision":"commit"}' },
  cancel: { status: 200, type: 'application/json', body: '{"decision":"cancel"}' },
  unknown: { status: 200, type: 'application/json', body: '{"decision":"unknown"}' },
  none: { status: 200, type: 'application/json', body: '{}' },
  garbage: { status: 200, type: 'text/plain', body: 'OK, will do' },
  error: { status: 500, type: 'application/json', body: '{"error":"the business system failed to look the transaction up"}' },
} as const;

export type DevCheckBackDecision = keyof typeof DEV_CHECK_BACK_ANSWERS;

export interface DevCheckBackQuestion {
  /** the question's msgId, or null when its body was not a check-back question */
  msgId: string | null;
  attempt: number | null;
  /** the route it came to: the answer it got */
  decision: DevCheckBackDecision;
  /** the signature verified with a configured key's secret */
  verified: boolean;
  webhookId: string | null;
  receivedAt: string;
  status: number;
}

export interface DevCheckBackDeps {
  security: HttpSecurity;
  logger: Logger;
  /** CHECKBACK_ALLOWED_HOSTS as the API checks it (empty: check-backs are off) */
  allowedHosts: readonly string[];
}

/** Questions remembered, newest last; the oldest go first. */
const KEPT = 200;

export function createDevCheckBackRouter(deps: DevCheckBackDeps): Router {
  const router = Router();
  const questions: DevCheckBackQuestion[] = [];
  const secrets = deps.security.keys.length ? deps.security.keys.map((k) => secretOfKeyHash(k.hash)) : [secretOfKey('anonymous')];
  const raw = express.text({ type: () => true, limit: '16kb' });

  router.post('/dev/check-back/:decision', raw, (req, res) => {
    const decision = String(req.params.decision);
    if (!Object.hasOwn(DEV_CHECK_BACK_ANSWERS, decision)) {
      throw new AppError('ROUTE_NOT_FOUND', `no dev check-back answer "${decision.slice(0, 40)}": one of ${Object.keys(DEV_CHECK_BACK_ANSWERS).join(', ')}`);
    }
    const body = typeof req.body === 'string' ? req.body : '';
    const headers = { 'webhook-id': req.get('webhook-id'), 'webhook-timestamp': req.get('webhook-timestamp'), 'webhook-signature': req.get('webhook-signature') };
    const verified = secrets.some((secret) => verify(secret, headers, body));
    const question = questionOf(body);
    const answer = verified ? DEV_CHECK_BACK_ANSWERS[decision as DevCheckBackDecision] : { status: 401, type: 'application/json', body: '{"error":"the signature is missing or not valid"}' };
    questions.push({ ...question, decision: decision as DevCheckBackDecision, verified, webhookId: headers['webhook-id'] ?? null, receivedAt: new Date().toISOString(), status: answer.status });
    if (questions.length > KEPT) questions.splice(0, questions.length - KEPT);
    deps.logger.info({ msgId: question.msgId, attempt: question.attempt, decision, verified, status: answer.status }, 'DEV_FAULTS: dev check-back answered');
    res.status(answer.status).type(answer.type).set('cache-control', 'no-store').send(answer.body);
  });

  // what the scenarios ask before they run, and after: behind the API key like every other read
  router.get('/dev/check-back', deps.security.authenticate, (req, res) => {
    const msgId = typeof req.query.msgId === 'string' ? req.query.msgId : undefined;
    res.set('cache-control', 'no-store').json({
      allowedHosts: deps.allowedHosts,
      decisions: Object.keys(DEV_CHECK_BACK_ANSWERS),
      questions: msgId === undefined ? questions : questions.filter((q) => q.msgId === msgId),
    });
  });

  return router;
}

function questionOf(body: string): { msgId: string | null; attempt: number | null } {
  try {
    const q = JSON.parse(body) as { type?: unknown; msgId?: unknown; attempt?: unknown } | null;
    if (q?.type !== 'mail.check_back') return { msgId: null, attempt: null };
    return { msgId: typeof q.msgId === 'string' ? q.msgId : null, attempt: typeof q.attempt === 'number' ? q.attempt : null };
  } catch {
    return { msgId: null, attempt: null };
  }
}
