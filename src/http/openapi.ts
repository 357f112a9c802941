// The OpenAPI 3.1 description of every route, served at /openapi.json and rendered by /docs.
// test/integration/openapi.int.test.ts fails when a route of the app is missing here, when a path here is no
// route, or when a route answers with a status code not described here.
// Request bodies validated by a zod schema are described by that schema (requestSchema), not written again here.
import { z } from 'zod';
import { FAILURE_KINDS } from '../core/failure';
import { DEV_FAULTS } from '../core/mail-message';
import { LIMITS, mailRequestSchema } from '../core/validation';
import { ERRORS } from '../errors';

type Json = Record<string, unknown>;

const STATUS_NAMES = ['sending', 'delivered', 'delivery_failed', 'consumed', 'consume_failed', 'dead'];
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Json, description: string) => ({ description, content: { 'application/json': { schema } } });
const problem = (description: string) => ({ $ref: '#/components/responses/Problem', description });
const p = (description: string) => ({ description, content: { 'application/problem+json': { schema: ref('Problem') } } });
const dateTime = { type: 'string', format: 'date-time' };
const nullableDateTime = { type: ['string', 'null'], format: 'date-time' };
const msgIdParam = { name: 'msgId', in: 'path', required: true, description: 'the mail\'s msgId (a snowflake id, decimal digits)', schema: { type: 'string', pattern: '^\\d{1,20}$' } };
const tzParam = { name: 'tz', in: 'query', required: false, description: 'IANA time zone for the times in `why` sentences (default UTC)', schema: { type: 'string', example: 'Europe/Berlin' } };

/**
 * The JSON Schema of a request body, derived from the zod schema that validates it: its input side, what a client
 * sends (before trimming and splitting). Refinements and transforms (control characters, the recipient cap, the
 * stored size) cannot be said in JSON Schema: the descriptions say them. OpenAPI 3.1 names the dialect, so no `$schema`.
 */
function requestSchema(schema: z.ZodType, docs: { properties: Record<string, string>; example: Json }): Json {
  const { $schema: _dialect, ...derived } = z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12' }) as Json;
  const properties = { ...(derived.properties as Record<string, Json>) };
  for (const [name, description] of Object.entries(docs.properties)) {
    if (!properties[name]) throw new Error(`openapi: no field ${name} in the request schema`);
    properties[name] = { ...properties[name], description };
  }
  return { ...derived, properties, example: docs.example };
}

/** 401 once API keys are configured; described on every route that will need a key. */
const keyed = { '401': problem('an API key is required (when keys are configured)') };
/** 403 for a browser's request from a page of another origin, on every route that changes something (src/http/security/same-origin.ts). */
const sameOrigin = { '403': problem('sent by a browser from a page of another origin (CROSS_SITE_REQUEST): Origin, or without it Sec-Fetch-Site, names another site') };
const dbDown = { '503': problem('the database is unavailable') };
const internal = { '500': problem('unexpected error') };
const bodyErrors = { '400': problem('malformed JSON or invalid fields'), '413': problem('the body is too large') };

