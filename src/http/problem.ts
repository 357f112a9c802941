// The one place where errors become HTTP answers: RFC 9457 application/problem+json.
import type { ServerResponse } from 'node:http';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError, isDatabaseUnavailable, problemOf } from '../errors';
import type { Logger } from '../logger';
import type { RequestView } from './request-view';

/** Answers with the problem. Plain node:http calls, so Express routes and the hot path answer alike. */
export function sendProblem(res: ServerResponse, err: AppError, instance?: string): void {
  if (err.extra.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(err.extra.retryAfterSeconds));
  sendJson(res, err.status, JSON.stringify(problemOf(err, instance)), 'application/problem+json; charset=utf-8');
}

/** A JSON answer in one write (headers and body together). */
export function sendJson(res: ServerResponse, status: number, body: string, type = 'application/json; charset=utf-8'): void {
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}

/** Maps body-parser's errors, database outages and anything unexpected onto the catalogue. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const e = err as { type?: string; status?: number } | null;
  if (e?.type === 'entity.parse.failed') return new AppError('MALFORMED_JSON', 'the body could not be parsed as JSON');
  if (e?.type === 'entity.too.large') return new AppError('PAYLOAD_TOO_LARGE');
  if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported') return new AppError('UNSUPPORTED_MEDIA_TYPE', 'the body must be UTF-8 JSON');
  if (isDatabaseUnavailable(err) || isDatabaseUnavailable((err as { cause?: unknown })?.cause)) return new AppError('DATABASE_UNAVAILABLE');
  // Anything else Express or body-parser flags as the client's fault (a bad %-escape in the path, a body shorter
  // than its Content-Length, a broken gzip body, an aborted upload) is a 400, never a 5xx.
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) return new AppError('BAD_REQUEST', 'the request could not be read');
  return new AppError('INTERNAL');
}

/** Turns anything a route threw into its problem answer, logging what an operator must hear about. */
export function answerError(logger: Logger, err: unknown, req: Pick<RequestView, 'path' | 'originalUrl'>, res: ServerResponse): void {
  if (res.headersSent) {
    // a stream that failed half-way: nothing can be said any more, only the connection closed
    logger.warn({ err: (err as Error)?.message, path: req.path }, 'route failed after answering');
    res.destroy();
    return;
  }
  const appError = toAppError(err);
  if (appError.code === 'INTERNAL') logger.error({ err, path: req.path }, 'unexpected error');
  else if (appError.code === 'DATABASE_UNAVAILABLE') logger.warn({ err: (err as Error).message, path: req.path }, 'database unavailable');
  sendProblem(res, appError, instanceOf(req.originalUrl));
}

export function problemHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => answerError(logger, err, req, res);
}

export const notFound: RequestHandler = (req, res) => sendProblem(res, new AppError('ROUTE_NOT_FOUND', `${req.method} ${req.path.slice(0, 200)} is not a route of this API`), instanceOf(req.originalUrl));

/** The problem's `instance`: the path only. The query string is never echoed (it may carry a misplaced API key). */
export function instanceOf(originalUrl: string): string {
  return originalUrl.split('?')[0]!.slice(0, 200);
}
