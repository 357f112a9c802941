// The API first: while this process's API has many sends in flight (API_BUSY_AT), its listener keeps only
// LISTENER_YIELD_CONCURRENCY deliveries in progress and broker confirms wait to be recorded; when the API quiets
// down, the rest go. And the RabbitMQ socket's frames are coalesced per tick (src/broker/amqp-connection.ts),
// which needs amqplib's socket.
import { connect } from 'amqplib';
import type { MailDispatchApp } from '../../src/app';
import { coalesceWrites } from '../../src/broker/amqp-connection';
import { Status } from '../../src/core/status';
import { FakeMailer } from '../support/fake-mailer';
import { startFixture, type Fixture } from '../support/fixture';
import { AMQP_URL, rowOf } from '../support/services';
import { sleep, waitFor } from '../support/wait';

describe('the listener yields to a busy API', () => {
  let f: Fixture;
  // 40 ms per mail, ten lanes: more than the two deliveries a busy API leaves the listener
  const mailer = new FakeMailer(10, async (mail) => {
    await sleep(40); // fixed, the scenario: the relay takes 40 ms per mail
    return { kind: 'done', response: '250 OK', recipients: mail.envelopeTo.map((recipient) => ({ recipient, state: 'accepted' as const })) };
  });

  beforeAll(async () => {
    f = await startFixture({ env: { API_BUSY_AT: '4', LISTENER_YIELD_CONCURRENCY: '2' }, overrides: { mailer } });
  });
  afterAll(() => f?.stop());

  test('while four sends are in flight at the API, at most two deliveries are in progress; after, all go', async () => {
    const app: MailDispatchApp = f.app;
    // as if four callers were waiting for their 202s
    for (let i = 0; i < 4; i++) app.apiLoad.enter();
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push((await app.mail.send({ subject: `yield ${i}`, content: 'c', tos: ['a@example.com'] })).msgId);
    await sleep(300); // fixed, the scenario: the API stays busy for 300 ms, the window in which at most two deliveries may run
    expect(mailer.peak).toBe(2);
    expect(mailer.sent).toBeGreaterThan(0);
    expect(mailer.sent).toBeLessThan(20);

    for (let i = 0; i < 4; i++) app.apiLoad.leave();
    await waitFor('all consumed', async () => (await Promise.all(ids.map((id) => rowOf(f.db.pool, id)))).every((r) => r?.status === Status.consumed));
    expect(mailer.peak).toBeGreaterThan(2);
    expect(mailer.sent).toBe(30);
  });
});

describe('confirms wait to be recorded while the API is busy', () => {
  let f: Fixture;

  // API only, so no listener moves the rows on; FAST's publish grace of 3 s lets a confirm wait at most 750 ms.
  beforeAll(async () => {
    f = await startFixture({ roles: 'api', env: { API_BUSY_AT: '4' } });
  });
  afterAll(() => f?.stop());

  const busy = (n: number) => {
    for (let i = 0; i < n; i++) f.app.apiLoad.enter();
    return () => {
      for (let i = 0; i < n; i++) f.app.apiLoad.leave();
    };
  };
  const statusOf = async (id: string) => (await rowOf(f.db.pool, id))?.status;

  test('a confirmed mail stays sending while the API is busy, and is delivered once the API quiets down', async () => {
    const quiet = busy(4);
    let msgId: string;
    try {
      ({ msgId } = await f.app.mail.send({ subject: 'held confirm', content: 'c', tos: ['a@example.com'] }));
      await sleep(300); // fixed: a window in which the row must not move, although its confirm is in (nothing in flight)
      expect(f.app.publisher.inFlight).toBe(0);
      expect(await statusOf(msgId)).toBe(Status.sending);
    } finally {
      quiet();
    }
    await waitFor('delivered', async () => (await statusOf(msgId)) === Status.delivered, 2_000);
  });

  test('a confirm waits for a busy API at most a quarter of the publish grace, well before the job would look', async () => {
    const quiet = busy(4);
    try {
      const { msgId } = await f.app.mail.send({ subject: 'held confirm', content: 'c', tos: ['a@example.com'] });
      await sleep(300); // fixed: a window in which the row must not move while the API is busy
      expect(await statusOf(msgId)).toBe(Status.sending);
      await waitFor('delivered while still busy', async () => (await statusOf(msgId)) === Status.delivered, 2_000);
    } finally {
      quiet();
    }
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
