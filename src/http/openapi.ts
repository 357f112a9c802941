// The OpenAPI 3.1 description of every route, served at /openapi.json and rendered by /docs.
// test/integration/openapi.int.test.ts fails when a route of the app is missing here, when a path here is no
// route, or when a route answers with a status code not described here.
// Request bodies validated by a zod schema are described by that schema (requestSchema), not written again here.
import { z } from 'zod';
import type { StepKind } from '../core/explain';
import { FAILURE_KINDS } from '../core/failure';
import { DEV_FAULTS } from '../core/mail-message';
import { Status, STATUS_MEANING, type StatusName } from '../core/status';
import { LIMITS, mailRequestSchema } from '../core/validation';
import { ERRORS } from '../errors';
import { BATCH_MAX } from './batch-route';
import { IDEMPOTENCY_KEY_MAX } from './security/idempotency';
import { WEBHOOK_PATHS, WEBHOOK_SCHEMAS, WEBHOOK_TAG, WEBHOOKS } from './openapi-webhooks';
import { SUPPRESSION_PATHS, SUPPRESSION_SCHEMAS, SUPPRESSION_TAG } from './openapi-suppressions';

type Json = Record<string, unknown>;

/** Every status by name, in code order (0 sending … 7 cancelled): src/core/status.ts. */
const STATUS_NAMES = Object.keys(Status) as StatusName[];
const STATUS_CODE_MAX = Math.max(...Object.values(Status));
const statusList = STATUS_NAMES.map((s) => `\`${s}\` (${Status[s]}): ${STATUS_MEANING[s]}`).join('; ');
/** Every timeline step kind (src/core/explain.ts); a Record so a kind added there fails the build until it is listed here. */
const STEP_KINDS: Record<StepKind, string> = {
  accepted: 'row committed by POST /mail/send, publish started',
  confirmed: 'the broker confirmed the publish',
  claimed: 'a listener took it and is sending over SMTP',
  consumed: 'the SMTP server accepted it',
  smtp_failed: 'the SMTP send failed; tried again',
  publish_failed: 'the publish failed; tried again',
  republished: 'published again by the re-delivery job',
  retried: 'a person put the dead mail back in play',
  dead: 'no more automatic tries',
  prepared: 'stored by POST /mail/prepare, not sent',
  committed: 'committed (by the caller or its check-back): publish started',
  cancelled: 'cancelled (by the caller, its check-back, or an expiry without a check-back URL): never sent',
  check_back: 'the check-back answered neither commit nor cancel (or could not be reached); asked again later',
  scheduled: 'stored by POST /mail/send with a sendAt ahead; published at that time',
  due: 'its sendAt came: publish started',
  changed: 'any other change',
};
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

/** The body of POST /mail/prepare: the body of POST /mail/send plus `checkBackUrl` (checked by src/http/two-phase-routes.ts). */
function preparedRequestSchema(): Json {
  const mail = openMailRequestSchema();
  // a prepared mail goes out at its commit: sendAt is refused (400) there
  const { sendAt: _sendAt, ...properties } = mail.properties as Json;
  return {
    ...mail,
    properties: {
      ...properties,
      checkBackUrl: {
        type: 'string',
        format: 'uri',
        maxLength: 2048,
        description:
          'optional: an http(s) URL on a host in the server\'s CHECKBACK_ALLOWED_HOSTS (host or host:port), without credentials. Asked (the `mailCheckBack` callback) when the mail is still prepared after PREPARE_TIMEOUT_MS; without it the mail is then cancelled.',
      },
    },
    example: { subject: 'Your order 4711', content: 'Thank you for your order.', tos: 'someone@example.com', checkBackUrl: 'https://shop.example.com/mail-check-back' },
  };
}

function openMailRequestSchema(): Json {
  return requestSchema(mailRequestSchema(1), MAIL_REQUEST_DOCS);
}