export function openApiDocument(): Json {
  return {
    openapi: '3.1.0',
    info: {
      title: 'mail-dispatch',
      version: '0.1.0',
      summary: 'Send mail over RabbitMQ without ever losing one.',
      description:
        'Accepts mail over HTTP, commits a `msg_log` row before answering, publishes with publisher confirms, and sends over SMTP from a manual-ack listener. ' +
        'Errors are RFC 9457 `application/problem+json` with a stable `code`. The dashboard is at `/dashboard`; this description renders at `/docs`.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    tags: [
      { name: 'mail', description: 'accepting mail and retrying dead ones' },
      { name: 'dashboard', description: 'what the dashboard reads: stats, rows, timelines, live updates, bulk retry' },
      { name: 'operations', description: 'health, readiness, metrics, this description' },
    ],
    paths: {
      '/mail/send': {
        post: {
          tags: ['mail'],
          operationId: 'sendMail',
          summary: 'Accept a mail',
          description: 'Answers `202` once the `msg_log` row is committed; the publish and the SMTP send follow in the background. Only `application/json`; unknown fields are refused.',
          parameters: [
            {
              name: 'X-Dev-Fault',
              in: 'header',
              required: false,
              description: `Development only (the process must run with DEV_FAULTS=true): plays one of the documented failures.`,
              schema: { type: 'string', enum: [...DEV_FAULTS] },
            },
          ],
          requestBody: { required: true, content: { 'application/json': { schema: ref('MailRequest') } } },
          responses: {
            '202': { ...json(ref('Accepted'), 'the row is committed; the mail is on its way'), headers: { Location: { description: '/mail/{msgId}', schema: { type: 'string' } } } },
            ...bodyErrors,
            ...keyed,
            ...sameOrigin,
            '415': problem('the body is not application/json'),
            ...dbDown,
            ...internal,
          },
        },
      },
      '/mail/{msgId}': {
        get: {
          tags: ['mail'],
          operationId: 'getMail',
          summary: 'One mail\'s row',
          parameters: [msgIdParam],
          responses: { '200': json(ref('MailView'), 'the row'), ...keyed, '404': problem('no mail with this msgId'), ...dbDown, ...internal },
        },
      },
      '/mail/{msgId}/retry': {
        post: {
          tags: ['mail'],
          operationId: 'retryMail',
          summary: 'Put a dead mail back in play',
          description: 'A dead mail becomes `sending` with a fresh budget of tries and is published again.',
          parameters: [msgIdParam],
          responses: {
            '202': json({ type: 'object', required: ['msgId', 'status'], properties: { msgId: { type: 'string' }, status: { const: 'sending' } } }, 'back in play'),
            ...bodyErrors,
            ...keyed,
            ...sameOrigin,
            '404': problem('no mail with this msgId'),
            '409': problem('the mail is not dead (MAIL_NOT_DEAD)'),
            ...dbDown,
            ...internal,
          },
        },
      },
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
    },
    components: {
      responses: {
        Problem: p('an RFC 9457 problem'),
      },
      schemas: {
        // The recipient cap is checked in a transform, so the schema is the same whatever MAX_RECIPIENTS is.
        MailRequest: requestSchema(mailRequestSchema(1), {
          properties: {
            subject: 'no CR, LF or other control characters; trimmed',
            content: `no NUL; the whole mail, stored as UTF-8 JSON, must fit in ${LIMITS.storedMax} bytes`,
            tos: 'one address, comma-separated addresses, or an array (plain local@domain only; at most MAX_RECIPIENTS)',
          },
          example: { subject: 'Hello', content: 'Hi there', tos: 'someone@example.com' },
        }),
        Accepted: { type: 'object', required: ['msgId', 'status'], properties: { msgId: { type: 'string' }, status: { const: 'sending' } } },
        MailView: {
          type: 'object',
          properties: {
            msgId: { type: 'string' },
            status: { enum: STATUS_NAMES },
            statusCode: { type: 'integer', minimum: 0, maximum: 5 },
            tryCount: { type: 'integer' },
            maxTries: { type: 'integer' },
            nextTryTime: nullableDateTime,
            createTime: dateTime,
            updateTime: dateTime,
            lastError: { type: ['string', 'null'], description: 'the last failure in a sentence' },
            failure: ref('Failure'),
            uncertainCount: { type: 'integer', description: 'sends whose SMTP outcome was unknown and that were sent again' },
            exchange: { type: 'string' },
            routingKey: { type: 'string' },
            subject: { type: ['string', 'null'] },
            tos: { type: 'array', items: { type: 'string' } },
            recipients: { type: 'array', items: ref('Recipient') },
          },
        },
        Failure: {
          type: ['object', 'null'],
          description: 'a failure as data (src/core/failure.ts)',
          required: ['kind'],
          properties: {
            kind: { enum: Object.keys(FAILURE_KINDS) },
            code: { type: 'integer', description: 'the SMTP reply code, e.g. 450' },
            enhanced: { type: 'string', description: 'the enhanced status code (RFC 3463), e.g. 4.2.0' },
            recipient: { type: 'string' },
            command: { type: 'string', description: 'the SMTP command that got the reply, e.g. RCPT TO' },
            detail: { type: 'string', description: "the server's words, short" },
          },
        },
        Recipient: {
          type: 'object',
          properties: {
            address: { type: 'string' },
            state: { enum: ['pending', 'accepted', 'deferred', 'bounced', 'failed'], description: 'deferred: 4xx, tried again; bounced: 5xx, final; failed: still deferred when the tries ran out' },
            failure: ref('Failure'),
            tries: { type: 'integer', description: 'sends that reached this recipient (0 while all recipients share one fate)' },
            updateTime: nullableDateTime,
          },
        },
        MailRow: {
          type: 'object',
          properties: {
            msgId: { type: 'string' },
            status: { enum: STATUS_NAMES },
            statusCode: { type: 'integer' },
            tryCount: { type: 'integer' },
            maxTries: { type: 'integer' },
            subject: { type: ['string', 'null'] },
            tos: { type: 'array', items: { type: 'string' } },
            createTime: dateTime,
            updateTime: dateTime,
            nextTryTime: nullableDateTime,
            leaseUntil: nullableDateTime,
            lastError: { type: ['string', 'null'] },
            failure: ref('Failure'),
            why: { type: 'string', description: 'where the mail stands and why it is not consumed yet, e.g. "SMTP answered 451 4.3.0 at 10:02:13; next try at 10:02:53, try 2 of 8."' },
          },
        },
        MailPage: { type: 'object', properties: { mails: { type: 'array', items: ref('MailRow') }, next: { type: ['string', 'null'], description: 'pass as `before` for the next page' } } },
        TimelineStep: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            at: dateTime,
            kind: { enum: ['accepted', 'confirmed', 'claimed', 'consumed', 'smtp_failed', 'publish_failed', 'republished', 'retried', 'dead', 'changed'] },
            label: { type: 'string' },
            from: { type: ['string', 'null'] },
            to: { type: 'string' },
            tryCount: { type: 'integer' },
            attempt: { type: 'integer' },
            error: { type: ['string', 'null'], description: 'the failure of this step in a sentence' },
            failure: ref('Failure'),
            nextTryTime: nullableDateTime,
            confirmMs: { type: ['integer', 'null'], description: 'publish to broker confirm' },
            smtpMs: { type: ['integer', 'null'], description: 'listener claim to SMTP outcome' },
            msInPreviousState: { type: ['integer', 'null'] },
          },
        },
        MailDetail: { type: 'object', properties: { mail: ref('MailRow'), recipients: { type: 'array', items: ref('Recipient') }, timeline: { type: 'array', items: ref('TimelineStep') } } },
        Stats: {
          type: 'object',
          properties: {
            at: dateTime,
            counts: { type: 'object', properties: Object.fromEntries(STATUS_NAMES.map((s) => [s, { type: 'integer' }])) },
            total: { type: 'integer' },
            backlog: { type: 'integer', description: 'mails not final yet' },
            due: { type: 'integer', description: 'mails whose next try time has passed' },
            oldestPending: { type: ['object', 'null'], properties: { msgId: { type: 'string' }, createTime: dateTime, ageSeconds: { type: 'number' } } },
            consumedCountedAt: dateTime,
            throughput: {
              type: 'object',
              properties: {
                bucketSeconds: { type: 'integer' },
                windowSeconds: { type: 'integer' },
                buckets: {
                  type: 'array',
                  items: { type: 'object', properties: { t: dateTime, accepted: { type: 'integer' }, consumed: { type: 'integer' }, failed: { type: 'integer' }, dead: { type: 'integer' }, retried: { type: 'integer' } } },
                },
              },
            },
            queues: { type: ['array', 'null'], items: { type: 'object', properties: { queue: { type: 'string' }, messages: { type: 'integer' }, consumers: { type: 'integer' } } } },
            relay: { type: 'object', description: 'the SMTP relay as the listeners see it', properties: { up: { type: 'boolean' }, downSince: nullableDateTime, why: { type: ['string', 'null'] } } },
          },
        },
        Info: {
          type: 'object',
          properties: {
            maxTries: { type: 'integer' },
            devFaults: { type: 'array', items: { enum: [...DEV_FAULTS] }, description: 'faults the send form may offer (empty unless DEV_FAULTS=true)' },
            bulkRetry: { type: 'object', properties: { maxPerRequest: { type: 'integer' }, perMinute: { type: 'integer' } } },
          },
        },
        BulkRetryRequest: {
          type: 'object',
          additionalProperties: false,
          required: ['dryRun'],
          properties: {
            dryRun: { type: 'boolean', description: 'true: only count' },
            q: { type: 'string', description: 'the same search as GET /api/mails' },
            status: { const: 'dead' },
            max: { type: 'integer', minimum: 1 },
          },
        },
        BulkRetryResult: {
          type: 'object',
          properties: { dryRun: { type: 'boolean' }, matched: { type: 'integer' }, retried: { type: 'integer' }, skipped: { type: 'integer' }, remaining: { type: 'integer' } },
        },
        Readiness: {
          type: 'object',
          properties: {
            status: { enum: ['ready', 'not ready'] },
            checks: { type: 'object', additionalProperties: { type: 'boolean' }, example: { database: true, broker: true, smtp: true } },
            relay: { type: 'object', description: 'only while a listener finds the SMTP relay down', properties: { up: { const: false }, downSince: nullableDateTime, failure: ref('Failure') } },
          },
        },
        Problem: {
          type: 'object',
          required: ['type', 'title', 'status', 'code'],
          properties: {
            type: { type: 'string' },
            title: { type: 'string' },
            status: { type: 'integer' },
            detail: { type: 'string' },
            instance: { type: 'string' },
            code: { enum: Object.keys(ERRORS) },
            errors: { type: 'array', items: { type: 'object', properties: { field: { type: 'string' }, message: { type: 'string' } } } },
          },
        },
      },
    },
  };
}

function html(description: string) {
  return { description, content: { 'text/html': { schema: { type: 'string' } } } };
}
