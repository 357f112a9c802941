// The few lines the README gives a check-back receiver verify what the product signs, and nothing else; so does the
// webhook receiver it shows, run as written against events the product builds and signs.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { formatSecret, secretOfKey, sign } from '../../src/core/signature';
import { webhookEvent } from '../../src/core/webhook-event';

type Verify = (secret: string, headers: Record<string, string>, body: string) => boolean;

function readmeVerifier(): Verify {
  const readme = readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8');
  const block = /```js\nimport \{ createHmac, timingSafeEqual \} from 'node:crypto';\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!block) throw new Error('the README no longer shows the receiver\'s verification');
  return new Function('createHmac', 'timingSafeEqual', 'Buffer', `${block}\nreturn verified;`)(createHmac, timingSafeEqual, Buffer) as Verify;
}

describe('the README\'s check-back verification', () => {
  const verified = readmeVerifier();
  const secret = secretOfKey('mdk_readme_test_key_0123456789abcdef');
  const body = '{"type":"mail.check_back","msgId":"42"}';
  const now = Math.floor(Date.now() / 1000);

  test('accepts a question the product signed with the key\'s secret', () => {
    expect(verified(formatSecret(secret), { ...sign(secret, '42-1', now, body) }, body)).toBe(true);
  });

  test('refuses another body, another secret, an old timestamp and a missing signature', () => {
    const headers = { ...sign(secret, '42-1', now, body) };
    expect(verified(formatSecret(secret), headers, body.replace('42', '43'))).toBe(false);
    expect(verified(formatSecret(secretOfKey('mdk_another_key_0123456789abcdef')), headers, body)).toBe(false);
    expect(verified(formatSecret(secret), { ...sign(secret, '42-1', now - 600, body) }, body)).toBe(false);
    expect(verified(formatSecret(secret), { 'webhook-id': '42-1', 'webhook-timestamp': String(now) }, body)).toBe(false);
  });
});

/** The README's webhook receiver, run as written: its imports given, its port moved to a free one, `handle` recorded. */
async function readmeReceiver(secretText: string): Promise<{ url: string; handled: unknown[]; close(): Promise<void> }> {
  const readme = readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8');
  const block = /```js\nimport \{ createServer \} from 'node:http';\nimport \{ createHmac, timingSafeEqual \} from 'node:crypto';\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!block) throw new Error('the README no longer shows the webhook receiver');
  const handled: unknown[] = [];
  let server: Server | undefined;
  const create = (handler: Parameters<typeof createServer>[1]) => {
    server = createServer(handler!);
    const listen = server.listen.bind(server);
    return Object.assign(server, { listen: () => listen(0, '127.0.0.1') });
  };
  new Function('createServer', 'createHmac', 'timingSafeEqual', 'Buffer', 'process', 'handle', block)(create, createHmac, timingSafeEqual, Buffer, { env: { WEBHOOK_SECRET: secretText } }, (e: unknown) => handled.push(e));
  if (!server) throw new Error('the README\'s receiver starts no server');
  await once(server, 'listening');
  const s = server;
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}/`, handled, close: () => new Promise((r) => s.close(() => r())) };
}

describe('the README\'s webhook receiver', () => {
  const secret = Buffer.alloc(32, 5);
  const event = webhookEvent({ type: 'bounced', mail: { msgId: '7294049133621248000', tags: ['welcome'], metadata: { name: 'Zoë' } }, recipient: 'nobody@example.org', tryCount: 1 });
  let receiver: Awaited<ReturnType<typeof readmeReceiver>>;
  const post = (headers: Record<string, string>, body = event.payload) => fetch(receiver.url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const now = () => Math.floor(Date.now() / 1000);

  beforeAll(async () => {
    receiver = await readmeReceiver(formatSecret(secret));
  });
  afterAll(() => receiver?.close());

  test('accepts an event the product signed, handles it once, and answers a second delivery of it without handling it again', async () => {
    expect((await post({ ...sign(secret, event.eventId, now(), event.payload) })).status).toBe(204);
    expect((await post({ ...sign(secret, event.eventId, now(), event.payload) })).status).toBe(204);
    expect(receiver.handled).toEqual([JSON.parse(event.payload)]);
  });

  test('refuses another body, another secret, an old timestamp and a missing signature with 401, handling nothing', async () => {
    const other = webhookEvent({ type: 'delivered', mail: { msgId: '7294049133621248001' }, recipient: 'a@example.com' });
    const before = receiver.handled.length;
    expect((await post({ ...sign(secret, other.eventId, now(), other.payload) }, other.payload.replace('a@example.com', 'b@example.com'))).status).toBe(401);
    expect((await post({ ...sign(Buffer.alloc(32, 6), other.eventId, now(), other.payload) }, other.payload)).status).toBe(401);
    expect((await post({ ...sign(secret, other.eventId, now() - 600, other.payload) }, other.payload)).status).toBe(401);
    expect((await post({ 'webhook-id': other.eventId, 'webhook-timestamp': String(now()) }, other.payload)).status).toBe(401);
    expect(receiver.handled.length).toBe(before);
  });
});