const MAIL_REQUEST_DOCS = {
  properties: {
    subject: 'no CR, LF or other control characters; trimmed',
    content: `no NUL; the whole mail, stored as UTF-8 JSON, must fit in ${LIMITS.storedMax} bytes`,
    tos: 'one address, comma-separated addresses, or an array (plain local@domain only; tos, cc and bcc together at most MAX_RECIPIENTS)',
    html: 'optional: an HTML alternative to `content`, sent with it as multipart/alternative; sent as given, never rendered, run or fetched by the server',
    cc: 'optional: as `tos`; shown in the Cc header',
    bcc: 'optional: as `tos`; in the envelope only, never in a header',
    replyTo: `optional: as \`tos\`, at most ${LIMITS.replyToMax}; the Reply-To header`,
    tags: `optional: up to ${LIMITS.tagsMax} labels of your own, echoed in GET /mail/{msgId}`,
    metadata: `optional: up to ${LIMITS.metadataKeysMax} string values of at most ${LIMITS.metadataValueMax} characters, echoed in GET /mail/{msgId}`,
    sendAt: `optional: RFC 3339 date-time with its offset, at most ${LIMITS.scheduleDaysMax} days ahead: the mail is \`scheduled\` until then and published within a second of it (POST /mail/{msgId}/cancel cancels it before); a time already past sends it now. Not on POST /mail/prepare`,
  },
  example: { subject: 'Hello', content: 'Hi there', tos: 'someone@example.com' },
};

