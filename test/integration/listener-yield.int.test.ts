// The API first: while this process's API has many sends in flight, its listener keeps only
// LISTENER_YIELD_CONCURRENCY deliveries in progress; when the API quiets down, the rest go. And the RabbitMQ
// socket's frames are coalesced per tick (src/broker/amqp-connection.ts), which needs amqplib's socket.
import { connect } from 'amqplib';
import type { MailDispatchApp } from '../../src/app';
import { coalesceWrites } from '../../src/broker/amqp-connection';
import { Status } from '../../src/core/status';
import type { Mailer, OutgoingMail, SendResult } from '../../src/mail/mailer';
import { AMQP_URL, rowOf, startFixture, type Fixture } from '../support/services';
import { sleep, waitFor } from '../support/wait';

/** A mailer that takes 40 ms per mail and remembers how many sends ran at once. */
class SlowMailer implements Mailer {
  active = 0;
  peak = 0;
  sent = 0;
  async send(mail: OutgoingMail): Promise<SendResult> {
    this.active++;
    this.peak = Math.max(this.peak, this.active);
    await sleep(40);
    this.active--;
    this.sent++;
    return { accepted: mail.to, rejected: [], response: '250 OK' };
  }
  async verify(): Promise<void> {}
  async close(): Promise<void> {}
}

describe('the listener yields to a busy API', () => {
  let f: Fixture;
  const mailer = new SlowMailer();

  beforeAll(async () => {
    f = await startFixture({ LISTENER_YIELD_AT: '4', LISTENER_YIELD_CONCURRENCY: '2' }, { mailer });
  });
  afterAll(() => f?.stop());

  test('while four sends are in flight at the API, at most two deliveries are in progress; after, all go', async () => {
    const app: MailDispatchApp = f.app;
    // as if four callers were waiting for their 202s
    for (let i = 0; i < 4; i++) app.apiLoad.enter();
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push((await app.mail.send({ subject: `yield ${i}`, content: 'c', tos: ['a@example.com'] })).msgId);
    await sleep(300);
    expect(mailer.peak).toBe(2);
    expect(mailer.sent).toBeGreaterThan(0);
    expect(mailer.sent).toBeLessThan(20);

    for (let i = 0; i < 4; i++) app.apiLoad.leave();
    await waitFor('all consumed', async () => (await Promise.all(ids.map((id) => rowOf(f.db.pool, id)))).every((r) => r?.status === Status.consumed));
    expect(mailer.peak).toBeGreaterThan(2);
    expect(mailer.sent).toBe(30);
  });
});

test("coalescing finds amqplib's socket, and a burst of publishes in one tick is still confirmed", async () => {
  const model = await connect(AMQP_URL);
  try {
    expect(coalesceWrites(model)).toBe(true);
    const ch = await model.createConfirmChannel();
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    for (let i = 0; i < 200; i++) ch.sendToQueue(q, Buffer.from(String(i)), { persistent: true });
    await ch.waitForConfirms();
    expect((await ch.checkQueue(q)).messageCount).toBe(200);
  } finally {
    await model.close();
  }
});
