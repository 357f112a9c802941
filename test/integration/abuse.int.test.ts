// Hostile requests, table-driven: every one gets the expected 4xx as application/problem+json whose `code` names
// the problem, and none of them stores a row (msg_log, idempotency_key) or publishes a message.
// The app runs API-only (ROLES=api): nothing consumes the queue, so its depth counts every publish.
import { gzipSync } from 'node:zlib';
import type { ErrorCode } from '../../src/errors';
import { startFixture, type Fixture } from '../support/fixture';
import { KEY_A, SECURED, counts, queueDepth, rawRequest, type Counts, type RawResponse } from '../support/security';
import { waitFor } from '../support/wait';

const good = { subject: 'Hello', content: 'Body text', tos: 'alice@example.com' };
const json = (v: unknown) => JSON.stringify(v);
const withKey = { 'x-api-key': KEY_A };
const jsonHeaders = { ...withKey, 'content-type': 'application/json' };

interface Case {
  name: string;
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  status: number;
  code: ErrorCode;
  /** for VALIDATION_FAILED: a field named in `errors` */
  field?: string;
  /** a fragment the detail must contain */
  detail?: RegExp;
}

const send = (body: unknown, extra: Partial<Case> = {}): Pick<Case, 'headers' | 'body'> => ({ headers: jsonHeaders, body: typeof body === 'string' ? body : json(body), ...extra });
const deep = (n: number) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;
const addresses = (n: number) => Array.from({ length: n }, (_, i) => `user${i}@example.com`);

