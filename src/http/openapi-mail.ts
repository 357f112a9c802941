// The mail routes' part of the OpenAPI description (src/http/openapi.ts puts it in): sending one mail or a batch,
// reading and retrying a mail, two-phase sending; and their request bodies, each derived from the zod schema that
// validates it (requestSchema), not written again here.

import { DEV_FAULTS } from '../core/mail-message';
import { LIMITS, mailRequestSchema } from '../core/validation';
import { BATCH_MAX } from './batch-route';
import { acceptErrors, bodyErrors, requestSchema, dbDown, idempotencyKeyParam, internal, json, keyed, location, msgIdParam, noBodyErrors, idempotencyErrors, problem, ref, sameOrigin, type Json } from './openapi-parts';

/** The body of POST /mail/prepare: the body of POST /mail/send plus `checkBackUrl` (checked by src/http/two-phase-routes.ts). */
export function preparedRequestSchema(): Json {
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

export function openMailRequestSchema(): Json {
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

export const MAIL_PATHS: Json = {
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
};
