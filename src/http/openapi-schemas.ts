// The schemas of the OpenAPI description (src/http/openapi.ts puts them in components.schemas): the request bodies
// (derived from zod, src/http/openapi-mail.ts), a mail as GET /mail/{msgId} shows it, its timeline, the dashboard's
// reads and the RFC 9457 problem.
import type { StepKind } from '../core/explain';
import { FAILURE_KINDS } from '../core/failure';
import { DEV_FAULTS } from '../core/mail-message';
import { ERRORS } from '../errors';
import { BATCH_MAX } from './batch-route';
import { openMailRequestSchema, preparedRequestSchema } from './openapi-mail';
import { bulkRetryRequestSchema } from './dashboard/requests';
import { dateTime, nullableDateTime, ref, requestSchema, STATUS_CODE_MAX, STATUS_NAMES, statusList, type Json } from './openapi-parts';
import { SUPPRESSION_SCHEMAS } from './openapi-suppressions';
import { WEBHOOK_SCHEMAS } from './openapi-webhooks';

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

export const SCHEMAS: Json = {
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
    BulkRetryRequest: requestSchema(bulkRetryRequestSchema, {
      properties: { dryRun: 'true: only count', q: 'the same search as GET /api/mails', status: 'only dead mails are retried', max: 'at most this many mails (and never more than the server\'s maximum per request)' },
      example: { dryRun: true, q: 'example.com' },
    }),
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
};
