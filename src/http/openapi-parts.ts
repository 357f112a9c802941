// The pieces every part of the OpenAPI description shares (src/http/openapi.ts and its openapi-*.ts parts): references,
// answers, parameters, the errors each kind of route may answer, and the statuses by name.
import { z } from 'zod';
import { Status, STATUS_MEANING, type StatusName } from '../core/status';
import { IDEMPOTENCY_KEY_MAX } from './security/idempotency';

export type Json = Record<string, unknown>;

/** Every status by name, in code order (0 sending … 7 cancelled): src/core/status.ts. */
export const STATUS_NAMES = Object.keys(Status) as StatusName[];
export const STATUS_CODE_MAX = Math.max(...Object.values(Status));
export const statusList = STATUS_NAMES.map((s) => `\`${s}\` (${Status[s]}): ${STATUS_MEANING[s]}`).join('; ');

export const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
export const json = (schema: Json, description: string) => ({ description, content: { 'application/json': { schema } } });
export const problem = (description: string) => ({ $ref: '#/components/responses/Problem', description });
export const p = (description: string) => ({ description, content: { 'application/problem+json': { schema: ref('Problem') } } });
export const dateTime = { type: 'string', format: 'date-time' };
export const nullableDateTime = { type: ['string', 'null'], format: 'date-time' };
export const msgIdParam = { name: 'msgId', in: 'path', required: true, description: 'the mail\'s msgId (a snowflake id, decimal digits)', schema: { type: 'string', pattern: '^\\d{1,20}$' } };
export const tzParam = { name: 'tz', in: 'query', required: false, description: 'IANA time zone for the times in `why` sentences (default UTC)', schema: { type: 'string', example: 'Europe/Berlin' } };

/** 401 once API keys are configured; described on every route that will need a key. */
export const keyed = { '401': problem('an API key is required (when keys are configured)') };
/** 403 for a browser's request from a page of another origin, on every route that changes something (src/http/security/same-origin.ts). */
export const sameOrigin = { '403': problem('sent by a browser from a page of another origin (CROSS_SITE_REQUEST): Origin, or without it Sec-Fetch-Site, names another site') };
export const dbDown = { '503': problem('the database is unavailable') };
export const internal = { '500': problem('unexpected error') };
export const bodyErrors = { '400': problem('malformed JSON or invalid fields'), '413': problem('the body is too large') };
export const location = { Location: { description: '/mail/{msgId}', schema: { type: 'string' } } };
export const idempotencyKeyParam = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description:
    'Makes a retried request safe: the same key with the same body answers the first answer again (with `Idempotent-Replayed: true`) and stores nothing new; ' +
    'with another body, `422 IDEMPOTENCY_KEY_REUSED`; while the first is still being processed, `409 IDEMPOTENCY_KEY_IN_USE`. Keys are kept IDEMPOTENCY_TTL_HOURS, per API key and per route.',
  schema: { type: 'string', minLength: 1, maxLength: IDEMPOTENCY_KEY_MAX, example: 'order-4711' },
};
export const idempotencyErrors = {
  '409': problem('another request with this Idempotency-Key is still being processed (IDEMPOTENCY_KEY_IN_USE)'),
  '422': problem('this Idempotency-Key was used with another body (IDEMPOTENCY_KEY_REUSED), or every recipient is on the suppression list (RECIPIENTS_SUPPRESSED; in a batch, that mail\'s result)'),
  '429': problem('over a rate limit (RATE_LIMITED): requests per API key, or mails per recipient; see Retry-After'),
};
/** What a route that accepts mail (send, batch) may answer besides its success. */
export const acceptErrors = { ...bodyErrors, ...keyed, ...sameOrigin, ...idempotencyErrors, '415': problem('the body is not application/json'), ...dbDown, ...internal };
/** POST /mail/{msgId}/commit and /cancel take no body; a JSON body is parsed (and refused when malformed) like any. */
export const noBodyErrors = { '400': problem('a malformed JSON body'), '413': problem('the body is too large') };

export function html(description: string) {
  return { description, content: { 'text/html': { schema: { type: 'string' } } } };
}

/**
 * The JSON Schema of a request body, derived from the zod schema that validates it: its input side, what a client
 * sends (before trimming and splitting). Refinements and transforms (control characters, the recipient cap, the
 * stored size) cannot be said in JSON Schema: the descriptions say them. OpenAPI 3.1 names the dialect, so no `$schema`.
 */
export function requestSchema(schema: z.ZodType, docs: { properties: Record<string, string>; example: Json }): Json {
  const { $schema: _dialect, ...derived } = z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12' }) as Json;
  const properties = { ...(derived.properties as Record<string, Json>) };
  for (const [name, description] of Object.entries(docs.properties)) {
    if (!properties[name]) throw new Error(`openapi: no field ${name} in the request schema`);
    properties[name] = { ...properties[name], description };
  }
  return { ...derived, properties, example: docs.example };
}
