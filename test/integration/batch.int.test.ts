// POST /mail/batch against the real database, broker and an SMTP sink: one transaction, one result per mail in order,
// the invalid ones left out with their problem, the whole batch one request for an Idempotency-Key.
import request from 'supertest';
import { Status } from '../../src/core/status';
import { startFixture, type Fixture } from '../support/fixture';
import { rowOf } from '../support/services';
import { waitFor } from '../support/wait';

describe('POST /mail/batch', () => {
  let f: Fixture;
  const mail = (subject: string, extra: object = {}) => ({ subject, content: 'part of a batch', tos: [`${subject.replace(/\W+/g, '.')}@example.com`], ...extra });
  const batch = (mails: unknown[], key?: string) => {
    const r = request(f.app.url).post('/mail/batch');
    return (key ? r.set('idempotency-key', key) : r).send({ mails });
  };
  const statusOf = async (id: string) => (await rowOf(f.db.pool, id))?.status;
  const rowCount = async () => Number((await f.db.pool.query<{ n: number }[]>('SELECT COUNT(*) AS n FROM msg_log'))[0]!.n);

  beforeAll(async () => {
    f = await startFixture();
  });

  afterAll(() => f?.stop());

  test('answers one result per mail in order: a msgId for each valid one (sent once, or scheduled), the problem of each invalid one', async () => {
    const sendAt = new Date(Date.now() + 60_000).toISOString();
    const res = await batch([mail('first'), { subject: 'no recipients', content: 'x' }, mail('scheduled', { sendAt }), mail('third')]);
    expect(res.status).toBe(202);
    expect(res.body.accepted).toBe(3);
    expect(res.body.rejected).toBe(1);
    const [first, invalid, scheduled, third] = res.body.results as Record<string, any>[];
    expect(first).toEqual({ msgId: expect.stringMatching(/^\d+$/), status: 'sending' });
    expect(invalid!.error).toMatchObject({ status: 400, code: 'VALIDATION_FAILED', errors: [expect.objectContaining({ field: 'tos' })] });
    expect(scheduled).toEqual({ msgId: expect.stringMatching(/^\d+$/), status: 'scheduled' });
    expect(third!.status).toBe('sending');
    for (const r of [first, third]) await waitFor('consumed', async () => (await statusOf(r!.msgId as string)) === Status.consumed);
    expect(f.sink.countFor(first!.msgId as string)).toBe(1);
    expect(f.sink.countFor(third!.msgId as string)).toBe(1);
    expect(await statusOf(scheduled!.msgId as string)).toBe(Status.scheduled);
    await request(f.app.url).post(`/mail/${scheduled!.msgId}/cancel`).expect(200);
  });

  test('500 mails are stored in one request and each is sent once; 501 are refused whole', async () => {
    const before = await rowCount();
    const tooMany = await batch(Array.from({ length: 501 }, (_, i) => mail(`too many ${i}`)));
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.errors).toEqual([expect.objectContaining({ field: 'mails', message: expect.stringContaining('at most 500') })]);
    expect(await rowCount()).toBe(before);
    const res = await batch(Array.from({ length: 500 }, (_, i) => mail(`bulk ${i}`)));
    expect(res.status).toBe(202);
    const ids = (res.body.results as { msgId: string }[]).map((r) => r.msgId);
    expect(new Set(ids).size).toBe(500);
    await waitFor('all 500 consumed', async () => ids.every((id) => f.sink.countFor(id) === 1), 60_000);
    expect(await rowCount()).toBe(before + 500);
    expect(ids.filter((id) => f.sink.countFor(id) !== 1)).toEqual([]);
  });

  test('a batch in which no mail is valid is refused with each problem named by its place, and stores nothing', async () => {
    const before = await rowCount();
    const res = await batch([{ subject: 'x' }, mail('bad\r\nsubject')]);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('VALIDATION_FAILED');
    expect((res.body.errors as { field: string }[]).map((e) => e.field)).toEqual(expect.arrayContaining(['mails[0].content', 'mails[0].tos', 'mails[1].subject']));
    for (const body of [[], 'mails', { mails: [mail('x')], extra: 1 }]) {
      const r = await request(f.app.url).post('/mail/batch').send(Array.isArray(body) ? { mails: body } : typeof body === 'string' ? { mails: body } : body);
      expect(r.status).toBe(400);
    }
    expect(await rowCount()).toBe(before);
  });

  test('a batch sent again with its Idempotency-Key gets the same answer, and nothing is stored or sent twice', async () => {
    const mails = [mail('idempotent one'), { subject: 'broken' }, mail('idempotent two')];
    const first = await batch(mails, 'batch-2026-12-01');
    const before = await rowCount();
    const again = await batch(mails, 'batch-2026-12-01');
    expect(again.status).toBe(202);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toEqual(first.body);
    expect(await rowCount()).toBe(before);
    const reused = await batch([mail('another body')], 'batch-2026-12-01');
    expect(reused.status).toBe(422);
    expect(reused.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
    const ids = (first.body.results as { msgId?: string }[]).flatMap((r) => (r.msgId ? [r.msgId] : []));
    await waitFor('both consumed', async () => ids.every((id) => f.sink.countFor(id) === 1));
  });
});
