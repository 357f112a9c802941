// Property-based: thousands of random bodies (random JSON, near-miss mails with hostile strings and extra keys,
// raw bytes under random content types) at POST /mail/send. Never a 5xx; every refusal is problem+json with a
// catalogue code; and every row that did get stored is a mail the validation accepts, exactly as stored.
import fc from 'fast-check';
import { Agent } from 'node:http';
import { decodeMailMessage } from '../../src/core/mail-message';
import { parseAddress, validateMailRequest } from '../../src/core/validation';
import { ERRORS } from '../../src/errors';
import { startFixture, type Fixture } from '../support/fixture';
import { KEY_A, SECURED, rawRequest } from '../support/security';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 3000);
const MAX_RECIPIENTS = 50;

// Strings built from the characters that break things: CR, LF, NUL, other controls, quotes, @, commas, angle
// brackets, line/paragraph separators, a lone surrogate, non-ASCII, emoji.
const nasty = fc.constantFrom('a', 'Z', '0', ' ', '\r', '\n', '\r\n', '\u0000', '\t', '\u007f', '\u0085', '"', "'", '\\', '@', ',', ';', '<', '>', '(', ')', '[', ']', ':', '.', '-', '+', '%', 'é', '咿', '😀', '\u2028', '\u2029', '\ud800', '\ufeff', '=?utf-8?b?', 'Bcc: ', '%0d%0a');
const nastyString = fc.oneof(
  fc.string({ unit: nasty, maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ maxLength: 300 }),
  fc.constantFrom('', ' ', 's'.repeat(255), 's'.repeat(256), '咿'.repeat(22_000)),
);
const local = fc.oneof(fc.stringMatching(/^[a-z0-9._+-]{1,20}$/), fc.string({ unit: nasty, minLength: 1, maxLength: 12 }), fc.constantFrom('"a@b"', '"x,y"', 'a..b', '.a', 'a.'));
const domain = fc.oneof(fc.domain(), fc.string({ unit: nasty, maxLength: 12 }), fc.constantFrom('[127.0.0.1]', 'localhost', 'example', 'ex ample.com', 'xn--bcher-kva.example'));
const address = fc.oneof(
  fc.emailAddress(),
  fc.tuple(local, domain).map(([l, d]) => `${l}@${d}`),
  fc.tuple(nastyString, fc.emailAddress()).map(([n, e]) => `${n} <${e}>`),
  fc.tuple(fc.emailAddress(), fc.constantFrom('\r\nBcc: x@evil.com', ',', ', x@evil.com', '\u0000', ' ')).map(([e, s]) => e + s),
);
const tos = fc.oneof(address, fc.array(address, { maxLength: 8 }), fc.array(fc.emailAddress(), { minLength: 40, maxLength: 70 }), fc.array(address, { maxLength: 5 }).map((a) => a.join(',')), fc.jsonValue({ maxDepth: 2 }));
const fieldValue = fc.oneof({ weight: 6, arbitrary: nastyString }, fc.jsonValue({ maxDepth: 3 }), fc.constant(null), fc.double(), fc.constant(1e308));
const extraKey = fc.oneof(fc.constantFrom('html', 'headers', 'raw', 'attachments', 'from', 'sender', 'envelope', 'bcc', 'cc', 'replyTo', 'text', '__proto__', 'constructor', 'prototype', 'Subject', 'subject '), fc.string({ maxLength: 10 }));

/** A JSON object text written by hand, so that `__proto__` and duplicate keys reach the server as written. */
const objectText = (entries: [string, unknown][]) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`).join(',')}}`;

const nearMiss = fc
  .record(
    {
      subject: fc.oneof({ weight: 3, arbitrary: fc.string({ minLength: 1, maxLength: 60 }) }, fieldValue),
      content: fc.oneof({ weight: 3, arbitrary: fc.string({ minLength: 1, maxLength: 200 }) }, fieldValue),
      tos: fc.oneof({ weight: 3, arbitrary: fc.emailAddress() }, tos),
    },
    { requiredKeys: [] },
  )
  .chain((mail) =>
    fc.tuple(fc.constant(Object.entries(mail) as [string, unknown][]), fc.array(fc.tuple(extraKey, fc.jsonValue({ maxDepth: 2 })), { maxLength: 2 }), fc.boolean()).map(([base, extra, keepExtra]) => objectText(keepExtra ? [...base, ...extra] : base)),
  );

