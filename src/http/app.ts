// The HTTP API: POST /mail/send, POST /mail/batch, GET /mail/:msgId, POST /mail/:msgId/retry, two-phase sending
// (prepare, commit, cancel), GET /health, GET /ready.
import { createServer, type Server } from 'node:http';
import express from 'express';
import type { ApiLoad } from '../core/api-load';
import { AppError } from '../errors';
import type { Logger } from '../logger';
import type { MailService } from '../services/mail-service';
import type { Prisma } from '../store/prisma';
import { createDashboardRouter, createPublicRouter, httpMetrics, type DashboardDeps } from './dashboard/routes';
import { createDevCheckBackRouter } from './dev-check-back';
import { createDevWebhookRouter } from './dev-webhooks';
import { toMailView } from './mail-view';
import type { RelayState } from '../store/relay-repo';
import { notFound, problemHandler } from './problem';
import type { HttpSecurity } from './security';
import { sameOriginGuard } from './security/same-origin';
import { withSendRoute } from './send-endpoint';
import { createTwoPhaseRouter, type TwoPhaseDeps } from './two-phase-routes';
import { createBatchRouter } from './batch-route';
import { createSuppressionRouter, type SuppressionRouteDeps } from './suppression-routes';

export interface HttpDeps {
  mail: MailService;
  prisma: Prisma;
  maxRecipients: number;
  maxTries: number;
  devFaults: boolean;
  /** RELIABILITY_SCHEME: which faults X-Dev-Fault may name */
  scheme?: 'msg-log' | 'delayed-check';
  /** database, broker and SMTP reachable */
  readiness: () => Promise<Record<string, boolean>>;
  /** the relay as the listeners see it: down since when, and why */
  relay?: () => Promise<RelayState>;
  logger: Logger;
  /** API keys, rate limits, JSON hardening, Idempotency-Key (src/http/security) */
  security: HttpSecurity;
  /** dashboard, /metrics, /openapi.json, /docs (src/http/dashboard) */
  ops?: DashboardDeps;
  /** sends in progress, shared with the listener (src/core/api-load.ts) */
  apiLoad?: ApiLoad;
  /** POST /mail/prepare, /mail/:msgId/commit and /cancel (src/http/two-phase-routes.ts) */
  twoPhase?: TwoPhaseDeps;
  /** GET /suppressions, GET and DELETE /suppressions/:address (src/http/suppression-routes.ts) */
  suppressions?: SuppressionRouteDeps;
  /** WEBHOOK_SECRET: what the development webhook receiver verifies with (DEV_FAULTS only, src/http/dev-webhooks.ts) */
  webhookSecret?: string;
}

const MSG_ID = /^\d{1,20}$/;

export function createHttpApp(deps: HttpDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  if (deps.ops) app.use(httpMetrics(deps.ops.metrics));
  // DEV_FAULTS only: the scenarios' stand-in business system (dev-check-back.ts) and webhook receiver (dev-webhooks.ts).
  // Ahead of the API-key check on purpose: the job's check-back questions and webhook events carry a signature (which
  // they verify), never an API key.
  if (deps.devFaults) app.use(createDevCheckBackRouter({ security: deps.security, logger: deps.logger, allowedHosts: deps.twoPhase?.allowedHosts ?? [] }));
  if (deps.devFaults) app.use(createDevWebhookRouter({ security: deps.security, logger: deps.logger, secret: deps.webhookSecret }));
  // Authentication before any route or body parsing: everything except GET/HEAD /health needs a key, the
  // dashboard and its static files included (a browser sends the key as Basic credentials; see security/api-keys).
  app.use(deps.security.authenticate);
  // No cross-site actions: every method but GET/HEAD/OPTIONS, on every route and router below, comes from a page of
  // this origin or from no browser at all (403 CROSS_SITE_REQUEST; security/same-origin.ts, POST /mail/send too).
  app.use(sameOriginGuard(deps.logger));
  if (deps.ops) app.use(createPublicRouter());
  app.use(createBatchRouter({ mail: deps.mail, security: deps.security, maxRecipients: deps.maxRecipients }));
  app.use(express.json({ limit: '256kb', strict: true }));
  app.use(deps.security.jsonGuard);

  app.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/ready', async (_req, res) => {
    const checks = await deps.readiness();
    // Accepting mail needs the database and the broker. A relay that is down stops sending, not accepting: the mails
    // wait in RabbitMQ, so an instance stays ready (a load balancer keeps sending it mail) and says the relay is down.
    const ready = checks.database !== false && checks.broker !== false;
    const relay = await deps.relay?.().catch(() => null);
    const down = relay?.down ? { relay: { up: false, downSince: relay.since?.toISOString() ?? null, failure: relay.failure } } : {};
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks, ...down });
  });

  if (deps.twoPhase) app.use(createTwoPhaseRouter(deps.twoPhase));
  if (deps.suppressions) app.use(createSuppressionRouter(deps.suppressions));

  // POST /mail/send never gets here: createHttpServer serves it ahead of Express (send-endpoint.ts).

  app.get('/mail/:msgId', async (req, res) => {
    const msgId = req.params.msgId;
    const row = MSG_ID.test(msgId) ? await deps.prisma.msgLog.findUnique({ where: { msgId } }) : null;
    if (!row) throw new AppError('MAIL_NOT_FOUND', `no mail with msgId ${msgId.slice(0, 40)}`);
    const recipients = row.rcptState === 1 ? await deps.prisma.msgRecipient.findMany({ where: { msgId } }) : [];
    res.json(toMailView(row, deps.maxTries, recipients));
  });

  app.post('/mail/:msgId/retry', async (req, res) => {
    const msgId = req.params.msgId;
    if (!MSG_ID.test(msgId)) throw new AppError('MAIL_NOT_FOUND', `no mail with msgId ${msgId.slice(0, 40)}`);
    if (await deps.mail.retry(msgId)) {
      res.status(202).location(`/mail/${msgId}`).json({ msgId, status: 'sending' });
      return;
    }
    const exists = await deps.prisma.msgLog.findUnique({ where: { msgId }, select: { status: true } });
    if (!exists) throw new AppError('MAIL_NOT_FOUND', `no mail with msgId ${msgId}`);
    throw new AppError('MAIL_NOT_DEAD', `mail ${msgId} is not dead; only a dead mail waits for a person`);
  });

  // the dashboard's data (/api/...) and /metrics: behind the API key, like /mail/...
  if (deps.ops) app.use(createDashboardRouter(deps.ops));

  app.use(notFound);
  app.use(problemHandler(deps.logger));
  return app;
}

const sendDeps = (deps: HttpDeps) => ({ ...deps, metrics: deps.ops?.metrics });

/** The API's HTTP server: POST /mail/send served ahead of Express (send-endpoint.ts), every other route by Express. */
export function createHttpServer(deps: HttpDeps): Server {
  return createServer(withSendRoute(sendDeps(deps), createHttpApp(deps)));
}
