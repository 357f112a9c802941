// The OpenAPI 3.1 description of every route, served at /openapi.json and rendered by /docs.
// test/integration/openapi.int.test.ts fails when a route of the app is missing here, when a path here is no
// route, or when a route answers with a status code not described here.
// The parts: the mail routes and their request bodies (openapi-mail.ts), operations and the dashboard
// (openapi-operations.ts), the schemas (openapi-schemas.ts), suppressions, webhooks, and what they share (openapi-parts.ts).
import { MAIL_PATHS } from './openapi-mail';
import { OPERATION_PATHS } from './openapi-operations';
import { p, type Json } from './openapi-parts';
import { SCHEMAS } from './openapi-schemas';
import { SUPPRESSION_PATHS, SUPPRESSION_TAG } from './openapi-suppressions';
import { WEBHOOK_PATHS, WEBHOOK_TAG, WEBHOOKS } from './openapi-webhooks';

export function openApiDocument(): Json {
  return {
    openapi: '3.1.0',
    info: {
      title: 'mail-dispatch',
      version: '0.1.0',
      summary: 'Send mail over RabbitMQ without ever losing one.',
      description:
        'Accepts mail over HTTP, commits a `msg_log` row before answering, publishes with publisher confirms, and sends over SMTP from a manual-ack listener. ' +
        'Two-phase sending (`POST /mail/prepare`, then `/commit` or `/cancel`) stores a mail before the caller\'s own transaction and sends it only once the caller commits; ' +
        'a mail still prepared after PREPARE_TIMEOUT_MS is settled by asking the caller\'s `checkBackUrl` (a signed POST, see the `mailCheckBack` callback of `POST /mail/prepare`). ' +
        'Errors are RFC 9457 `application/problem+json` with a stable `code`. The dashboard is at `/dashboard`; this description renders at `/docs`.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    tags: [
      { name: 'mail', description: 'accepting mail and retrying dead ones' },
      { name: 'two-phase', description: 'prepare a mail before a business transaction, commit or cancel it after; the check-back settles the ones left prepared' },
      { name: 'dashboard', description: 'what the dashboard reads: stats, rows, timelines, live updates, bulk retry' },
      WEBHOOK_TAG,
      SUPPRESSION_TAG,
      { name: 'operations', description: 'health, readiness, metrics, this description' },
    ],
    // what WEBHOOK_URL receives (src/http/openapi-webhooks.ts)
    webhooks: WEBHOOKS,
    paths: {
      ...WEBHOOK_PATHS,
      ...SUPPRESSION_PATHS,
      ...MAIL_PATHS,
      ...OPERATION_PATHS
    },
    components: {
      responses: {
        Problem: p('an RFC 9457 problem'),
      },
      schemas: {
        ...SCHEMAS
      },
    },
  };
}
