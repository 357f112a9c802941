// POST /mail/batch: up to 500 mails in one request, stored in ONE transaction (all of them or none), answered `202`
// with one result per mail in the order given: its msgId and status, or the validation problem of that mail (a mail
// that is not valid is left out; the others go). The whole batch is one request for an Idempotency-Key: sent again,
// it gets the same answer and nothing is stored twice.
import express, { Router } from 'express';
import { validateMailRequest, type FieldError, type MailRequest } from '../core/validation';
import { AppError, problemOf, type Problem } from '../errors';
import type { Accepted, MailService } from '../services/mail-service';
import type { HttpSecurity } from './security';

export const BATCH_MAX = 500;
/** 500 mails do not fit in one mail's 256 kB; 5 MB bounds what one request can make the process hold */
const BATCH_JSON_LIMIT = '5mb';

export type BatchResult = Accepted | { error: Problem };

export interface BatchAnswer {
  accepted: number;
  rejected: number;
  results: BatchResult[];
}

export interface BatchDeps {
  mail: MailService;
  security: HttpSecurity;
  maxRecipients: number;
}

function mailsOf(body: unknown): unknown[] {
  const invalid = (message: string) => new AppError('VALIDATION_FAILED', `mails: ${message}`, { errors: [{ field: 'mails', message }] });
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('the body must be a JSON object {"mails": [...]}');
  const extra = Object.keys(body).filter((k) => k !== 'mails');
  if (extra.length) throw new AppError('VALIDATION_FAILED', `unknown field(s): ${extra.join(', ')}`, { errors: [{ field: extra.join(','), message: `unknown field(s): ${extra.join(', ')}` }] });
  const { mails } = body as { mails?: unknown };
  if (!Array.isArray(mails) || mails.length === 0) throw invalid('must be a non-empty array of mails');
  if (mails.length > BATCH_MAX) throw invalid(`at most ${BATCH_MAX} mails per batch, got ${mails.length}`);
  return mails;
}

export function createBatchRouter(deps: BatchDeps): Router {
  const router = Router();
  // its own body limit, ahead of the API's 256 kB parser (which leaves a body already parsed alone)
  router.post('/mail/batch', express.json({ limit: BATCH_JSON_LIMIT, strict: true }), deps.security.jsonGuard, async (req, res) => {
    const mails = mailsOf(req.body);
    const results: BatchResult[] = new Array(mails.length);
    const valid: { index: number; request: MailRequest }[] = [];
    const problems: FieldError[] = [];
    mails.forEach((m, index) => {
      const r = validateMailRequest(m, deps.maxRecipients);
      const suppressed = r.ok ? deps.mail.suppressedProblem(r.value) : null;
      if (suppressed) {
        results[index] = { error: problemOf(suppressed) };
        return problems.push(...(suppressed.extra.errors ?? []).map((e) => ({ field: `mails[${index}].${e.field}`, message: e.message })));
      }
      if (r.ok) return valid.push({ index, request: r.value });
      results[index] = { error: problemOf(new AppError('VALIDATION_FAILED', r.errors.map((e) => `${e.field}: ${e.message}`).join('; '), { errors: r.errors })) };
      problems.push(...r.errors.map((e) => ({ field: `mails[${index}].${e.field}`, message: e.message })));
    });
    if (valid.length === 0) throw new AppError('VALIDATION_FAILED', 'no mail of the batch is valid', { errors: problems });
    const answerOf = (accepted: Accepted[]): BatchAnswer => {
      valid.forEach((v, i) => (results[v.index] = accepted[i]!));
      return { accepted: valid.length, rejected: mails.length - valid.length, results };
    };
    const answer = await deps.security.accept(
      req,
      res,
      valid.flatMap((v) => v.request.tos),
      async (idempotency) => answerOf(await deps.mail.sendBatch(valid.map((v) => v.request), (accepted) => JSON.stringify(answerOf(accepted)), idempotency)),
      { route: 'batch', replayed: (_msgId, stored) => JSON.parse(stored ?? '{}') as BatchAnswer },
    );
    res.status(202).json(answer);
  });
  return router;
}
