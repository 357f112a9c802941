// API keys: every route but GET/HEAD /health needs one (routes that do not exist too, so nothing can be probed);
// keys travel in headers only; two configured keys both work (rotation); a production start without keys is refused.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/config';
import { apiKeyConfigEntry } from '../../src/http/security/api-keys';
import { startFixture, type Fixture } from '../support/fixture';
import { FAST } from '../support/services';
import { KEY_A, KEY_B, SECURED, captureLogs, counts, rawRequest } from '../support/security';

const mail = { subject: 'Hello', content: 'Body', tos: 'alice@example.com' };
const body = JSON.stringify(mail);
const json = { 'content-type': 'application/json' };

describe('API keys', () => {
  let f: Fixture<'none'>;
  let db: Fixture['db'];
  let app: Fixture['app'];
  const logs = captureLogs();

  beforeAll(async () => {
    f = await startFixture({ sink: 'none', env: SECURED, overrides: { logger: logs.logger } });
    ({ db, app } = f);
  });

  afterAll(() => f?.stop());

  test('GET and HEAD /health answer without a key', async () => {
    expect((await rawRequest(app.url, { method: 'GET', path: '/health' })).status).toBe(200);
    expect((await rawRequest(app.url, { method: 'HEAD', path: '/health' })).status).toBe(200);
    expect((await rawRequest(app.url, { method: 'GET', path: '/health?x=1' })).status).toBe(200);
  });

  test.each([
    ['POST', '/mail/send'],
    ['GET', '/mail/1'],
    ['POST', '/mail/1/retry'],
    ['GET', '/ready'],
    ['GET', '/metrics'],
    ['GET', '/openapi.json'],
    ['GET', '/dashboard'],
    ['GET', '/dashboard/api/mails'],
    ['GET', '/'],
    ['GET', '/HEALTH'],
    ['POST', '/health'],
    ['GET', '/health/../ready'],
    ['GET', '//health'],
    ['OPTIONS', '/mail/send'],
    ['DELETE', '/mail/1'],
    ['GET', '/no/such/route'],
  ])('%s %s without a key → 401 problem+json with WWW-Authenticate: Bearer (and Basic, for browsers)', async (method, p) => {
    const res = await rawRequest(app.url, { method, path: p, headers: method === 'POST' ? json : {}, body: method === 'POST' ? body : undefined });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="mail-dispatch", Basic realm="mail-dispatch: enter the API key as the password"/);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
  });

  test('a wrong key is refused with error="invalid_token", in either header', async () => {
    const variants: Record<string, string>[] = [{ 'x-api-key': 'wrong-key-0123456789abcdef' }, { authorization: 'Bearer wrong-key-0123456789abcdef' }];
    for (const headers of variants) {
      const res = await rawRequest(app.url, { method: 'GET', path: '/ready', headers });
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="mail-dispatch", error="invalid_token"/);
      expect(res.body.detail).toBe('the API key is not valid');
    }
  });

  test('a key in the query string never authenticates, under any usual name, and is never echoed', async () => {
    const before = await counts(db.pool);
    for (const name of ['api_key', 'apikey', 'apiKey', 'key', 'token', 'access_token']) {
      const res = await rawRequest(app.url, { path: `/mail/send?${name}=${KEY_A}`, headers: json, body });
      expect(res.status).toBe(401);
      expect(res.body.instance).toBe('/mail/send');
      expect(res.text).not.toContain(KEY_A);
    }
    expect(await counts(db.pool)).toEqual(before);
  });

  test('both configured keys work (rotation), as Bearer (any case) or X-API-Key', async () => {
    const variants: Record<string, string>[] = [{ authorization: `Bearer ${KEY_A}` }, { authorization: `bearer ${KEY_B}` }, { 'x-api-key': KEY_A }, { 'x-api-key': KEY_B }];
    for (const headers of variants) {
      const res = await rawRequest(app.url, { path: '/mail/send', headers: { ...json, ...headers }, body });
      expect(res.status).toBe(202);
      const view = await rawRequest(app.url, { method: 'GET', path: `/mail/${res.body.msgId}`, headers });
      expect(view.status).toBe(200);
    }
    expect((await rawRequest(app.url, { method: 'GET', path: '/ready', headers: { 'x-api-key': KEY_B } })).status).toBe(200);
  });

  test('a browser presents the key as the password of Basic credentials: the dashboard and its data open', async () => {
    const basic = (user: string, key: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${key}`).toString('base64')}` });
    for (const p of ['/dashboard', '/api/mails', '/api/stats', '/ready', '/metrics']) {
      expect({ p, status: (await rawRequest(app.url, { method: 'GET', path: p, headers: basic('anyone', KEY_B) })).status }).toEqual({ p, status: 200 });
    }
    expect((await rawRequest(app.url, { method: 'GET', path: '/dashboard', headers: basic('anyone', 'not-the-key-0123456789') })).status).toBe(401);
    expect((await rawRequest(app.url, { method: 'GET', path: '/dashboard', headers: basic(KEY_A, '') })).status).toBe(401);
  });

  test('a key that differs in one character, is a prefix, or has extra characters is refused', async () => {
    for (const k of [KEY_A.slice(0, -1), `${KEY_A}x`, `${KEY_A.slice(0, -1)}${KEY_A.endsWith('v') ? 'w' : 'v'}`, KEY_A.toUpperCase(), ` ${KEY_A}x `]) {
      expect((await rawRequest(app.url, { method: 'GET', path: '/ready', headers: { 'x-api-key': k } })).status).toBe(401);
    }
  });

  test('refusals are logged with a reason, and no key (valid or not) ever appears in the logs', async () => {
    await rawRequest(app.url, { method: 'GET', path: `/ready?api_key=${KEY_B}` });
    const text = logs.text();
    expect(text).toMatch(/"reason":"key-in-query"/);
    expect(text).toMatch(/"reason":"invalid"/);
    for (const secret of [KEY_A, KEY_B, 'wrong-key-0123456789abcdef']) expect(text).not.toContain(secret);
  });

  test('after a rotation, only the keys still configured work', async () => {
    const rotated = await startFixture({ sink: 'none', env: { ...SECURED, API_KEYS: apiKeyConfigEntry(KEY_B) } });
    try {
      expect((await rawRequest(rotated.app.url, { path: '/mail/send', headers: { ...json, 'x-api-key': KEY_B }, body })).status).toBe(202);
      expect((await rawRequest(rotated.app.url, { path: '/mail/send', headers: { ...json, 'x-api-key': KEY_A }, body })).status).toBe(401);
    } finally {
      await rotated.stop();
    }
  });
});