const CASES: Case[] = [
  // --- no valid API key: refused before anything else is looked at
  { name: 'no API key', headers: { 'content-type': 'application/json' }, body: json(good), status: 401, code: 'UNAUTHORIZED', detail: /Authorization: Bearer/ },
  { name: 'a wrong key in X-API-Key', headers: { 'content-type': 'application/json', 'x-api-key': 'mdk_not_a_configured_key_0000000000' }, body: json(good), status: 401, code: 'UNAUTHORIZED', detail: /not valid/ },
  { name: 'a wrong Bearer token', headers: { 'content-type': 'application/json', authorization: 'Bearer mdk_not_a_configured_key_0000000000' }, body: json(good), status: 401, code: 'UNAUTHORIZED' },
  { name: 'the valid key in the query string', path: `/mail/send?api_key=${KEY_A}`, headers: { 'content-type': 'application/json' }, body: json(good), status: 401, code: 'UNAUTHORIZED', detail: /never in the query string/ },
  { name: 'the valid key as HTTP Basic credentials', headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${KEY_A}:`).toString('base64')}` }, body: json(good), status: 401, code: 'UNAUTHORIZED' },
  { name: 'an empty Bearer token', headers: { 'content-type': 'application/json', authorization: 'Bearer ' }, body: json(good), status: 401, code: 'UNAUTHORIZED' },
  { name: 'the key hash instead of the key', headers: { 'content-type': 'application/json', 'x-api-key': SECURED.API_KEYS!.split(',')[0]! }, body: json(good), status: 401, code: 'UNAUTHORIZED' },
  { name: 'a retry without a key', path: '/mail/123/retry', headers: {}, status: 401, code: 'UNAUTHORIZED' },
  // --- not JSON, too large, badly encoded
  { name: 'text/plain', headers: { ...withKey, 'content-type': 'text/plain' }, body: 'hello', status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  { name: 'a form post', headers: { ...withKey, 'content-type': 'application/x-www-form-urlencoded' }, body: 'subject=a&content=b&tos=c%40d.com', status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  { name: 'no content-type', headers: withKey, body: json(good), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  { name: 'JSON declared as latin1', headers: { ...withKey, 'content-type': 'application/json; charset=iso-8859-1' }, body: json(good), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  { name: 'JSON declared in an unknown charset', headers: { ...withKey, 'content-type': 'application/json; charset=klingon' }, body: json(good), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  { name: 'an unsupported content-encoding', headers: { ...jsonHeaders, 'content-encoding': 'compress' }, body: json(good), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  { name: 'a gzip body that is not gzip', headers: { ...jsonHeaders, 'content-encoding': 'gzip' }, body: json(good), status: 400, code: 'BAD_REQUEST' },
  { name: 'a body over 256 kB', ...send({ ...good, content: 'x'.repeat(300_000) }), status: 413, code: 'PAYLOAD_TOO_LARGE' },
  { name: 'a gzip bomb (small on the wire, over 256 kB inflated)', headers: { ...jsonHeaders, 'content-encoding': 'gzip' }, body: gzipSync(json({ ...good, content: ' '.repeat(5_000_000) })), status: 413, code: 'PAYLOAD_TOO_LARGE' },
  { name: 'broken JSON', ...send('{"subject":'), status: 400, code: 'MALFORMED_JSON' },
  { name: 'a bare JSON string', ...send('"just a string"'), status: 400, code: 'MALFORMED_JSON' },
  { name: 'bytes that are not UTF-8 where JSON syntax is expected', headers: jsonHeaders, body: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), status: 400, code: 'MALFORMED_JSON' },
  { name: 'an empty body', headers: jsonHeaders, body: '', status: 400, code: 'VALIDATION_FAILED', field: 'subject' },
  { name: 'a JSON array', ...send([good]), status: 400, code: 'VALIDATION_FAILED', field: '(body)' },
  // --- JSON that would be dangerous further down
  { name: '__proto__ at the top', ...send('{"subject":"s","content":"c","tos":"a@example.com","__proto__":{"isAdmin":true}}'), status: 400, code: 'JSON_FORBIDDEN_KEY', detail: /__proto__/ },
  { name: '__proto__ nested in tos', ...send('{"subject":"s","content":"c","tos":[{"__proto__":{"x":1}}]}'), status: 400, code: 'JSON_FORBIDDEN_KEY', detail: /__proto__/ },
  { name: 'constructor.prototype', ...send('{"subject":"s","content":"c","tos":"a@example.com","constructor":{"prototype":{"x":1}}}'), status: 400, code: 'JSON_FORBIDDEN_KEY', detail: /constructor/ },
  { name: 'nesting 9 levels deep', ...send(deep(9)), status: 400, code: 'JSON_TOO_DEEP' },
  { name: 'nesting 50,000 levels deep', ...send(`${'['.repeat(50_000)}${']'.repeat(50_000)}`), status: 400, code: 'JSON_TOO_DEEP' },
  // --- fields that are not ours: nothing reaches nodemailer's options
  { name: 'an html body with a NUL', ...send({ ...good, html: '<img src=x onerror=alert(1)>\u0000' }), status: 400, code: 'VALIDATION_FAILED', field: 'html' },
  { name: 'a headers field', ...send({ ...good, headers: { Bcc: 'victim@example.com' } }), status: 400, code: 'VALIDATION_FAILED', field: 'headers' },
  { name: 'attachments with a file path', ...send({ ...good, attachments: [{ path: '/etc/passwd' }] }), status: 400, code: 'VALIDATION_FAILED', field: 'attachments' },
  { name: 'a raw message', ...send({ ...good, raw: 'From: ceo@example.com\r\n\r\nhi' }), status: 400, code: 'VALIDATION_FAILED', field: 'raw' },
  { name: 'a from field (the sender is fixed)', ...send({ ...good, from: 'ceo@example.com' }), status: 400, code: 'VALIDATION_FAILED', field: 'from' },
  { name: 'an envelope / sender / replyTo', ...send({ ...good, envelope: { from: 'x@evil.com' }, sender: 'x@evil.com', replyTo: 'x@evil.com' }), status: 400, code: 'VALIDATION_FAILED', field: 'envelope' },
  { name: 'a header injected through bcc', ...send({ ...good, bcc: 'victim@example.com\r\nX-Evil: 1' }), status: 400, code: 'VALIDATION_FAILED', field: 'bcc' },
  { name: 'a cc that is a display name', ...send({ ...good, cc: 'Boss <boss@example.com>' }), status: 400, code: 'VALIDATION_FAILED', field: 'cc' },
  // --- header injection and address tricks
  { name: 'CR/LF in the subject', ...send({ ...good, subject: 'hi\r\nBcc: victim@example.com' }), status: 400, code: 'VALIDATION_FAILED', field: 'subject' },
  { name: 'a bare LF at the end of the subject', ...send({ ...good, subject: 'hi\n' }), status: 400, code: 'VALIDATION_FAILED', field: 'subject' },
  { name: 'NUL in the subject', ...send({ ...good, subject: 'a\u0000b' }), status: 400, code: 'VALIDATION_FAILED', field: 'subject' },
  { name: 'NUL in the content', ...send({ ...good, content: 'a\u0000b' }), status: 400, code: 'VALIDATION_FAILED', field: 'content' },
  { name: 'CR/LF in an address', ...send({ ...good, tos: 'alice@example.com\r\nBcc: victim@example.com' }), status: 400, code: 'VALIDATION_FAILED', field: 'tos' },
  { name: 'a quoted local part hiding an @', ...send({ ...good, tos: '"victim@example.com"@evil.com' }), status: 400, code: 'VALIDATION_FAILED', field: 'tos' },
  { name: 'a quoted local part hiding a comma', ...send({ ...good, tos: '"a,b"@example.com' }), status: 400, code: 'VALIDATION_FAILED', field: 'tos' },
  { name: 'a display name', ...send({ ...good, tos: 'Alice <alice@example.com>' }), status: 400, code: 'VALIDATION_FAILED', field: 'tos' },
  { name: 'a trailing comma (an empty address)', ...send({ ...good, tos: 'alice@example.com,' }), status: 400, code: 'VALIDATION_FAILED', field: 'tos' },
  { name: 'an address with two @', ...send({ ...good, tos: 'a@b@example.com' }), status: 400, code: 'VALIDATION_FAILED', field: 'tos' },
  { name: 'an IP-literal domain', ...send({ ...good, tos: 'root@[127.0.0.1]' }), status: 400, code: 'VALIDATION_FAILED', field: 'tos' },
  // --- sizes and types
  { name: 'one recipient over MAX_RECIPIENTS (50)', ...send({ ...good, tos: addresses(51) }), status: 400, code: 'VALIDATION_FAILED', field: 'tos', detail: /at most 50/ },
  { name: '10,000 recipients', ...send({ ...good, tos: addresses(10_000) }), status: 400, code: 'VALIDATION_FAILED', field: 'tos' },
  { name: 'a subject of 256 characters', ...send({ ...good, subject: 's'.repeat(256) }), status: 400, code: 'VALIDATION_FAILED', field: 'subject' },
  { name: 'content too large to store (60,000 CJK characters)', ...send({ ...good, content: '咿'.repeat(60_000) }), status: 400, code: 'VALIDATION_FAILED', field: 'content', detail: /too large/ },
  { name: 'a huge number as subject', ...send('{"subject":1e999,"content":"c","tos":"a@example.com"}'), status: 400, code: 'VALIDATION_FAILED', field: 'subject' },
  { name: 'tos as an object', ...send({ ...good, tos: { to: 'a@example.com' } }), status: 400, code: 'VALIDATION_FAILED', field: 'tos' },
  { name: 'tos as an empty array', ...send({ ...good, tos: [] }), status: 400, code: 'VALIDATION_FAILED', field: 'tos' },
  { name: 'null subject', ...send({ ...good, subject: null }), status: 400, code: 'VALIDATION_FAILED', field: 'subject' },
  // --- headers of ours, misused
  { name: 'an Idempotency-Key with a comma (two keys)', headers: { ...jsonHeaders, 'idempotency-key': 'a, b' }, body: json(good), status: 400, code: 'INVALID_IDEMPOTENCY_KEY' },
  { name: 'an Idempotency-Key of 256 characters', headers: { ...jsonHeaders, 'idempotency-key': 'k'.repeat(256) }, body: json(good), status: 400, code: 'INVALID_IDEMPOTENCY_KEY' },
  { name: 'an empty quoted Idempotency-Key', headers: { ...jsonHeaders, 'idempotency-key': '""' }, body: json(good), status: 400, code: 'INVALID_IDEMPOTENCY_KEY' },
  { name: 'X-Dev-Fault in a process without DEV_FAULTS', headers: { ...jsonHeaders, 'x-dev-fault': 'lose-publish' }, body: json(good), status: 400, code: 'DEV_FAULTS_DISABLED' },
  // --- paths and methods
  { name: 'a broken %-escape in the path', method: 'GET', path: '/mail/%E0%A4%A', headers: withKey, status: 400, code: 'BAD_REQUEST' },
  { name: 'a retry of a msgId that is not a number', path: '/mail/1%20OR%201=1/retry', headers: withKey, status: 404, code: 'MAIL_NOT_FOUND' },
  { name: 'PUT on /mail/send', method: 'PUT', headers: jsonHeaders, body: json(good), status: 404, code: 'ROUTE_NOT_FOUND' },
];

describe('hostile requests to the API', () => {
  let f: Fixture<'none'>;
  let db: Fixture['db'];
  let app: Fixture['app'];
  let topology: Fixture['topology'];

  beforeAll(async () => {
    f = await startFixture({ sink: 'none', env: SECURED });
    ({ db, app, topology } = f);
  });

  afterAll(() => f?.stop());

  test('the table holds at least 30 bad requests', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(30);
  });

  let before: Counts;
  beforeEach(async () => {
    before = await counts(db.pool);
  });

  test.each(CASES.map((c) => [c.name, c] as const))('%s → refused, nothing stored or published', async (_name, c) => {
    const res: RawResponse = await rawRequest(app.url, { method: c.method ?? 'POST', path: c.path ?? '/mail/send', headers: c.headers, body: c.body });
    expect({ status: res.status, code: res.body?.code }).toEqual({ status: c.status, code: c.code });
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ type: expect.stringMatching(/^\/problems\//), title: expect.any(String), status: c.status, code: c.code });
    if (c.detail) expect(res.body.detail).toMatch(c.detail);
    if (c.field) expect(res.body.errors.map((e: { field: string }) => e.field).join(',').split(',')).toContain(c.field);
    if (c.status === 401) expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="mail-dispatch"/);
    // No API key is ever echoed, wherever the request put it.
    expect(res.text).not.toContain(KEY_A);
    expect(await counts(db.pool)).toEqual(before);
    expect(await queueDepth(topology)).toBe(0);
  });

  test('afterwards still nothing was published, and a good request is stored and published (the checks above can see one)', async () => {
    await app.mail.drain(); // any publish a refused request might have started has settled
    expect(await queueDepth(topology)).toBe(0);
    const res = await rawRequest(app.url, { path: '/mail/send', headers: jsonHeaders, body: json(good) });
    expect(res.status).toBe(202);
    expect((await counts(db.pool)).mails).toBe(before.mails + 1);
    await waitFor('the good mail in the queue', async () => (await queueDepth(topology)) === 1, 10_000);
  });
});
