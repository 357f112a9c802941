// No cross-site actions (src/http/security/same-origin.ts): a browser holding the dashboard's Basic credentials sends
// them with a form any other site makes it post. Every request that may change something, on the Express routes, the
// dashboard's API and the POST /mail/send pipeline ahead of Express, is refused with 403 CROSS_SITE_REQUEST when its
// Origin names another origin (or, without Origin, Sec-Fetch-Site says cross-site or same-site), and changes nothing;
// the same request from the app's own origin, or from no browser at all (curl), goes through. Also: GET / leads to
// the dashboard.
import { encodeMailMessage } from '../../src/core/mail-message';
import { Status } from '../../src/core/status';
import { startFixture, type Fixture } from '../support/fixture';
import { KEY_A, SECURED, counts, queueDepth, rawRequest, type RawResponse } from '../support/security';
import { insertRows } from '../support/seed-rows';
import { rowOf } from '../support/services';

/** The key as a browser holds it after the dashboard's Basic challenge: the password, any user name. */
const BROWSER_CREDENTIALS = { authorization: `Basic ${Buffer.from(`operator:${KEY_A}`).toString('base64')}` };
const FORM = { ...BROWSER_CREDENTIALS, 'content-type': 'application/x-www-form-urlencoded' };
const JSON_BODY = { ...BROWSER_CREDENTIALS, 'content-type': 'application/json' };
const EVIL = 'https://evil.example';
const mail = JSON.stringify({ subject: 'Hello', content: 'Body', tos: 'alice@example.com' });

// One API-only app with keys for the whole file.
let f: Fixture<'none'>;
let db: Fixture['db'];
let app: Fixture['app'];

beforeAll(async () => {
  f = await startFixture({ sink: 'none', env: SECURED });
  ({ db, app } = f);
});

afterAll(() => f?.stop());

