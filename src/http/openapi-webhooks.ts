// The webhooks' part of the OpenAPI 3.1 description (src/http/openapi.ts puts it in): the routes a person looks at
// and retries failed events with (src/http/dashboard/webhooks.ts), the top-level `webhooks` entry describing what a
// receiver gets (src/jobs/webhook-job.ts), and their schemas.
import { WEBHOOK_EVENT_TYPES } from '../core/webhook-event';
import { RETRY_ALL_MAX, WEBHOOK_LIST_MAX } from './dashboard/webhooks';
import { dateTime, dbDown, internal, json, keyed, problem, ref, type Json } from './openapi-parts';

const common = { ...keyed, ...dbDown, ...internal };

const TYPE_MEANING: Record<(typeof WEBHOOK_EVENT_TYPES)[number], string> = {
  delivered: 'the relay accepted the mail for this recipient',
  deferred: 'the relay answered 4xx for this recipient: the mail is tried again (one event per deferred try)',
  bounced: 'the relay refused this recipient for good (5xx)',
  suppressed: 'the recipient is on the suppression list: the mail was not sent to it',
  dead: 'the mail is dead with this recipient still pending (its tries ran out): nothing more is tried',
};

export const WEBHOOK_TAG = {
  name: 'webhooks',
  description: 'signed events for every final outcome per recipient, POSTed to WEBHOOK_URL (see `webhooks`); the events not delivered yet, and the retry of failed ones',
};

export const WEBHOOK_PATHS = {
  '/webhooks/events': {
    get: {
      tags: ['webhooks'],
      operationId: 'listWebhookEvents',
      summary: 'Webhook events not delivered yet: the counts, and the events in one state',
      description: '`pending`: waiting for a try (after a failed one, with the backoff); `failed`: their tries ran out (MAX_TRIES) and they wait for a person. The most recently changed first.',
      parameters: [
        { name: 'state', in: 'query', required: false, schema: { enum: ['pending', 'failed'], default: 'failed' } },
        { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: WEBHOOK_LIST_MAX, default: 50 } },
      ],
      responses: { '200': json(ref('WebhookEventList'), 'the counts and the events'), '400': problem('an invalid state or limit (VALIDATION_FAILED)'), ...common },
    },
  },
  '/webhooks/events/retry': {
    post: {
      tags: ['webhooks'],
      operationId: 'retryAllWebhookEvents',
      summary: 'Retry every failed webhook event',
      description: `After a receiver's outage: every failed event is pending again, due at once, with a fresh budget of tries (at most ${RETRY_ALL_MAX} per request; \`left\` says how many are still failed).`,
      responses: {
        '200': json({ type: 'object', required: ['retried', 'left'], properties: { retried: { type: 'integer' }, left: { type: 'integer' } } }, 'how many are pending again, and how many are still failed'),
        '400': problem('a malformed JSON body'),
        '403': problem('sent by a browser from a page of another origin (CROSS_SITE_REQUEST)'),
        '413': problem('the body is too large'),
        ...common,
      },
    },
  },
  '/webhooks/events/{id}/retry': {
    post: {
      tags: ['webhooks'],
      operationId: 'retryWebhookEvent',
      summary: 'Retry a failed webhook event',
      description: 'The event is pending again, due at once, with a fresh budget of tries; it keeps its webhook-id, so a receiver that got it before can tell.',
      parameters: [{ name: 'id', in: 'path', required: true, description: 'the event\'s id: the `webhook-id` its receiver got', schema: { type: 'string', maxLength: 200 } }],
      responses: {
        '200': json({ type: 'object', required: ['id', 'state'], properties: { id: { type: 'string' }, state: { const: 'pending' } } }, 'pending again'),
        '400': problem('a malformed JSON body'),
        '403': problem('sent by a browser from a page of another origin (CROSS_SITE_REQUEST)'),
        '404': problem('no webhook event with this id (WEBHOOK_EVENT_NOT_FOUND)'),
        '409': problem('the event is not failed: delivered, or its tries are still going on (WEBHOOK_EVENT_NOT_FAILED)'),
        '413': problem('the body is too large'),
        ...common,
      },
    },
  },
};

const header = (name: string, description: string, schema: Json) => ({ name, in: 'header', required: true, description, schema });

