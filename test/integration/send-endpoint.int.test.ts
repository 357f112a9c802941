// POST /mail/send is served two ways (src/http/send-endpoint.ts): plain requests on a hot path ahead of Express,
// everything else by Express. Each request below goes to a server with the hot path and to one without it, and
// the two answers must be the same; the hot server counts what it handed to Express, so each case also proves
// which way it went.
import { createServer, type Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import type { MailDispatchApp } from '../../src/app';
import { createHttpApp, createHttpServer } from '../../src/http/app';
import { ApiLoad } from '../../src/core/api-load';
import { isPlainSend, withSendHotPath } from '../../src/http/send-endpoint';
import { createTestDb, deleteTopology, httpDepsOf, startApp, testConfig, uniqueTopology, type TestDb } from '../support/services';
import { KEY_A, NO_SMTP, SECURED, rawRequest, type RawResponse } from '../support/security';

const mail = { subject: 'Hello', content: 'Body', tos: 'alice@example.com' };
const JSON_TYPE = { 'content-type': 'application/json' };
const AUTH = { authorization: `Bearer ${KEY_A}` };

interface Case {
  name: string;
  headers?: Record<string, string>;
  body: string | Buffer;
  /** true: the hot path serves it; false: it goes to Express on both servers */
  hot: boolean;
  status: number;
}

const deep = JSON.stringify({ ...mail, x: JSON.parse('['.repeat(20) + ']'.repeat(20)) as unknown });
const CASES: Case[] = [
  { name: 'a valid mail', body: JSON.stringify(mail), hot: true, status: 202 },
  { name: 'a valid mail with charset=utf-8', headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify(mail), hot: true, status: 202 },
  { name: 'a valid mail after a byte order mark', body: `\uFEFF${JSON.stringify(mail)}`, hot: true, status: 202 },
  { name: 'no API key', headers: { authorization: '' }, body: JSON.stringify(mail), hot: true, status: 401 },
  { name: 'a wrong API key', headers: { authorization: 'Bearer not-a-key-of-this-server' }, body: JSON.stringify(mail), hot: true, status: 401 },
  { name: 'truncated JSON', body: '{"subject":', hot: true, status: 400 },
  { name: 'a JSON string instead of an object', body: '"hello"', hot: true, status: 400 },
  { name: 'whitespace only', body: '   ', hot: true, status: 400 },
  { name: 'an empty body', body: '', hot: true, status: 400 },
  { name: 'a __proto__ key', body: '{"__proto__":{"x":1},"subject":"s","content":"c","tos":"a@example.com"}', hot: true, status: 400 },
  { name: 'nesting twenty deep', body: deep, hot: true, status: 400 },
  { name: 'an invalid mail', body: JSON.stringify({ ...mail, subject: '', tos: 'not an address' }), hot: true, status: 400 },
  { name: 'X-Dev-Fault on a process without DEV_FAULTS', headers: { 'x-dev-fault': 'smtp-fail' }, body: JSON.stringify(mail), hot: true, status: 400 },
  { name: 'an Idempotency-Key that is too long', headers: { 'idempotency-key': 'k'.repeat(300) }, body: JSON.stringify(mail), hot: true, status: 400 },
  { name: 'text/plain', headers: { 'content-type': 'text/plain' }, body: JSON.stringify(mail), hot: false, status: 415 },
  { name: 'UTF-8 bytes declared as charset=utf-16', headers: { 'content-type': 'application/json; charset=utf-16' }, body: JSON.stringify(mail), hot: false, status: 400 },
  { name: 'a gzip body', headers: { 'content-encoding': 'gzip' }, body: gzipSync(JSON.stringify(mail)), hot: false, status: 202 },
  { name: 'a chunked body', headers: { 'transfer-encoding': 'chunked' }, body: JSON.stringify(mail), hot: false, status: 202 },
  { name: 'a body over 256 kB', body: JSON.stringify({ ...mail, content: 'x'.repeat(300_000) }), hot: false, status: 413 },
];

/** What a client can see of an answer; ids differ between the two servers and are masked. */
function seen(r: RawResponse) {
  const mask = (v: unknown) => (typeof v === 'string' ? v.replace(/\d{6,}/g, '<id>') : v);
  const body = r.body && typeof r.body === 'object' ? Object.fromEntries(Object.entries(r.body as object).map(([k, v]) => [k, mask(v)])) : r.text;
  return {
    status: r.status,
    type: r.headers['content-type'],
    location: mask(r.headers.location),
    wwwAuthenticate: r.headers['www-authenticate'],
    retryAfter: r.headers['retry-after'],
    replayed: r.headers['idempotent-replayed'],
    body,
  };
}

describe('POST /mail/send on the hot path and through Express', () => {
  const topology = uniqueTopology();
  let db: TestDb;
  let app: MailDispatchApp;
  let hot: Server;
  let plain: Server;
  let fellBack = 0;
  /** the sends the hot path counted for the listener to yield to (src/listener/yield-gate.ts) */
  const load = new (class extends ApiLoad {
    entered = 0;
    override enter(): void {
      this.entered++;
      super.enter();
    }
  })();
  const urlOf = (s: Server) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`;

  beforeAll(async () => {
    db = await createTestDb();
    app = await startApp(testConfig(db, topology, NO_SMTP, SECURED));
    const deps = httpDepsOf(app);
    const express = createHttpApp(deps);
    hot = createServer(
      withSendHotPath({ ...deps, apiLoad: load }, (req, res) => {
        fellBack++;
        express(req, res);
      }),
    );
    plain = createHttpServer(deps, { hotPath: false });
    await Promise.all([hot, plain].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))));
  });

  afterAll(async () => {
    await Promise.all([hot, plain].map((s) => new Promise((r) => s?.close(r))));
    await app?.stop();
    await db?.drop();
    await deleteTopology(topology);
  });

  test.each(CASES)('$name: the same answer ($status) both ways, served by the hot path only when plain', async (c) => {
    const headers = { ...JSON_TYPE, ...AUTH, ...c.headers };
    if (headers.authorization === '') delete (headers as Record<string, string>).authorization;
    const before = fellBack;
    const viaHot = await rawRequest(urlOf(hot), { path: '/mail/send', headers, body: c.body });
    expect(fellBack - before).toBe(c.hot ? 0 : 1);
    const viaExpress = await rawRequest(urlOf(plain), { path: '/mail/send', headers, body: c.body });
    expect(viaHot.status).toBe(c.status);
    expect(seen(viaHot)).toEqual(seen(viaExpress));
  });

  test('an accepted mail is stored either way, and an Idempotency-Key replays the same msgId either way', async () => {
    for (const [server, key] of [
      [hot, 'same-key-hot'],
      [plain, 'same-key-express'],
    ] as const) {
      const send = () => rawRequest(urlOf(server), { path: '/mail/send', headers: { ...JSON_TYPE, ...AUTH, 'idempotency-key': key }, body: JSON.stringify(mail) });
      const first = await send();
      const again = await send();
      expect(first.status).toBe(202);
      expect(first.headers.location).toBe(`/mail/${first.body.msgId}`);
      expect(again.body.msgId).toBe(first.body.msgId);
      expect(again.headers['idempotent-replayed']).toBe('true');
      const rows = await db.pool.query<{ n: number }[]>('SELECT COUNT(*) AS n FROM msg_log WHERE msg_id = ?', [first.body.msgId]);
      expect(Number(rows[0]!.n)).toBe(1);
    }
  });

  test('each plain send counts as API load while it is answered, and none stays counted', async () => {
    const before = load.entered;
    await Promise.all(Array.from({ length: 5 }, () => rawRequest(urlOf(hot), { path: '/mail/send', headers: { ...JSON_TYPE, ...AUTH }, body: JSON.stringify(mail) })));
    expect(load.entered - before).toBe(5);
    expect(load.inFlight).toBe(0);
  });

  test('only an exact POST /mail/send with a plain JSON body and a Content-Length qualifies', () => {
    const req = (method: string, url: string, headers: Record<string, string>) => ({ method, url, headers }) as never;
    const ok = { 'content-type': 'application/json', 'content-length': '10' };
    expect(isPlainSend(req('POST', '/mail/send', ok))).toBe(true);
    expect(isPlainSend(req('POST', '/mail/send', { ...ok, 'content-type': 'application/json;charset="UTF-8"' }))).toBe(true);
    expect(isPlainSend(req('POST', '/mail/send/', ok))).toBe(false);
    expect(isPlainSend(req('POST', '/mail/send?x=1', ok))).toBe(false);
    expect(isPlainSend(req('PUT', '/mail/send', ok))).toBe(false);
    expect(isPlainSend(req('POST', '/mail/send', { ...ok, 'content-length': '262145' }))).toBe(false);
    expect(isPlainSend(req('POST', '/mail/send', { 'content-type': 'application/json' }))).toBe(false);
    expect(isPlainSend(req('POST', '/mail/send', { ...ok, 'content-encoding': 'br' }))).toBe(false);
    expect(isPlainSend(req('POST', '/mail/send', { ...ok, 'content-type': 'application/jsonp' }))).toBe(false);
  });
});
