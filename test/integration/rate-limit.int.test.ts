// Rate limits: per API key (requests per minute) and per recipient (accepted mails per hour), 429 problem+json
// with Retry-After; a refused request stores and publishes nothing; one key's or address's limit leaves others alone.
import { startFixture, type Fixture } from '../support/fixture';
import { KEY_A, KEY_B, SECURED, counts, queueDepth, rawRequest } from '../support/security';

const mailTo = (tos: string | string[], subject = 's') => JSON.stringify({ subject, content: 'c', tos });
const as = (key: string) => ({ 'content-type': 'application/json', 'x-api-key': key });

describe('rate limit per API key', () => {
  let f: Fixture<'none'>;
  let db: Fixture['db'];
  let app: Fixture['app'];

  beforeAll(async () => {
    f = await startFixture({ sink: 'none', env: { ...SECURED, RATE_LIMIT_PER_KEY: '5' } });
    ({ db, app } = f);
  });

  afterAll(() => f?.stop());

  test('the sixth request in a minute gets 429 with Retry-After; the other key and /health are not affected', async () => {
    for (let i = 0; i < 5; i++) expect((await rawRequest(app.url, { method: 'GET', path: '/ready', headers: { 'x-api-key': KEY_A } })).status).toBe(200);
    const before = await counts(db.pool);
    const res = await rawRequest(app.url, { path: '/mail/send', headers: as(KEY_A), body: mailTo('a@example.com') });
    expect(res.status).toBe(429);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ status: 429, code: 'RATE_LIMITED', detail: expect.stringMatching(/API key/) });
    const retryAfter = Number(res.headers['retry-after']);
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(12); // one token per 12 s at 5 per minute
    expect(await counts(db.pool)).toEqual(before);
    expect((await rawRequest(app.url, { path: '/mail/send', headers: as(KEY_B), body: mailTo('a@example.com') })).status).toBe(202);
    for (let i = 0; i < 20; i++) expect((await rawRequest(app.url, { method: 'GET', path: '/health' })).status).toBe(200);
  });

  test('requests without a valid key are refused with 401 and do not use up a key’s budget', async () => {
    for (let i = 0; i < 10; i++) expect((await rawRequest(app.url, { method: 'GET', path: '/ready', headers: { 'x-api-key': 'nope-nope-nope-nope-nope' } })).status).toBe(401);
  });
});

describe('rate limit per recipient', () => {
  let f: Fixture<'none'>;
  let db: Fixture['db'];
  let app: Fixture['app'];
  let topology: Fixture['topology'];

  beforeAll(async () => {
    f = await startFixture({ sink: 'none', env: { ...SECURED, RATE_LIMIT_PER_RECIPIENT: '3' } });
    ({ db, app, topology } = f);
  });

  afterAll(() => f?.stop());

  test('an address gets 3 mails an hour, whoever sends them and however its case is written; the 4th is 429, nothing stored', async () => {
    expect((await rawRequest(app.url, { path: '/mail/send', headers: as(KEY_A), body: mailTo('victim@example.com') })).status).toBe(202);
    expect((await rawRequest(app.url, { path: '/mail/send', headers: as(KEY_B), body: mailTo('Victim@Example.com') })).status).toBe(202);
    expect((await rawRequest(app.url, { path: '/mail/send', headers: as(KEY_A), body: mailTo(['other@example.com', 'victim@example.com']) })).status).toBe(202);
    await app.mail.drain(); // their publishes have settled
    const before = { ...(await counts(db.pool)), queued: await queueDepth(topology) };
    const res = await rawRequest(app.url, { path: '/mail/send', headers: as(KEY_B), body: mailTo(['fresh@example.com', 'VICTIM@example.com']) });
    expect(res.status).toBe(429);
    expect(res.body).toMatchObject({ code: 'RATE_LIMITED', detail: expect.stringMatching(/recipient/) });
    const retryAfter = Number(res.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(60); // one mail per 20 minutes at 3 per hour
    expect(retryAfter).toBeLessThanOrEqual(1200);
    await app.mail.drain(); // any publish the refused mail might have started has settled
    expect({ ...(await counts(db.pool)), queued: await queueDepth(topology) }).toEqual(before);
    // The refused mail took nothing from its other recipient: fresh@ still has all 3.
    for (let i = 0; i < 3; i++) expect((await rawRequest(app.url, { path: '/mail/send', headers: as(KEY_A), body: mailTo('fresh@example.com') })).status).toBe(202);
  });

  test('refused mails (invalid, or over the limit) do not count against their recipients', async () => {
    for (let i = 0; i < 5; i++) {
      const res = await rawRequest(app.url, { path: '/mail/send', headers: as(KEY_A), body: JSON.stringify({ subject: 'x\r\n', content: 'c', tos: 'counted@example.com' }) });
      expect(res.status).toBe(400);
    }
    for (let i = 0; i < 3; i++) expect((await rawRequest(app.url, { path: '/mail/send', headers: as(KEY_A), body: mailTo('counted@example.com') })).status).toBe(202);
    expect((await rawRequest(app.url, { path: '/mail/send', headers: as(KEY_A), body: mailTo('counted@example.com') })).status).toBe(429);
  });

  test('a mail the database could not store gives its recipients their tokens back', async () => {
    const spy = jest.spyOn(app.repo, 'insertMany').mockRejectedValueOnce(Object.assign(new Error('connection lost'), { code: 'ECONNRESET' }));
    try {
      expect((await rawRequest(app.url, { path: '/mail/send', headers: as(KEY_A), body: mailTo('refund@example.com') })).status).toBe(503);
    } finally {
      spy.mockRestore();
    }
    for (let i = 0; i < 3; i++) expect((await rawRequest(app.url, { path: '/mail/send', headers: as(KEY_A), body: mailTo('refund@example.com') })).status).toBe(202);
  });
});