/** OpenAPI 3.1's top-level `webhooks`: what WEBHOOK_URL receives. */
export const WEBHOOKS = {
  mailOutcome: {
    post: {
      tags: ['webhooks'],
      summary: 'The outcome of a mail for one recipient',
      description:
        'POSTed to WEBHOOK_URL once for every final outcome per recipient (and per deferred try), within a second or two of it. Signed with the Standard Webhooks scheme: ' +
        '`webhook-signature` is `v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">` keyed with WEBHOOK_SECRET (without `whsec_`, base64-decoded); ' +
        'verify it over the raw body, and refuse a timestamp more than 5 minutes off. Delivered at least once: any 2xx delivers it; any other answer, a redirect (none is followed), ' +
        'no answer within WEBHOOK_TIMEOUT_MS or no connection is tried again with the mail backoff, and after MAX_TRIES the event is failed until a person retries it. ' +
        'The same event always has the same `webhook-id`: handle each id once.',
      parameters: [
        header('webhook-id', 'the event\'s id, the same on every try: `{msgId}-{type}-{hash}`', { type: 'string', maxLength: 200 }),
        header('webhook-timestamp', 'Unix seconds of this try', { type: 'string', pattern: '^\\d+$' }),
        header('webhook-signature', 'space-separated `v1,<base64>` signatures', { type: 'string', example: 'v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=' }),
      ],
      requestBody: { required: true, content: { 'application/json': { schema: ref('WebhookEvent') } } },
      responses: {
        '2XX': { description: 'delivered: not sent again' },
        default: { description: 'not delivered: tried again with the backoff, failed after MAX_TRIES' },
      },
    },
  },
};

export const WEBHOOK_SCHEMAS = {
  WebhookEvent: {
    type: 'object',
    required: ['type', 'msgId', 'recipient', 'at'],
    properties: {
      type: { enum: [...WEBHOOK_EVENT_TYPES], description: Object.entries(TYPE_MEANING).map(([k, v]) => `\`${k}\`: ${v}`).join('; ') },
      msgId: { type: 'string' },
      recipient: { type: 'string' },
      at: { ...dateTime, description: 'when the outcome was recorded' },
      tryCount: { type: 'integer', minimum: 0, description: 'the mail\'s counted tries when it happened (deferred, bounced, dead; a first send that reached the relay counts none)' },
      tags: { type: 'array', items: { type: 'string' }, description: 'the mail\'s tags, as given (left out when it had none)' },
      metadata: { type: 'object', additionalProperties: { type: 'string' }, description: 'the mail\'s metadata, as given (left out when it had none)' },
      failure: { ...ref('Failure'), description: 'the refusal or the reason, as data (deferred, bounced, suppressed, dead)' },
    },
    example: { type: 'bounced', msgId: '7294049133621248000', recipient: 'nobody@example.org', at: '2026-12-04T10:00:01.250Z', tryCount: 1, tags: ['welcome'], metadata: { userId: '42' }, failure: { kind: 'smtp-permanent', code: 550, enhanced: '5.1.1', recipient: 'nobody@example.org', command: 'RCPT TO' } },
  },
  WebhookEventRow: {
    type: 'object',
    properties: {
      id: { type: 'string', description: 'the webhook-id' },
      msgId: { type: 'string' },
      type: { enum: [...WEBHOOK_EVENT_TYPES] },
      recipient: { type: 'string' },
      state: { enum: ['pending', 'delivered', 'failed'] },
      tries: { type: 'integer', description: 'failed tries' },
      nextTryTime: { type: ['string', 'null'], format: 'date-time', description: 'when it is tried next; null once delivered or failed' },
      lastError: { type: ['string', 'null'], description: 'the last failed try in a sentence' },
      failure: {
        description: 'the last failed try as data',
        oneOf: [
          { type: 'null' },
          { type: 'object', required: ['kind', 'status'], properties: { kind: { const: 'http-status' }, status: { type: 'integer' } } },
          { type: 'object', required: ['kind', 'ms'], properties: { kind: { const: 'timeout' }, ms: { type: 'integer' } } },
          { type: 'object', required: ['kind', 'code'], properties: { kind: { const: 'unreachable' }, code: { type: 'string', example: 'ECONNREFUSED' } } },
        ],
      },
      createTime: dateTime,
      updateTime: dateTime,
    },
  },
  WebhookEventList: {
    type: 'object',
    required: ['state', 'counts', 'events'],
    properties: {
      state: { enum: ['pending', 'failed'] },
      counts: { type: 'object', properties: { pending: { type: 'integer' }, failed: { type: 'integer' } } },
      events: { type: 'array', items: ref('WebhookEventRow') },
    },
  },
};
