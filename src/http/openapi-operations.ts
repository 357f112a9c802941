// The operations' and the dashboard's part of the OpenAPI description (src/http/openapi.ts puts it in): health,
// readiness, metrics, this description, the dashboard's page and the reads and actions behind it.
import { bodyErrors, dbDown, html, internal, json, keyed, msgIdParam, p, problem, ref, sameOrigin, STATUS_NAMES, tzParam, type Json } from './openapi-parts';

export const OPERATION_PATHS: Json = {
  '/health': {
    get: {
      tags: ['operations'],
      operationId: 'health',
      summary: 'The process is alive',
      responses: { '200': json({ type: 'object', properties: { status: { const: 'ok' } } }, 'alive') },
    },
  },
  '/ready': {
    get: {
      tags: ['operations'],
      operationId: 'ready',
      summary: 'The database, the broker and SMTP are reachable',
      description: 'The SMTP check (only on instances running the listener) is cached for a few seconds, so probing often is cheap.',
      responses: { '200': json(ref('Readiness'), 'ready: the database and the broker answer, so this instance accepts mail (a relay that is down is reported in `relay`, and does not make it 503)'), '503': json(ref('Readiness'), 'not ready: `checks` says which dependency is down') },
    },
  },
  '/metrics': {
    get: {
      tags: ['operations'],
      operationId: 'metrics',
      summary: 'Prometheus metrics',
      description: 'Text exposition format. Counters and histograms are this instance\'s; gauges read from msg_log and the broker are the same on every instance.',
      responses: { '200': { description: 'metrics', content: { 'text/plain': { schema: { type: 'string' } } } }, ...keyed, ...internal },
    },
  },
  '/openapi.json': {
    get: { tags: ['operations'], operationId: 'openapi', summary: 'This description', responses: { '200': json({ type: 'object' }, 'OpenAPI 3.1') } },
  },
  '/docs': {
    get: { tags: ['operations'], operationId: 'docs', summary: 'This description as a page', responses: { '200': html('the page'), '304': { description: 'not modified' } } },
  },
  '/': {
    get: {
      tags: ['dashboard'],
      operationId: 'root',
      summary: 'The dashboard: a redirect to /dashboard',
      responses: { '302': { description: 'to the dashboard', headers: { Location: { description: '/dashboard', schema: { type: 'string', const: '/dashboard' } } } }, ...keyed },
    },
  },
  '/dashboard': {
    get: {
      tags: ['dashboard'],
      operationId: 'dashboard',
      summary: 'The dashboard (a page; its data comes from /api/...)',
      responses: { '200': html('the page'), '304': { description: 'not modified' } },
    },
  },
  '/dashboard/assets/{file}': {
    get: {
      tags: ['dashboard'],
      operationId: 'dashboardAsset',
      summary: 'The dashboard\'s scripts and styles',
      parameters: [{ name: 'file', in: 'path', required: true, schema: { type: 'string', example: 'app.js' } }],
      responses: { '200': { description: 'the file', content: { 'text/javascript': {}, 'text/css': {}, 'image/svg+xml': {} } }, '304': { description: 'not modified' }, '404': problem('no such file') },
    },
  },
  '/api/info': {
    get: {
      tags: ['dashboard'],
      operationId: 'info',
      summary: 'What the dashboard needs to know about this process',
      responses: { '200': json(ref('Info'), 'settings'), ...keyed },
    },
  },
  '/api/stats': {
    get: {
      tags: ['dashboard'],
      operationId: 'stats',
      summary: 'Counts by status, backlog, oldest pending mail, throughput over the last 15 minutes, queue depth',
      responses: { '200': json(ref('Stats'), 'stats'), ...keyed, ...dbDown, ...internal },
    },
  },
  '/api/events': {
    get: {
      tags: ['dashboard'],
      operationId: 'events',
      summary: 'Live stats as server-sent events',
      description: '`event: stats` with a `Stats` object (without `queues`) whenever the numbers change, at most once a second; a comment line every 15 s otherwise. `event: unavailable` while the database does not answer.',
      responses: { '200': { description: 'an event stream', content: { 'text/event-stream': { schema: { type: 'string' } } } }, ...keyed, '503': { description: 'the app is stopping' } },
    },
  },
  '/api/mails': {
    get: {
      tags: ['dashboard'],
      operationId: 'listMails',
      summary: 'Recent mails, newest first, paged',
      parameters: [
        { name: 'status', in: 'query', required: false, schema: { type: 'string', enum: ['all', ...STATUS_NAMES] } },
        { name: 'q', in: 'query', required: false, description: 'digits: a msgId or its beginning; anything else: part of a recipient address (case-insensitive)', schema: { type: 'string', maxLength: 200 } },
        { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 200, default: 25 } },
        { name: 'before', in: 'query', required: false, description: 'the `next` of the previous page', schema: { type: 'string', pattern: '^\\d{1,20}$' } },
        tzParam,
      ],
      responses: { '200': json(ref('MailPage'), 'a page'), '400': problem('an invalid filter'), ...keyed, ...dbDown, ...internal },
    },
  },
  '/api/mails/{msgId}': {
    get: {
      tags: ['dashboard'],
      operationId: 'mailTimeline',
      summary: 'One mail with its timeline and why it is not consumed yet',
      parameters: [msgIdParam, tzParam],
      responses: { '200': json(ref('MailDetail'), 'the mail'), ...keyed, '404': problem('no mail with this msgId'), ...dbDown, ...internal },
    },
  },
  '/api/mails/retry': {
    post: {
      tags: ['dashboard'],
      operationId: 'bulkRetry',
      summary: 'Retry dead mails in bulk (or count them)',
      description:
        'Takes the dead mails matching `q` (all dead mails without it), oldest first, through the same path as a single retry, in batches. ' +
        '`dryRun: true` only counts. Limited per process: a few real runs per minute, each of at most `maxPerRequest` mails (GET /api/info); the rest are reported as `remaining`.',
      requestBody: { required: true, content: { 'application/json': { schema: ref('BulkRetryRequest') } } },
      responses: {
        '200': json(ref('BulkRetryResult'), 'dry run: the count'),
        '202': json(ref('BulkRetryResult'), 'the mails are back in play'),
        ...bodyErrors,
        ...keyed,
        ...sameOrigin,
        '415': problem('the body is not application/json'),
        '429': { ...p('too many bulk retries; see Retry-After'), headers: { 'Retry-After': { description: 'seconds', schema: { type: 'integer' } } } },
        ...dbDown,
        ...internal,
      },
    },
  },
};
