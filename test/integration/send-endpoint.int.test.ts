// POST /mail/send has one pipeline (src/http/send-endpoint.ts): every request to it, plain or chunked, compressed or
// not, is served ahead of Express and never reaches it. Each request below must get the answer Express's stack gave
// (the status and the problem's code), and the server counts what it handed to Express: none of them.
import { createServer, type Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { createHttpApp } from '../../src/http/app';
import { ApiLoad } from '../../src/core/api-load';
import { isSendRoute, withSendRoute } from '../../src/http/send-endpoint';
import { startFixture, type Fixture } from '../support/fixture';
import { httpDepsOf } from '../support/services';
import { KEY_A, SECURED, rawRequest } from '../support/security';

const mail = { subject: 'Hello', content: 'Body', tos: 'alice@example.com' };

interface Case {
  name: string;
  headers?: Record<string, string>;
  body: string | Buffer;
  status: number;
  /** the problem's code, for refusals */
  code?: string;
}

const deep = JSON.stringify({ ...mail, x: JSON.parse('['.repeat(20) + ']'.repeat(20)) as unknown });
const CASES: Case[] = [
  { name: 'a valid mail', body: JSON.stringify(mail), status: 202 },
  { name: 'a valid mail with charset=utf-8', headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify(mail), status: 202 },
  { name: 'a valid mail after a byte order mark', body: `\uFEFF${JSON.stringify(mail)}`, status: 202 },
  { name: 'no API key', headers: { authorization: '' }, body: JSON.stringify(mail), status: 401 },
  { name: 'a wrong API key', headers: { authorization: 'Bearer not-a-key-of-this-server' }, body: JSON.stringify(mail), status: 401 },
  { name: 'truncated JSON', body: '{"subject":', status: 400, code: 'MALFORMED_JSON' },
  { name: 'a JSON string instead of an object', body: '"hello"', status: 400, code: 'MALFORMED_JSON' },
  { name: 'whitespace only', body: '   ', status: 400, code: 'MALFORMED_JSON' },
  { name: 'an empty body', body: '', status: 400, code: 'VALIDATION_FAILED' },
  { name: 'a __proto__ key', body: '{"__proto__":{"x":1},"subject":"s","content":"c","tos":"a@example.com"}', status: 400 },
  { name: 'nesting twenty deep', body: deep, status: 400 },
  { name: 'an invalid mail', body: JSON.stringify({ ...mail, subject: '', tos: 'not an address' }), status: 400, code: 'VALIDATION_FAILED' },
  { name: 'X-Dev-Fault on a process without DEV_FAULTS', headers: { 'x-dev-fault': 'smtp-fail' }, body: JSON.stringify(mail), status: 400, code: 'DEV_FAULTS_DISABLED' },
  { name: 'an Idempotency-Key that is too long', headers: { 'idempotency-key': 'k'.repeat(300) }, body: JSON.stringify(mail), status: 400 },
  { name: 'text/plain', headers: { 'content-type': 'text/plain' }, body: JSON.stringify(mail), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  { name: 'no content type', headers: { 'content-type': '' }, body: JSON.stringify(mail), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  { name: 'a charset that is not UTF', headers: { 'content-type': 'application/json; charset=latin1' }, body: JSON.stringify(mail), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  { name: 'UTF-8 bytes declared as charset=utf-16', headers: { 'content-type': 'application/json; charset=utf-16' }, body: JSON.stringify(mail), status: 400, code: 'MALFORMED_JSON' },
  { name: 'a gzip body', headers: { 'content-encoding': 'gzip' }, body: gzipSync(JSON.stringify(mail)), status: 202 },
  { name: 'a deflate body', headers: { 'content-encoding': 'deflate' }, body: deflateSync(JSON.stringify(mail)), status: 202 },
  { name: 'a brotli body', headers: { 'content-encoding': 'br' }, body: brotliCompressSync(JSON.stringify(mail)), status: 202 },
  { name: 'a broken gzip body', headers: { 'content-encoding': 'gzip' }, body: Buffer.from('not gzip at all'), status: 400, code: 'BAD_REQUEST' },
  { name: 'an unknown content encoding', headers: { 'content-encoding': 'zstd' }, body: JSON.stringify(mail), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  { name: 'a chunked body', headers: { 'transfer-encoding': 'chunked' }, body: JSON.stringify(mail), status: 202 },
  { name: 'a body over 256 kB', body: JSON.stringify({ ...mail, content: 'x'.repeat(300_000) }), status: 413, code: 'PAYLOAD_TOO_LARGE' },
  { name: 'a chunked body over 256 kB', headers: { 'transfer-encoding': 'chunked' }, body: JSON.stringify({ ...mail, content: 'x'.repeat(300_000) }), status: 413, code: 'PAYLOAD_TOO_LARGE' },
  { name: 'a small gzip body that inflates past 256 kB', headers: { 'content-encoding': 'gzip' }, body: gzipSync(JSON.stringify({ ...mail, content: 'x'.repeat(300_000) })), status: 413, code: 'PAYLOAD_TOO_LARGE' },
];

describe('POST /mail/send: one pipeline, ahead of Express', () => {
  let f: Fixture<'none'>;
  let server: Server;
  let fellBack = 0;
  /** the sends counted for the listener to yield to (src/listener/yield-gate.ts) */
  const load = new (class extends ApiLoad {
    entered = 0;
    override enter(): void {
      this.entered++;
      super.enter();
    }
  })();
  const url = () => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  beforeAll(async () => {
    f = await startFixture({ sink: 'none', env: SECURED });
    const deps = httpDepsOf(f.app);
    const express = createHttpApp(deps);
    server = createServer(
      withSendRoute({ ...deps, apiLoad: load }, (req, res) => {
        fellBack++;
        express(req, res);
      }),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  });

  afterAll(async () => {
    await new Promise((r) => server?.close(r));
    await f?.stop();
  });

  test.each(CASES)('$name: answered $status here, never by Express', async (c) => {
    const headers: Record<string, string> = { 'content-type': 'application/json', authorization: `Bearer ${KEY_A}`, ...c.headers };
    for (const k of Object.keys(headers)) if (headers[k] === '') delete headers[k];
    const before = fellBack;
    const res = await rawRequest(url(), { path: '/mail/send', headers, body: c.body });
    expect(fellBack).toBe(before);
    expect(res.status).toBe(c.status);
    if (c.code) expect((res.body as { code?: string }).code).toBe(c.code);
    if (res.status >= 400) expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  });

  test('an accepted mail is stored once, and an Idempotency-Key replays the same msgId', async () => {
    const send = () => rawRequest(url(), { path: '/mail/send', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY_A}`, 'idempotency-key': 'same-key' }, body: JSON.stringify(mail) });
    const first = await send();
    const again = await send();
    expect(first.status).toBe(202);
    expect(first.headers.location).toBe(`/mail/${first.body.msgId}`);
    expect(again.body.msgId).toBe(first.body.msgId);
    expect(again.headers['idempotent-replayed']).toBe('true');
    const rows = await f.db.pool.query<{ n: number }[]>('SELECT COUNT(*) AS n FROM msg_log WHERE msg_id = ?', [first.body.msgId]);
    expect(Number(rows[0]!.n)).toBe(1);
  });

  test('each send counts as API load while it is answered, and none stays counted', async () => {
    const before = load.entered;
    await Promise.all(Array.from({ length: 5 }, () => rawRequest(url(), { path: '/mail/send', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY_A}` }, body: JSON.stringify(mail) })));
    expect(load.entered - before).toBe(5);
    expect(load.inFlight).toBe(0);
  });

  test('the route matches as Express matched it: POST only, any case, a trailing slash, a query string', () => {
    const req = (method: string, url: string) => ({ method, url });
    expect(isSendRoute(req('POST', '/mail/send'))).toBe(true);
    expect(isSendRoute(req('POST', '/mail/send/'))).toBe(true);
    expect(isSendRoute(req('POST', '/Mail/Send?x=1'))).toBe(true);
    expect(isSendRoute(req('PUT', '/mail/send'))).toBe(false);
    expect(isSendRoute(req('GET', '/mail/send'))).toBe(false);
    expect(isSendRoute(req('POST', '/mail/sends'))).toBe(false);
    expect(isSendRoute(req('POST', '/mail/send/x'))).toBe(false);
  });

  test('other routes still go to Express', async () => {
    const before = fellBack;
    const res = await rawRequest(url(), { method: 'GET', path: '/health', headers: {} });
    expect(res.status).toBe(200);
    expect(fellBack).toBe(before + 1);
  });
});