describe('without API keys', () => {
  test('outside production the API is open, and the start logs a warning naming API_KEYS', async () => {
    const logs = captureLogs();
    const open = await startFixture({ sink: 'none', roles: 'api', overrides: { logger: logs.logger } });
    try {
      expect((await rawRequest(open.app.url, { path: '/mail/send', headers: json, body })).status).toBe(202);
      expect(logs.text()).toMatch(/"level":40[^\n]*API_KEYS is empty/);
    } finally {
      await open.stop();
    }
  });

  test('loadConfig refuses production without API_KEYS, naming the variable and how to make a key', () => {
    const env = { NODE_ENV: 'production', SMTP_URL: 'smtps://smtp.example.com' };
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(/API_KEYS: is required when NODE_ENV=production[^\n]*npm run apikey/);
    // A worker without the API role needs no key.
    expect(loadConfig({ ...env, ROLES: 'listener,job' }).API_KEYS).toEqual([]);
    expect(loadConfig({ ...env, API_KEYS: apiKeyConfigEntry(KEY_A) }).API_KEYS).toEqual([apiKeyConfigEntry(KEY_A)]);
  });

  test('a production process started without API_KEYS exits 78 with a clear message, before opening anything', async () => {
    const child = spawn(process.execPath, [require.resolve('tsx/cli'), path.resolve(__dirname, '../../src/main.ts')], {
      env: { ...process.env, ...FAST, NODE_ENV: 'production', SMTP_URL: 'smtp://127.0.0.1:9', API_KEYS: '', PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(78);
    expect(out).toMatch(/invalid configuration:\n\s+API_KEYS: is required when NODE_ENV=production/);
  });
});
