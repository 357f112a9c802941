// Webhook events end to end: mails sent through a relay that accepts, greylists, refuses unknown addresses and
// refuses by policy; a receiver of our own that checks every signature and counts events per recipient. Every
// recipient's outcome arrives, signed, once per event id (at least once: a duplicate would carry the same id), with
// the mail's tags and metadata.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { formatSecret, verify } from '../../src/core/signature';
import { encodeMailMessage } from '../../src/core/mail-message';
import { Status } from '../../src/core/status';
import type { WebhookPayload } from '../../src/core/webhook-event';
import { startFixture, type Fixture } from '../support/fixture';
import { rowOf } from '../support/services';
import { waitFor } from '../support/wait';

interface Received {
  id: string;
  verified: boolean;
  body: WebhookPayload;
}

describe('webhook events of every recipient outcome', () => {
  let f: Fixture<'fault'>;
  let receiver: Server;
  const received: Received[] = [];
  const secret = randomBytes(32);
  const eventsOf = (msgId: string) => received.filter((r) => r.body.msgId === msgId);
  const kinds = (msgId: string) => eventsOf(msgId).map((r) => `${r.body.type}:${r.body.recipient}`).sort();

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const headers = { 'webhook-id': req.headers['webhook-id'] as string, 'webhook-timestamp': req.headers['webhook-timestamp'] as string, 'webhook-signature': req.headers['webhook-signature'] as string };
        received.push({ id: headers['webhook-id'], verified: verify(secret, headers, body), body: JSON.parse(body) as WebhookPayload });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
    f = await startFixture({ sink: 'fault', env: { WEBHOOK_URL: url, WEBHOOK_SECRET: formatSecret(secret), MAX_TRIES: '2' } });
  });

  afterEach(() => f.sink.clear());

  afterAll(async () => {
    await f?.stop();
    await new Promise((r) => receiver?.close(r));
  });

  test('a mail accepted at once gives one signed delivered event per recipient (to, cc, bcc), with its tags and metadata', async () => {
    const res = await request(f.app.url)
      .post('/mail/send')
      .send({ subject: 'Order 42', content: 'Ships today.', tos: ['a@example.com'], cc: ['b@example.com'], bcc: ['c@example.com'], tags: ['order'], metadata: { orderId: '42' } });
    const msgId = res.body.msgId as string;
    await waitFor('three events', () => eventsOf(msgId).length >= 3);
    expect(kinds(msgId)).toEqual(['delivered:a@example.com', 'delivered:b@example.com', 'delivered:c@example.com']);
    expect(eventsOf(msgId).every((e) => e.verified)).toBe(true);
    expect(eventsOf(msgId)[0]!.body).toMatchObject({ type: 'delivered', msgId, tags: ['order'], metadata: { orderId: '42' }, at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    expect(new Set(eventsOf(msgId).map((e) => e.id)).size).toBe(3);
  });

  test('recipients parting ways each get theirs: delivered, bounced with the refusal as data, and deferred then delivered', async () => {
    let greylisted = false;
    f.sink.rcpt = ({ to }) => {
      if (to === 'gone@example.com') return 'permfail';
      if (to === 'later@example.com' && !greylisted) return ((greylisted = true), 'tempfail');
      return undefined;
    };
    const res = await request(f.app.url).post('/mail/send').send({ subject: 'Parting', content: 'c', tos: ['ok@example.com', 'gone@example.com', 'later@example.com'] });
    const msgId = res.body.msgId as string;
    await waitFor('consumed', async () => (await rowOf(f.db.pool, msgId))?.status === Status.consumed, 20_000);
    await waitFor('four events', () => eventsOf(msgId).length >= 4);
    expect(kinds(msgId)).toEqual(['bounced:gone@example.com', 'deferred:later@example.com', 'delivered:later@example.com', 'delivered:ok@example.com']);
    expect(eventsOf(msgId).find((e) => e.body.type === 'bounced')!.body.failure).toMatchObject({ kind: 'smtp-permanent', code: 550, enhanced: '5.1.1', recipient: 'gone@example.com' });
    expect(eventsOf(msgId).find((e) => e.body.type === 'deferred')!.body).toMatchObject({ tryCount: 1, failure: { code: 450 } });
    expect(eventsOf(msgId).every((e) => e.verified)).toBe(true);
  });

  test('a suppressed recipient gets a suppressed event, and a mail whose tries run out gets dead for each recipient still failing', async () => {
    const suppressed = await request(f.app.url).post('/mail/send').send({ subject: 'Again', content: 'c', tos: ['gone@example.com', 'ok@example.com'] });
    await waitFor('two events', () => eventsOf(suppressed.body.msgId).length >= 2);
    expect(kinds(suppressed.body.msgId)).toEqual(['delivered:ok@example.com', 'suppressed:gone@example.com']);

    f.sink.rcpt = ({ to }) => (to === 'busy@example.com' ? 'tempfail' : undefined);
    const dying = await request(f.app.url).post('/mail/send').send({ subject: 'Busy', content: 'c', tos: ['busy@example.com'] });
    const msgId = dying.body.msgId as string;
    await waitFor('dead', async () => (await rowOf(f.db.pool, msgId))?.status === Status.dead, 20_000);
    await waitFor('two events', () => eventsOf(msgId).length >= 2);
    expect(kinds(msgId)).toEqual(['dead:busy@example.com', 'deferred:busy@example.com']);
    expect(eventsOf(msgId).find((e) => e.body.type === 'dead')!.body).toMatchObject({ tryCount: 2, failure: { kind: 'smtp-transient', code: 450 } });
  });

  test('a mail the job gives up on (published, never consumed, its tries spent) tells each recipient it is dead', async () => {
    // the state a mail is in when its last publish reached no listener: delivered, overdue, one try left
    const msgId = `9${Date.now()}`;
    const msg = encodeMailMessage({ msgId, subject: 'Lost', content: 'c', tos: ['x@example.com', 'y@example.com'] });
    await f.db.pool.query(
      `INSERT INTO msg_log (msg_id, msg, exchange, routing_key, status, try_count, next_try_time, create_time, update_time)
       VALUES (?, ?, '', '', ?, 1, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))`,
      [msgId, msg, Status.delivered],
    );
    await waitFor('dead', async () => (await rowOf(f.db.pool, msgId))?.status === Status.dead, 20_000);
    await waitFor('two events', () => eventsOf(msgId).length >= 2);
    expect(kinds(msgId)).toEqual(['dead:x@example.com', 'dead:y@example.com']);
    expect(eventsOf(msgId)[0]!.body).toMatchObject({ tryCount: 2, failure: { kind: 'not-consumed' } });
  });
});
