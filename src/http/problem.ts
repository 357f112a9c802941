// The one place where errors become HTTP answers: RFC 9457 application/problem+json.
import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import { AppError, isDatabaseUnavailable, problemOf } from '../errors';
import type { Logger } from '../logger';

export function sendProblem(res: Response, err: AppError, instance?: string): void {
  if (err.extra.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(err.extra.retryAfterSeconds));
  res.status(err.status).type('application/problem+json').send(JSON.stringify(problemOf(err, instance)));
}

/** Maps body-parser's errors, database outages and anything unexpected onto the catalogue. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const e = err as { type?: string; status?: number } | null;
  if (e?.type === 'entity.parse.failed') return new AppError('MALFORMED_JSON', 'the body could not be parsed as JSON');
  if (e?.type === 'entity.too.large') return new AppError('PAYLOAD_TOO_LARGE');
  if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported') return new AppError('UNSUPPORTED_MEDIA_TYPE', 'the body must be UTF-8 JSON');
  if (isDatabaseUnavailable(err) || isDatabaseUnavailable((err as { cause?: unknown })?.cause)) return new AppError('DATABASE_UNAVAILABLE');
  return new AppError('INTERNAL');
}

export function problemHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const appError = toAppError(err);
    if (appError.code === 'INTERNAL') logger.error({ err, path: req.path }, 'unexpected error');
    else if (appError.code === 'DATABASE_UNAVAILABLE') logger.warn({ err: (err as Error).message, path: req.path }, 'database unavailable');
    sendProblem(res, appError, req.originalUrl);
  };
}

export const notFound: RequestHandler = (req, res) => sendProblem(res, new AppError('ROUTE_NOT_FOUND', `${req.method} ${req.path} is not a route of this API`), req.originalUrl);
