// Scheduled sending (sendAt) against the real database, broker and an SMTP sink: held until its time, published
// within a second of it, cancellable until then, and sent once.
import request from 'supertest';
import { Status } from '../../src/core/status';
import { startFixture, type Fixture } from '../support/fixture';
import { rowOf } from '../support/services';
import { waitFor } from '../support/wait';

describe('scheduled sending', () => {
  let f: Fixture;
  const mail = (subject: string, sendAt?: string) => ({ subject, content: 'your reminder', tos: ['later@example.com'], ...(sendAt ? { sendAt } : {}) });
  const inMs = (ms: number) => new Date(Date.now() + ms).toISOString();
  const statusOf = async (id: string) => (await rowOf(f.db.pool, id))?.status;
  const api = () => request(f.app.url);

  beforeAll(async () => {
    f = await startFixture();
  });

  afterAll(() => f?.stop());

  test('a mail with a sendAt ahead is held as scheduled, published within a second of its time, and sent once', async () => {
    const sendAt = inMs(2_500);
    const res = await api().post('/mail/send').send(mail('scheduled', sendAt));
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ msgId: expect.stringMatching(/^\d+$/), status: 'scheduled' });
    const msgId = res.body.msgId as string;
    const view = await api().get(`/mail/${msgId}`);
    expect(view.body).toMatchObject({ status: 'scheduled', statusCode: Status.scheduled, nextTryTime: sendAt });
    await waitFor('published', async () => (await statusOf(msgId)) !== Status.scheduled, 10_000, 20);
    const publishedAt = Date.now();
    expect(publishedAt).toBeGreaterThanOrEqual(Date.parse(sendAt));
    expect(publishedAt - Date.parse(sendAt)).toBeLessThan(1_000);
    await waitFor('consumed', async () => (await statusOf(msgId)) === Status.consumed);
    expect(f.sink.countFor(msgId)).toBe(1);
    expect((await rowOf(f.db.pool, msgId))?.try_count).toBe(0);
  });

  test('a scheduled mail cancelled before its time is never sent; a mail already sent can no longer be cancelled', async () => {
    const res = await api().post('/mail/send').send(mail('cancelled before its time', inMs(2_000)));
    const msgId = res.body.msgId as string;
    const cancel = await api().post(`/mail/${msgId}/cancel`);
    expect(cancel.status).toBe(200);
    expect(cancel.body).toEqual({ msgId, status: 'cancelled' });
    const sent = await api().post('/mail/send').send(mail('sent at once'));
    await waitFor('the plain mail consumed', async () => (await statusOf(sent.body.msgId as string)) === Status.consumed);
    const late = await api().post(`/mail/${sent.body.msgId}/cancel`);
    expect(late.status).toBe(409);
    expect(late.body.code).toBe('MAIL_COMMITTED');
    // past the cancelled one's time, and a round of the job later: still cancelled, never sent
    const after = await api().post('/mail/send').send(mail('after the cancelled one', inMs(2_500)));
    await waitFor('the later scheduled mail consumed', async () => (await statusOf(after.body.msgId as string)) === Status.consumed);
    expect(await statusOf(msgId)).toBe(Status.cancelled);
    expect(f.sink.countFor(msgId)).toBe(0);
  });

  test('a sendAt that is not RFC 3339, or more than 30 days ahead, is refused; one already past sends at once', async () => {
    for (const sendAt of ['tomorrow', '2026-12-24 09:00', '2026-12-24T09:00:00', inMs(31 * 86_400_000), 42]) {
      const res = await api().post('/mail/send').send({ ...mail('bad time'), sendAt });
      expect(res.status).toBe(400);
      expect(res.body.errors).toEqual([expect.objectContaining({ field: 'sendAt' })]);
    }
    const past = await api().post('/mail/send').send(mail('already past', new Date(Date.now() - 60_000).toISOString()));
    expect(past.body.status).toBe('sending');
    await waitFor('consumed', async () => (await statusOf(past.body.msgId as string)) === Status.consumed);
  });

  test('a scheduled mail sent again with its Idempotency-Key answers the same msgId, still scheduled, and is stored once', async () => {
    const body = mail('scheduled once', inMs(60_000));
    const first = await api().post('/mail/send').set('idempotency-key', 'reminder-1').send(body);
    const again = await api().post('/mail/send').set('idempotency-key', 'reminder-1').send(body);
    expect(again.body).toEqual({ msgId: first.body.msgId, status: 'scheduled' });
    expect(again.headers['idempotent-replayed']).toBe('true');
    await api().post(`/mail/${first.body.msgId}/cancel`).expect(200);
  });

  test('a prepared mail cannot carry a sendAt (it goes out at its commit)', async () => {
    const res = await api().post('/mail/prepare').send(mail('prepared and scheduled', inMs(60_000)));
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([expect.objectContaining({ field: 'sendAt' })]);
  });

  test('a scheduled mail that came due while no due publisher ran is published by the re-delivery job, counting no try', async () => {
    const jobOnly = await f.startApp({ roles: 'job', env: { REDELIVERY_CRON: '0 0 1 1 *' } });
    // nothing but the round this test runs may publish it: no due publisher, and not the first app's job either (its
    // cron ticks every second here, and a round of its own would take the mail before the test's)
    await Promise.all([f.app.duePublisher!.stop(), jobOnly.duePublisher!.stop(), f.app.job!.stop()]);
    try {
      const res = await api().post('/mail/send').send(mail('left to the job', inMs(1_500)));
      expect(res.body.status).toBe('scheduled');
      const msgId = res.body.msgId as string;
      const isDue = async () => Number((await f.db.pool.query<{ due: number }[]>('SELECT next_try_time <= UTC_TIMESTAMP(3) AS due FROM msg_log WHERE msg_id = ?', [msgId]))[0]?.due) === 1;
      await waitFor('due by the database clock', isDue);
      expect(await statusOf(msgId)).toBe(Status.scheduled);
      const round = await jobOnly.job!.runOnce();
      expect(round.republished).toBeGreaterThanOrEqual(1);
      await waitFor('consumed', async () => (await statusOf(msgId)) === Status.consumed);
      expect((await rowOf(f.db.pool, msgId))?.try_count).toBe(0);
      expect(f.sink.countFor(msgId)).toBe(1);
    } finally {
      f.app.duePublisher!.start();
      f.app.job!.start();
    }
  });
});