/** 401 once API keys are configured; described on every route that will need a key. */
const keyed = { '401': problem('an API key is required (when keys are configured)') };
/** 403 for a browser's request from a page of another origin, on every route that changes something (src/http/security/same-origin.ts). */
const sameOrigin = { '403': problem('sent by a browser from a page of another origin (CROSS_SITE_REQUEST): Origin, or without it Sec-Fetch-Site, names another site') };
const dbDown = { '503': problem('the database is unavailable') };
const internal = { '500': problem('unexpected error') };
const bodyErrors = { '400': problem('malformed JSON or invalid fields'), '413': problem('the body is too large') };
const location = { Location: { description: '/mail/{msgId}', schema: { type: 'string' } } };
const idempotencyKeyParam = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description:
    'Makes a retried request safe: the same key with the same body answers the first answer again (with `Idempotent-Replayed: true`) and stores nothing new; ' +
    'with another body, `422 IDEMPOTENCY_KEY_REUSED`; while the first is still being processed, `409 IDEMPOTENCY_KEY_IN_USE`. Keys are kept IDEMPOTENCY_TTL_HOURS, per API key and per route.',
  schema: { type: 'string', minLength: 1, maxLength: IDEMPOTENCY_KEY_MAX, example: 'order-4711' },
};
const idempotencyErrors = {
  '409': problem('another request with this Idempotency-Key is still being processed (IDEMPOTENCY_KEY_IN_USE)'),
  '422': problem('this Idempotency-Key was used with another body (IDEMPOTENCY_KEY_REUSED), or every recipient is on the suppression list (RECIPIENTS_SUPPRESSED; in a batch, that mail\'s result)'),
  '429': problem('over a rate limit (RATE_LIMITED): requests per API key, or mails per recipient; see Retry-After'),
};
/** What a route that accepts mail (send, batch) may answer besides its success. */
const acceptErrors = { ...bodyErrors, ...keyed, ...sameOrigin, ...idempotencyErrors, '415': problem('the body is not application/json'), ...dbDown, ...internal };
/** POST /mail/{msgId}/commit and /cancel take no body; a JSON body is parsed (and refused when malformed) like any. */
const noBodyErrors = { '400': problem('a malformed JSON body'), '413': problem('the body is too large') };

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
      '/mail/send': {
        post: {
          tags: ['mail'],
          operationId: 'sendMail',
          summary: 'Accept a mail',
          description:
            'Answers `202` once the `msg_log` row is committed; the publish and the SMTP send follow in the background (with a `sendAt` ahead: `scheduled`, published at that time). ' +
            'Only `application/json`; unknown fields are refused.',
          parameters: [
            {
              name: 'X-Dev-Fault',
              in: 'header',
              required: false,
              description: `Development only (the process must run with DEV_FAULTS=true): plays one of the documented failures. lose-check and lose-confirmation only with RELIABILITY_SCHEME=delayed-check.`,
              schema: { type: 'string', enum: [...DEV_FAULTS] },
            },
            idempotencyKeyParam,
          ],
          requestBody: { required: true, content: { 'application/json': { schema: ref('MailRequest') } } },
          responses: {
            '202': { ...json(ref('Accepted'), 'the row is committed; the mail is on its way (or scheduled)'), headers: location },
            ...acceptErrors,
          },
        },
      },
      '/mail/batch': {
        post: {
          tags: ['mail'],
          operationId: 'sendBatch',
          summary: `Accept up to ${BATCH_MAX} mails in one request`,
          description:
            `Every valid mail is stored in one transaction (all of them or none) and answered \`202\` with one result per mail in the order given: its msgId and status, or the validation problem of that mail, which is left out. ` +
            'No valid mail: `400`. One Idempotency-Key covers the whole batch: sent again, it answers the same results and stores nothing. The body may be up to 5 MB.',
          parameters: [idempotencyKeyParam],
          requestBody: { required: true, content: { 'application/json': { schema: ref('BatchRequest') } } },
          responses: {
            '202': json(ref('BatchAnswer'), 'the valid mails are committed; one result per mail, in order'),
            ...acceptErrors,
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
      '/mail/prepare': {
        post: {
          tags: ['two-phase'],
          operationId: 'prepareMail',
          summary: 'Prepare a mail: stored, not sent until committed',
          description:
            'Call it before your own transaction (an order, a sign-up), then `POST /mail/{msgId}/commit` after it commits or `POST /mail/{msgId}/cancel` after it rolls back. ' +
            'Answers `201` once the `msg_log` row is committed with status `prepared`; nothing is published. ' +
            'A mail neither committed nor cancelled within PREPARE_TIMEOUT_MS (default 60 s) is settled by its check-back: the job POSTs a signed question to `checkBackUrl` ' +
            '(the `mailCheckBack` callback) and applies the answer; an answer that decides nothing is asked again with backoff, and after MAX_TRIES the mail is `dead`. ' +
            'Without `checkBackUrl` an expired prepared mail is cancelled. The body is that of `POST /mail/send` plus `checkBackUrl`.',
          parameters: [idempotencyKeyParam],
          requestBody: { required: true, content: { 'application/json': { schema: ref('PreparedMailRequest') } } },
          responses: {
            '201': { ...json(ref('Prepared'), 'the mail is stored as prepared (also the answer to a replayed Idempotency-Key)'), headers: location },
            '400': problem('malformed JSON or invalid fields (VALIDATION_FAILED; a `checkBackUrl` that is not an http(s) URL or whose host is not in CHECKBACK_ALLOWED_HOSTS names the field `checkBackUrl`), or an invalid Idempotency-Key'),
            ...keyed,
            ...sameOrigin,
            ...idempotencyErrors,
            '413': problem('the body is too large'),
            ...dbDown,
            ...internal,
          },
          callbacks: {
            mailCheckBack: {
              '{$request.body#/checkBackUrl}': {
                post: {
                  summary: 'The check-back: is this prepared mail to be sent?',
                  description:
                    'Sent by the job once the mail has been prepared for PREPARE_TIMEOUT_MS without a commit or cancel. Signed with the Standard Webhooks scheme: ' +
                    '`webhook-signature` is `v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">` with the secret of the API key that prepared the mail ' +
                    '(`GET /check-back/secret`; without the `whsec_` prefix, base64-decoded). Refuse a bad signature or a timestamp more than 5 minutes off. ' +
                    'Redirects are not followed; the question times out after CHECKBACK_TIMEOUT_MS. Only `200` with `{"decision":"commit"}` or `{"decision":"cancel"}` decides; ' +
                    'anything else (another status, another body, no answer) is asked again with backoff, and after MAX_TRIES the mail is `dead` (failure kind `check-back-undecided` or `check-back-unreachable`).',
                  parameters: [
                    { name: 'webhook-id', in: 'header', required: true, description: '`{msgId}-{attempt}`: the same for a question asked again after a lost answer', schema: { type: 'string' } },
                    { name: 'webhook-timestamp', in: 'header', required: true, description: 'Unix seconds', schema: { type: 'string', pattern: '^\\d+$' } },
                    { name: 'webhook-signature', in: 'header', required: true, schema: { type: 'string', example: 'v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=' } },
                  ],
                  requestBody: { required: true, content: { 'application/json': { schema: ref('CheckBackQuestion') } } },
                  responses: {
                    '200': json(ref('CheckBackAnswer'), 'the decision: commit sends the mail, cancel cancels it'),
                    default: { description: 'undecided: asked again after the backoff, dead after MAX_TRIES' },
                  },
                },
              },
            },
          },
        },
      },
      '/mail/{msgId}/commit': {
        post: {
          tags: ['two-phase'],
          operationId: 'commitMail',
          summary: 'Commit a prepared mail: it is sent',
          description:
            'The mail leaves `prepared` for `sending` and is published like any mail. Idempotent: a mail already committed (by you or by its check-back) answers `202` again.',
          parameters: [msgIdParam],
          responses: {
            '202': { ...json(ref('Committed'), 'committed: the mail is on its way'), headers: location },
            ...noBodyErrors,
            ...keyed,
            ...sameOrigin,
            '404': problem('no mail with this msgId'),
            '409': problem('the mail was cancelled (MAIL_CANCELLED), or it is dead because its check-back never decided (MAIL_NOT_PREPARED: `POST /mail/{msgId}/retry` sends it)'),
            ...dbDown,
            ...internal,
          },
        },
      },
      '/mail/{msgId}/cancel': {
        post: {
          tags: ['two-phase'],
          operationId: 'cancelMail',
          summary: 'Cancel a prepared mail: it is never sent',
          description: 'The mail leaves `prepared` for `cancelled`, which is final. Idempotent: a mail already cancelled answers `200` again.',
          parameters: [msgIdParam],
          responses: {
            '200': { ...json(ref('Cancelled'), 'cancelled'), headers: location },
            ...noBodyErrors,
            ...keyed,
            ...sameOrigin,
            '404': problem('no mail with this msgId'),
            '409': problem('the mail was committed (by you or its check-back) or was never prepared, and is being sent (MAIL_COMMITTED); or it is dead because its check-back never decided (MAIL_NOT_PREPARED)'),
            ...dbDown,
            ...internal,
          },
        },
      },
      '/check-back/secret': {
        get: {
          tags: ['two-phase'],
          operationId: 'checkBackSecret',
          summary: 'Your check-back signing secret',
          description:
            'The secret the check-backs of the mails you prepare are signed with: derived from your API key (`npm run apikey` prints it too), so it changes when the key does. ' +
            'Without API keys (development) it is the secret of the key `anonymous`.',
          responses: {
            '200': json(ref('CheckBackSecret'), 'the secret'),
            ...keyed,
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
        MailRequest: openMailRequestSchema(),
        PreparedMailRequest: preparedRequestSchema(),
        Accepted: { type: 'object', required: ['msgId', 'status'], properties: { msgId: { type: 'string' }, status: { enum: ['sending', 'scheduled'] } } },
        BatchRequest: {
          type: 'object',
          required: ['mails'],
          additionalProperties: false,
          properties: { mails: { type: 'array', minItems: 1, maxItems: BATCH_MAX, items: ref('MailRequest') } },
        },
        BatchAnswer: {
          type: 'object',
          required: ['accepted', 'rejected', 'results'],
          properties: {
            accepted: { type: 'integer', minimum: 1 },
            rejected: { type: 'integer', minimum: 0 },
            results: {
              type: 'array',
              items: { oneOf: [ref('Accepted'), { type: 'object', required: ['error'], properties: { error: ref('Problem') } }] },
            },
          },
        },
        Prepared: { type: 'object', required: ['msgId', 'status'], properties: { msgId: { type: 'string' }, status: { const: 'prepared' } } },
        Committed: { type: 'object', required: ['msgId', 'status'], properties: { msgId: { type: 'string' }, status: { const: 'committed' } } },
        Cancelled: { type: 'object', required: ['msgId', 'status'], properties: { msgId: { type: 'string' }, status: { const: 'cancelled' } } },
        CheckBackSecret: {
          type: 'object',
          required: ['secret', 'scheme'],
          properties: {
            secret: { type: 'string', pattern: '^whsec_[A-Za-z0-9+/=]+$', description: '`whsec_` and the base64 of the HMAC key' },
            scheme: { type: 'string', description: 'how the check-backs are signed' },
          },
        },
        CheckBackQuestion: {
          type: 'object',
          required: ['type', 'msgId', 'subject', 'tos', 'preparedAt', 'attempt'],
          properties: {
            type: { const: 'mail.check_back' },
            msgId: { type: 'string' },
            subject: { type: 'string' },
            tos: { type: 'array', items: { type: 'string' } },
            preparedAt: dateTime,
            attempt: { type: 'integer', minimum: 1, description: 'how many times this mail has been asked, this time included' },
          },
          example: { type: 'mail.check_back', msgId: '7294049133621248000', subject: 'Your order 4711', tos: ['someone@example.com'], preparedAt: '2026-12-03T10:00:00.000Z', attempt: 1 },
        },
        CheckBackAnswer: {
          type: 'object',
          required: ['decision'],
          properties: { decision: { enum: ['commit', 'cancel'], description: 'commit: your transaction committed, send the mail; cancel: it rolled back, never send it' } },
        },
        MailView: {
          type: 'object',
          properties: {
            msgId: { type: 'string' },
            status: { enum: STATUS_NAMES, description: statusList },
            statusCode: { type: 'integer', minimum: 0, maximum: STATUS_CODE_MAX },
            tryCount: { type: 'integer', description: 'failed tries; for a prepared mail, check-backs that decided nothing' },
            maxTries: { type: 'integer' },
            nextTryTime: { ...nullableDateTime, description: 'when the job looks at it next; for a prepared mail, when its check-back is asked' },
            createTime: dateTime,
            updateTime: dateTime,
            lastError: { type: ['string', 'null'], description: 'the last failure in a sentence' },
            failure: ref('Failure'),
            uncertainCount: { type: 'integer', description: 'sends whose SMTP outcome was unknown and that were sent again' },
            exchange: { type: 'string' },
            routingKey: { type: 'string' },
            subject: { type: ['string', 'null'] },
            tos: { type: 'array', items: { type: 'string' } },
            cc: { type: 'array', items: { type: 'string' } },
            bcc: { type: 'array', items: { type: 'string' } },
            replyTo: { type: 'array', items: { type: 'string' } },
            tags: { type: 'array', items: { type: 'string' }, description: 'as given' },
            metadata: { type: 'object', additionalProperties: { type: 'string' }, description: 'as given' },
            recipients: { type: 'array', items: ref('Recipient'), description: 'one per address of tos, cc and bcc' },
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
            state: { enum: ['pending', 'accepted', 'deferred', 'bounced', 'suppressed', 'failed', 'cancelled'], description: 'deferred: 4xx, tried again; bounced: 5xx, final; suppressed: on the suppression list, not sent to; failed: still deferred when the tries ran out; cancelled: the mail was cancelled, never sent' },
            failure: ref('Failure'),
            tries: { type: 'integer', description: 'sends that reached this recipient (0 while all recipients share one fate)' },
            updateTime: nullableDateTime,
          },
        },
        MailRow: {
          type: 'object',
          properties: {
            msgId: { type: 'string' },
            status: { enum: STATUS_NAMES, description: statusList },
            statusCode: { type: 'integer', minimum: 0, maximum: STATUS_CODE_MAX },
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
            kind: { enum: Object.keys(STEP_KINDS), description: Object.entries(STEP_KINDS).map(([k, v]) => `\`${k}\`: ${v}`).join('; ') },
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
            counts: { type: 'object', description: 'mails by status; consumed is counted apart, so it may lag by a few seconds', properties: Object.fromEntries(STATUS_NAMES.map((s) => [s, { type: 'integer' }])) },
            total: { type: 'integer' },
            backlog: { type: 'integer', description: 'mails the listener or the job still work on (sending, delivered, delivery_failed, consume_failed); prepared mails wait for their caller and are not counted' },
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
            webhooks: { type: 'boolean', description: 'WEBHOOK_URL is set: the dashboard shows its Webhooks panel' },
            scheme: { enum: ['msg-log', 'delayed-check'], description: 'RELIABILITY_SCHEME: how a lost mail is found' },
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
        ...WEBHOOK_SCHEMAS,
        ...SUPPRESSION_SCHEMAS,
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
