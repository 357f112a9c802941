// The suppression list's part of the OpenAPI 3.1 description (src/http/openapi.ts puts it in): the routes of
// src/http/suppression-routes.ts and their schemas.
import { dbDown, internal, json, keyed, problem, ref } from './openapi-parts';

const common = { ...keyed, ...dbDown, ...internal };
const addressParam = { name: 'address', in: 'path', required: true, description: 'the address, any case', schema: { type: 'string', maxLength: 254 } };

export const SUPPRESSION_TAG = {
  name: 'suppressions',
  description:
    'recipients refused for good as unknown (5.1.x, 5.2.1, or 550/551/553 at RCPT TO): later mails are not sent to them (their outcome says `suppressed`), ' +
    'and a mail to nobody else is refused with 422 RECIPIENTS_SUPPRESSED; every instance knows within about a second',
};

export const SUPPRESSION_PATHS = {
  '/suppressions': {
    get: {
      tags: ['suppressions'],
      operationId: 'listSuppressions',
      summary: 'The suppressed addresses, in address order',
      parameters: [
        { name: 'prefix', in: 'query', required: false, description: 'only addresses starting with this', schema: { type: 'string', maxLength: 254 } },
        { name: 'after', in: 'query', required: false, description: 'the `next` of the previous page', schema: { type: 'string', maxLength: 254 } },
        { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 500, default: 100 } },
      ],
      responses: {
        '200': json({ type: 'object', required: ['total', 'suppressions', 'next'], properties: { total: { type: 'integer' }, suppressions: { type: 'array', items: ref('Suppression') }, next: { type: ['string', 'null'], description: 'pass as `after` for the next page; null on the last' } } }, 'a page'),
        ...common,
      },
    },
  },
  '/suppressions/{address}': {
    get: {
      tags: ['suppressions'],
      operationId: 'getSuppression',
      summary: 'Why an address is suppressed',
      parameters: [addressParam],
      responses: { '200': json(ref('Suppression'), 'suppressed'), '404': problem('not on the list (NOT_SUPPRESSED)'), ...common },
    },
    delete: {
      tags: ['suppressions'],
      operationId: 'liftSuppression',
      summary: 'Lift a suppression: the next mail to the address is sent',
      parameters: [addressParam],
      responses: {
        '200': json({ type: 'object', required: ['address', 'lifted'], properties: { address: { type: 'string' }, lifted: { const: true } } }, 'lifted'),
        '403': problem('sent by a browser from a page of another origin (CROSS_SITE_REQUEST)'),
        '404': problem('not on the list (NOT_SUPPRESSED)'),
        ...common,
      },
    },
  },
};

export const SUPPRESSION_SCHEMAS = {
  Suppression: {
    type: 'object',
    required: ['address', 'since', 'msgId', 'reason'],
    properties: {
      address: { type: 'string', description: 'lower-cased' },
      since: { type: 'string', format: 'date-time' },
      msgId: { type: ['string', 'null'], description: 'the mail whose refusal added it' },
      reason: { oneOf: [ref('Failure'), { type: 'null' }], description: 'the refusal, as data' },
    },
  },
};