const contentTypes = fc.constantFrom('application/json', 'application/json; charset=utf-8', 'application/json; charset=utf-16', 'application/json; charset=latin1', 'application/json; charset="UTF-8"', 'application/merge-patch+json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', '', 'application/json; charset=utf-8; charset=ascii', '*/*', 'application/*');

describe('random bodies at POST /mail/send (fast-check)', () => {
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  let f: Fixture<'none'>;
  let db: Fixture['db'];
  let app: Fixture['app'];
  const accepted = new Set<string>();
  let requests = 0;

  beforeAll(async () => {
    f = await startFixture({ sink: 'none', env: { ...SECURED, MAX_RECIPIENTS: String(MAX_RECIPIENTS) } });
    ({ db, app } = f);
  });

  afterAll(async () => {
    agent.destroy();
    await f?.stop();
  });

  /** The properties of one answer: no 5xx, and a refusal is a problem from the catalogue. */
  async function check(headers: Record<string, string>, body: string | Buffer): Promise<void> {
    requests++;
    const res = await rawRequest(app.url, { path: '/mail/send', headers: { 'x-api-key': KEY_A, ...headers }, body, agent });
    if (res.status >= 500) throw new Error(`a ${res.status} for ${JSON.stringify(headers)} ${String(body).slice(0, 300)}: ${res.text}`);
    if (res.status === 202) {
      expect(res.body).toEqual({ msgId: expect.stringMatching(/^\d+$/), status: 'sending' });
      accepted.add(res.body.msgId);
      return;
    }
    expect([400, 413, 415]).toContain(res.status);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(Object.keys(ERRORS)).toContain(res.body.code);
    expect(res.body.status).toBe(res.status);
  }

  test(`${RUNS} near-miss mails with hostile strings and extra keys`, async () => {
    await fc.assert(fc.asyncProperty(nearMiss, (text) => check({ 'content-type': 'application/json' }, text)), { numRuns: RUNS });
  });

  test(`${Math.round(RUNS / 3)} arbitrary JSON values, some far too deep`, async () => {
    const value = fc.oneof(fc.jsonValue({ maxDepth: 6 }), fc.integer({ min: 1, max: 3000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`));
    await fc.assert(fc.asyncProperty(value, (v) => check({ 'content-type': 'application/json' }, typeof v === 'string' && v.startsWith('[') ? v : JSON.stringify(v) ?? 'null')), { numRuns: Math.round(RUNS / 3) });
  });

  test(`${Math.round(RUNS / 3)} raw byte bodies under random content types and encodings`, async () => {
    const bytes = fc.oneof(fc.uint8Array({ maxLength: 400 }), nearMiss.map((t) => Buffer.from(t, 'utf8')), nearMiss.map((t) => Buffer.from(t, 'latin1')), nearMiss.map((t) => Buffer.from(t, 'utf16le')));
    const encoding = fc.constantFrom(undefined, undefined, undefined, 'gzip', 'deflate', 'br', 'identity', 'x-nonsense');
    await fc.assert(
      fc.asyncProperty(bytes, contentTypes, encoding, (b, type, enc) => check({ ...(type ? { 'content-type': type } : {}), ...(enc ? { 'content-encoding': enc } : {}) }, Buffer.from(b))),
      { numRuns: Math.round(RUNS / 3) },
    );
  });

  test('every stored row is one of the accepted mails, and a mail the validation accepts exactly as stored', async () => {
    const rows = await db.pool.query<{ msg_id: string; msg: string }[]>('SELECT msg_id, msg FROM msg_log');
    expect(new Set(rows.map((r) => r.msg_id))).toEqual(accepted);
    for (const row of rows) {
      const m = decodeMailMessage(row.msg);
      expect(m.msgId).toBe(row.msg_id);
      const again = validateMailRequest({ subject: m.subject, content: m.content, tos: m.tos }, MAX_RECIPIENTS);
      expect(again).toEqual({ ok: true, value: { subject: m.subject, content: m.content, tos: m.tos } });
      expect(m.subject).not.toMatch(/[\r\n\u0000]/);
      for (const to of m.tos) expect(parseAddress(to)).toEqual({ ok: true, address: to });
    }
    // eslint-disable-next-line no-console
    console.log(`property test: ${requests} requests, ${accepted.size} accepted, ${rows.length} rows`);
  });
});
