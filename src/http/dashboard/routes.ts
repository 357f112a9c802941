// The dashboard and operations routes, in two routers so an API-key middleware can sit between them:
// - createPublicRouter: the static shell of the dashboard and of the API docs, /openapi.json, and / (a redirect
//   to /dashboard). These hold no data (a browser cannot send a key header when it navigates), so they stay open.
// - createDashboardRouter: every data route of the dashboard (/api/...) and /metrics. Put the key check in
//   front of it (src/http/app.ts mounts it after the /mail routes).
// Every route is declared with its full path on a router mounted at the root, so the OpenAPI test can list
// them from app.router.stack.
import type { ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { devFaultsOf } from '../../core/mail-message';
import { safeTimeZone } from '../../core/explain';
import { isStatusName, Status } from '../../core/status';
import { AppError } from '../../errors';
import type { Logger } from '../../logger';
import type { Metrics } from '../../observability/metrics';
import type { StatsReader } from '../../observability/stats';
import type { QueueProbe } from '../../observability/queue-probe';
import type { MailService } from '../../services/mail-service';
import type { Pool } from '../../store/db';
import { WebhookRepo } from '../../store/webhook-repo';
import { openApiDocument } from '../openapi';
import { loadAssets } from './assets';
import { bulkRetry } from './bulk-retry';
import { LiveHub } from './live';
import { DashboardQueries, MSG_ID, type MailFilter } from './queries';
import { RateLimit } from './rate-limit';
import { bulkRetryBodyOf, invalid, searchOf } from './requests';
import { createWebhookRouter } from './webhooks';

export interface DashboardDeps {
  pool: Pool;
  mail: MailService;
  metrics: Metrics;
  stats: StatsReader;
  queues?: QueueProbe;
  live: LiveHub;
  maxTries: number;
  devFaults: boolean;
  logger: Logger;
  /** webhook events (GET /webhooks/events, POST /webhooks/events/:id/retry); made on the pool when not given */
  webhooks?: WebhookRepo;
  /** WEBHOOK_URL is set: the dashboard shows its Webhooks panel */
  webhooksEnabled?: boolean;
  /** RELIABILITY_SCHEME, shown in the dashboard's header */
  scheme?: 'msg-log' | 'delayed-check';
  /** bulk retries: at most `perMinute` real runs per minute per process, each of at most `maxPerRequest` mails */
  bulkRetry?: { perMinute?: number; maxPerRequest?: number; dryRunsPerMinute?: number };
}

const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

export function createPublicRouter(): express.Router {
  const router = express.Router();
  const assets = loadAssets();
  const document = JSON.stringify(openApiDocument());

  const page = (file: string): RequestHandler => (req, res) => sendAsset(req, res, file);
  const sendAsset = (req: Request, res: Response, file: string) => {
    const a = assets.get(file);
    if (!a) throw new AppError('ROUTE_NOT_FOUND', `no asset ${file.slice(0, 60)}`);
    res.setHeader('Content-Security-Policy', CSP);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('ETag', a.etag);
    if (req.get('if-none-match') === a.etag) {
      res.status(304).end();
      return;
    }
    res.type(a.type).send(a.body);
  };

  // the root is the dashboard (HEAD alike: Express answers it with GET's headers)
  router.get('/', (_req, res) => res.redirect(302, '/dashboard'));
  router.get('/dashboard', page('index.html'));
  router.get('/dashboard/assets/:file', (req, res) => sendAsset(req, res, req.params.file as string));
  router.get('/docs', page('docs.html'));
  router.get('/openapi.json', (_req, res) => {
    res.setHeader('Cache-Control', 'no-cache');
    res.type('application/json').send(document);
  });
  return router;
}

export function createDashboardRouter(deps: DashboardDeps): express.Router {
  const router = express.Router();
  const queries = new DashboardQueries(deps.pool, deps.maxTries);
  const limits = deps.bulkRetry ?? {};
  const maxPerRequest = limits.maxPerRequest ?? 1_000;
  const bulkLimit = new RateLimit(limits.perMinute ?? 5, 60_000);
  const dryRunLimit = new RateLimit(limits.dryRunsPerMinute ?? 60, 60_000);

  router.get('/metrics', async (_req, res) => {
    const { contentType, body } = await deps.metrics.render();
    res.setHeader('Cache-Control', 'no-store');
    res.type(contentType).send(body);
  });

  router.get('/api/info', (_req, res) => {
    res.json({
      maxTries: deps.maxTries,
      devFaults: deps.devFaults ? [...devFaultsOf(deps.scheme)] : [],
      bulkRetry: { maxPerRequest, perMinute: bulkLimit.max },
      webhooks: deps.webhooksEnabled ?? false,
      scheme: deps.scheme ?? 'msg-log',
    });
  });

  router.get('/api/stats', async (_req, res) => {
    const [stats, queues] = await Promise.all([deps.stats.get(), deps.queues?.depth() ?? null]);
    res.setHeader('Cache-Control', 'no-store');
    res.json({ ...stats, queues });
  });

  router.get('/api/events', (req, res) => deps.live.subscribe(req, res));

  router.get('/api/mails', async (req, res) => {
    const filter = filterOf(req);
    const limit = intParam(req, 'limit', 25, 1, 200);
    const before = strParam(req, 'before');
    if (before !== undefined && !MSG_ID.test(before)) throw invalid('before', 'must be a msgId');
    res.setHeader('Cache-Control', 'no-store');
    res.json(await queries.listMails(filter, { limit, before }, tzOf(req)));
  });

  router.get('/api/mails/:msgId', async (req, res) => {
    const msgId = req.params.msgId as string;
    const detail = MSG_ID.test(msgId) ? await queries.getMail(msgId, tzOf(req)) : null;
    if (!detail) throw new AppError('MAIL_NOT_FOUND', `no mail with msgId ${msgId.slice(0, 40)}`);
    res.setHeader('Cache-Control', 'no-store');
    res.json(detail);
  });

  router.post('/api/mails/retry', async (req, res) => {
    if (!req.is('application/json')) throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'send the filter as application/json');
    const body = bulkRetryBodyOf(req.body);
    (body.dryRun ? dryRunLimit : bulkLimit).take(body.dryRun ? 'dry runs' : 'bulk retries');
    const result = await bulkRetry({ queries, retry: (id) => deps.mail.retry(id) }, { q: body.q, dryRun: body.dryRun, max: Math.min(body.max ?? maxPerRequest, maxPerRequest) });
    if (!body.dryRun) {
      deps.logger.info({ q: body.q, retried: result.retried, skipped: result.skipped, remaining: result.remaining }, 'dead mails retried in bulk by a person');
    }
    res.status(body.dryRun ? 200 : 202).json(result);
  });

  // served whether or not WEBHOOK_URL is set: events written before it was unset can still be seen and retried
  router.use(createWebhookRouter({ repo: deps.webhooks ?? new WebhookRepo(deps.pool), logger: deps.logger }));

  return router;
}