describe('no cross-site actions', () => {
  let seq = 0;

  /** A mail that ran out of tries, as the table would hold it: dead, waiting for a person. */
  async function deadMail(): Promise<string> {
    const msgId = String(Date.now() * 1000 + ++seq);
    await insertRows(db.pool, f.topology, [{ msgId, msg: encodeMailMessage({ msgId, subject: 'dead', content: 'c', tos: ['dead@example.com'] }) }], { status: Status.dead, tryCount: 3, dueInMs: 3_600_000 });
    return msgId;
  }

  const retry = (msgId: string, headers: Record<string, string>) => rawRequest(app.url, { method: 'POST', path: `/mail/${msgId}/retry`, headers: { ...FORM, ...headers }, body: 'confirm=1' });

  function expectRefused(res: RawResponse, seen: RegExp): void {
    expect(res.status).toBe(403);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ status: 403, code: 'CROSS_SITE_REQUEST', type: '/problems/cross-site-request' });
    expect(res.body.detail).toMatch(seen);
  }

  async function expectStillDead(msgId: string): Promise<void> {
    expect(await rowOf(db.pool, msgId)).toMatchObject({ status: Status.dead, try_count: 3 });
  }

  test('a cross-site form post to POST /mail/:msgId/retry is refused with 403 and the mail stays dead, nothing published', async () => {
    const msgId = await deadMail();
    const depth = await queueDepth(f.topology);
    const res = await retry(msgId, { origin: EVIL });
    expectRefused(res, /https:\/\/evil\.example/);
    await expectStillDead(msgId);
    expect(await queueDepth(f.topology)).toBe(depth);
  });

  test('the same post without Origin but with Sec-Fetch-Site: cross-site (or same-site) is refused and the mail stays dead', async () => {
    const msgId = await deadMail();
    expectRefused(await retry(msgId, { 'sec-fetch-site': 'cross-site' }), /Sec-Fetch-Site: cross-site/);
    expectRefused(await retry(msgId, { 'sec-fetch-site': 'same-site' }), /Sec-Fetch-Site: same-site/);
    await expectStillDead(msgId);
  });

  test('a post with Origin: null (a sandboxed frame, a file) is refused and the mail stays dead', async () => {
    const msgId = await deadMail();
    expectRefused(await retry(msgId, { origin: 'null' }), /origin null/);
    await expectStillDead(msgId);
  });

  test('the same server under another host name or port is another origin', async () => {
    const msgId = await deadMail();
    const { port } = new URL(app.url);
    expectRefused(await retry(msgId, { origin: `http://localhost:${port}` }), /localhost/);
    expectRefused(await retry(msgId, { origin: `http://127.0.0.1:${Number(port) + 1}` }), /127\.0\.0\.1/);
    expectRefused(await retry(msgId, { origin: `https://localhost:${port}` }), /https:\/\/localhost/);
    await expectStillDead(msgId);
  });

  test('a retry from the app\'s own origin (the dashboard\'s button) goes through: 202, the mail is sending again', async () => {
    const msgId = await deadMail();
    const res = await retry(msgId, { origin: app.url, 'sec-fetch-site': 'same-origin' });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ msgId, status: 'sending' });
    expect((await rowOf(db.pool, msgId))?.status).toBe(Status.sending);
  });

  test('a retry with neither Origin nor Sec-Fetch-Site (curl, a server) goes through: 202', async () => {
    const msgId = await deadMail();
    const res = await rawRequest(app.url, { method: 'POST', path: `/mail/${msgId}/retry`, headers: { authorization: `Bearer ${KEY_A}` } });
    expect(res.status).toBe(202);
    expect((await rowOf(db.pool, msgId))?.status).toBe(Status.sending);
  });

  test('a JSON POST /mail/send with a foreign Origin is refused with 403 and stores and publishes nothing', async () => {
    const before = await counts(db.pool);
    const depth = await queueDepth(f.topology);
    expectRefused(await rawRequest(app.url, { method: 'POST', path: '/mail/send', headers: { ...JSON_BODY, origin: EVIL }, body: mail }), /https:\/\/evil\.example/);
    expectRefused(await rawRequest(app.url, { method: 'POST', path: '/mail/send', headers: { ...JSON_BODY, origin: 'null' }, body: mail }), /origin null/);
    expectRefused(await rawRequest(app.url, { method: 'POST', path: '/mail/send', headers: { ...JSON_BODY, 'sec-fetch-site': 'cross-site' }, body: mail }), /cross-site/);
    // a form post is refused as cross-site before its media type is looked at
    expectRefused(await rawRequest(app.url, { method: 'POST', path: '/mail/send', headers: { ...FORM, origin: EVIL }, body: 'subject=x' }), /evil/);
    expect(await counts(db.pool)).toEqual(before);
    expect(await queueDepth(f.topology)).toBe(depth);
  });

  test('a JSON POST /mail/send from the app\'s own origin is accepted: 202 and one row stored', async () => {
    const before = await counts(db.pool);
    const res = await rawRequest(app.url, { method: 'POST', path: '/mail/send', headers: { ...JSON_BODY, origin: app.url, 'sec-fetch-site': 'same-origin' }, body: mail });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ msgId: expect.stringMatching(/^\d+$/), status: 'sending' });
    expect((await counts(db.pool)).mails).toBe(before.mails + 1);
    expect(await rowOf(db.pool, res.body.msgId as string)).toBeDefined();
  });

  test('a POST /mail/send with neither Origin nor Sec-Fetch-Site (curl) is accepted: 202', async () => {
    const before = await counts(db.pool);
    const res = await rawRequest(app.url, { method: 'POST', path: '/mail/send', headers: { authorization: `Bearer ${KEY_A}`, 'content-type': 'application/json' }, body: mail });
    expect(res.status).toBe(202);
    expect((await counts(db.pool)).mails).toBe(before.mails + 1);
  });

  test('the dashboard\'s bulk retry refuses a foreign Origin with 403 and retries nothing', async () => {
    const msgId = await deadMail();
    const body = JSON.stringify({ dryRun: false, q: msgId });
    expectRefused(await rawRequest(app.url, { method: 'POST', path: '/api/mails/retry', headers: { ...JSON_BODY, origin: EVIL }, body }), /evil/);
    expectRefused(await rawRequest(app.url, { method: 'POST', path: '/api/mails/retry', headers: { ...JSON_BODY, 'sec-fetch-site': 'same-site' }, body }), /same-site/);
    await expectStillDead(msgId);
    // from the dashboard itself it runs
    const own = await rawRequest(app.url, { method: 'POST', path: '/api/mails/retry', headers: { ...JSON_BODY, origin: app.url }, body });
    expect(own.status).toBe(202);
    expect(own.body).toMatchObject({ retried: 1 });
    expect((await rowOf(db.pool, msgId))?.status).toBe(Status.sending);
  });

  test('other methods on any route, even one that does not exist, are refused from a foreign Origin', async () => {
    for (const [method, path] of [['DELETE', '/mail/1'], ['PUT', '/mail/1/retry'], ['PATCH', '/api/mails/1'], ['POST', '/no/such/route']] as const) {
      const res = await rawRequest(app.url, { method, path, headers: { ...BROWSER_CREDENTIALS, origin: EVIL } });
      expect({ method, path, status: res.status, code: res.body?.code }).toEqual({ method, path, status: 403, code: 'CROSS_SITE_REQUEST' });
    }
  });

  test('without a key a cross-site post is still a 401: the key is checked first', async () => {
    const msgId = await deadMail();
    const res = await rawRequest(app.url, { method: 'POST', path: `/mail/${msgId}/retry`, headers: { 'content-type': 'application/x-www-form-urlencoded', origin: EVIL }, body: 'x=1' });
    expect(res.status).toBe(401);
    await expectStillDead(msgId);
  });

  test('GET routes still answer a foreign Origin (reading changes nothing, and the browser keeps the answer from the page)', async () => {
    const msgId = await deadMail();
    const headers = { ...BROWSER_CREDENTIALS, origin: EVIL, 'sec-fetch-site': 'cross-site' };
    const mailRes = await rawRequest(app.url, { method: 'GET', path: `/mail/${msgId}`, headers });
    expect(mailRes.status).toBe(200);
    expect(mailRes.body).toMatchObject({ msgId, status: 'dead' });
    expect((await rawRequest(app.url, { method: 'GET', path: '/api/mails?status=dead', headers })).status).toBe(200);
    expect((await rawRequest(app.url, { method: 'GET', path: '/ready', headers })).status).toBe(200);
    expect((await rawRequest(app.url, { method: 'HEAD', path: '/health', headers })).status).toBe(200);
    expect((await rawRequest(app.url, { method: 'GET', path: '/dashboard', headers })).status).toBe(200);
  });
});

describe('GET /', () => {
  test('redirects to the dashboard (302 Location: /dashboard), and HEAD / answers the same without a body', async () => {
    const get = await rawRequest(app.url, { method: 'GET', path: '/', headers: BROWSER_CREDENTIALS });
    expect(get.status).toBe(302);
    expect(get.headers.location).toBe('/dashboard');
    const head = await rawRequest(app.url, { method: 'HEAD', path: '/', headers: BROWSER_CREDENTIALS });
    expect(head.status).toBe(302);
    expect(head.headers.location).toBe('/dashboard');
    expect(head.text).toBe('');
    // where it leads is the page
    const page = await rawRequest(app.url, { method: 'GET', path: get.headers.location as string, headers: BROWSER_CREDENTIALS });
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
  });

  test('needs the key like every route but /health', async () => {
    const res = await rawRequest(app.url, { method: 'GET', path: '/' });
    expect(res.status).toBe(401);
    expect(res.headers.location).toBeUndefined();
  });
});