/** Counts requests by route pattern and status (what the OpenAPI test checks against the spec). */
export function httpMetrics(metrics: Metrics): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    observeHttp(metrics, req.method, res, () => (req.route as { path?: string } | undefined)?.path ?? 'unmatched');
    next();
  };
}

/** Counts and times one request once it is answered (`route` is asked then: Express knows it only after routing). */
export function observeHttp(metrics: Metrics, method: string, res: ServerResponse, route: () => string): void {
  const end = metrics.httpDuration.startTimer();
  res.on('finish', () => {
    const r = route();
    metrics.httpRequests.inc({ method, route: r, status: String(res.statusCode) });
    end({ method, route: r });
  });
}


function strParam(req: Request, name: string): string | undefined {
  const v = req.query[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalid(name, 'must be given once');
  return v;
}

function intParam(req: Request, name: string, def: number, min: number, max: number): number {
  const v = strParam(req, name);
  if (v === undefined || v === '') return def;
  if (!/^\d{1,6}$/.test(v) || Number(v) < min || Number(v) > max) throw invalid(name, `must be an integer from ${min} to ${max}`);
  return Number(v);
}


function filterOf(req: Request): MailFilter {
  const status = strParam(req, 'status');
  const filter: MailFilter = { q: searchOf(strParam(req, 'q'), 'q') };
  if (status !== undefined && status !== '' && status !== 'all') {
    if (!isStatusName(status)) throw invalid('status', `must be one of ${Object.keys(Status).join(', ')}`);
    filter.status = Status[status];
  }
  return filter;
}

function tzOf(req: Request): string {
  return safeTimeZone(strParam(req, 'tz'));
}

