// The documented email case end to end over HTTP: real RabbitMQ, real MariaDB, a loopback SMTP sink.
import request from 'supertest';
import { Status } from '../../src/core/status';
import { LIMITS, storedBytes, validateMailRequest } from '../../src/core/validation';
import { startFixture, type Fixture } from '../support/fixture';
import { rowOf } from '../support/services';
import { waitFor } from '../support/wait';

const mail = (subject = 'Hello from the test') => ({ subject, content: 'http://www.mark-to-win.com/tutorial/51081.html', tos: 'someone@example.com' });

describe('the documented email case over HTTP', () => {
  let f: Fixture;
  let db: Fixture['db'];
  let sink: Fixture['sink'];
  let app: Fixture['app'];

  beforeAll(async () => {
    f = await startFixture({ env: { DEV_FAULTS: 'true' } });
    ({ db, sink, app } = f);
  });

  afterAll(() => f?.stop());

  beforeEach(() => {
    sink.mode = 'accept';
  });

  const send = (body: object, fault?: string) => {
    const r = request(app.url).post('/mail/send').set('content-type', 'application/json');
    return (fault ? r.set('x-dev-fault', fault) : r).send(body);
  };
  const statusOf = async (id: string) => (await rowOf(db.pool, id))?.status;

  test('scenario 1: a mail is committed before the 202, published, consumed once, and carries its msgId as Message-ID', async () => {
    const res = await send(mail());
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ msgId: expect.stringMatching(/^\d+$/), status: 'sending' });
    const { msgId } = res.body as { msgId: string };
    expect(await rowOf(db.pool, msgId)).toBeDefined();
    await waitFor('consumed', async () => (await statusOf(msgId)) === Status.consumed);
    const row = await rowOf(db.pool, msgId);
    expect(row).toMatchObject({ try_count: 0, next_try_time: null, last_error: null, lease_until: null });
    expect(sink.countFor(msgId)).toBe(1);
    expect(sink.received.find((m) => m.msgId === msgId)?.messageId).toBe(`<${msgId}@example.com>`);
    const view = await request(app.url).get(`/mail/${msgId}`);
    expect(view.status).toBe(200);
    expect(view.body).toMatchObject({ msgId, status: 'consumed', statusCode: 3, tryCount: 0, maxTries: 3, subject: 'Hello from the test', tos: ['someone@example.com'] });
  });

  test('scenario 2: a publish that never happened leaves the row sending until the job re-delivers it to consumed', async () => {
    const res = await send(mail(), 'lose-publish');
    const { msgId } = res.body as { msgId: string };
    expect(await statusOf(msgId)).toBe(Status.sending);
    await waitFor('consumed', async () => (await statusOf(msgId)) === Status.consumed);
    expect((await rowOf(db.pool, msgId))?.try_count).toBe(1);
    expect(sink.countFor(msgId)).toBe(1);
  });

  test('scenario 2: a misrouted publish is returned by the broker, recorded as delivery_failed, and re-delivered to consumed', async () => {
    const res = await send(mail(), 'misroute');
    const { msgId } = res.body as { msgId: string };
    const failed = await waitFor('delivery_failed', async () => {
      const r = await rowOf(db.pool, msgId);
      return r?.status === Status.delivery_failed ? r : undefined;
    }, 10_000, 10);
    expect(failed.last_error).toMatch(/returned.*NO_ROUTE/);
    expect(failed.try_count).toBe(1);
    await waitFor('consumed', async () => (await statusOf(msgId)) === Status.consumed);
    expect(sink.countFor(msgId)).toBe(1);
  });

  test('a mail that fits the column only without its X-Dev-Fault is refused 400 (the fault is stored with it)', async () => {
    const base = { subject: 'big', tos: ['someone@example.com'] };
    const content = 'x'.repeat(LIMITS.storedMax - 5 - storedBytes({ ...base, content: '' }));
    expect(validateMailRequest({ ...base, content }, 50).ok).toBe(true);
    const res = await send({ ...base, content }, 'lose-publish');
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ field: 'content', message: expect.stringMatching(/too large/) }] });
  });

  test('scenario 3: an SMTP failure on every try makes the try count climb to the maximum and the row dead', async () => {
    const res = await send(mail(), 'smtp-fail');
    const { msgId } = res.body as { msgId: string };
    await waitFor('dead', async () => (await statusOf(msgId)) === Status.dead);
    const row = await rowOf(db.pool, msgId);
    expect(row).toMatchObject({ try_count: 3, next_try_time: null });
    expect(row?.last_error).toMatch(/451/);
    expect(sink.countFor(msgId)).toBe(0);
  });

  test('a real SMTP server answering 451 is retried with backoff until its tries run out', async () => {
    sink.mode = 'tempfail';
    const { msgId } = (await send(mail())).body as { msgId: string };
    const seen = new Set<number>();
    await waitFor('dead', async () => {
      const r = await rowOf(db.pool, msgId);
      if (r) seen.add(r.status);
      return r?.status === Status.dead;
    });
    expect(seen.has(Status.consume_failed)).toBe(true);
    expect((await rowOf(db.pool, msgId))?.try_count).toBe(3);
  });

  test('a permanent SMTP failure (550) makes the row dead at once, and a person can retry it to consumed', async () => {
    sink.mode = 'permfail';
    const { msgId } = (await send(mail())).body as { msgId: string };
    await waitFor('dead', async () => (await statusOf(msgId)) === Status.dead);
    const dead = await rowOf(db.pool, msgId);
    expect(dead?.try_count).toBe(1);
    expect(dead?.last_error).toMatch(/550/);
    sink.mode = 'accept';
    const retry = await request(app.url).post(`/mail/${msgId}/retry`);
    expect(retry.status).toBe(202);
    expect(retry.body).toEqual({ msgId, status: 'sending' });
    await waitFor('consumed', async () => (await statusOf(msgId)) === Status.consumed);
    expect(sink.countFor(msgId)).toBe(1);
  });

  test('an SMTP connection dropped after the mail was sent counts as uncertain, and the resend carries the same Message-ID', async () => {
    sink.mode = 'drop-after-data';
    const { msgId } = (await send(mail())).body as { msgId: string };
    await waitFor('the first copy at the sink', () => sink.countFor(msgId) === 1);
    sink.mode = 'accept';
    await waitFor('consumed', async () => (await statusOf(msgId)) === Status.consumed);
    const row = await rowOf(db.pool, msgId);
    expect(row).toMatchObject({ try_count: 1, uncertain_count: 1 });
    const copies = sink.received.filter((m) => m.msgId === msgId);
    expect(copies).toHaveLength(2);
    expect(new Set(copies.map((c) => c.messageId))).toEqual(new Set([`<${msgId}@example.com>`]));
  });

  test('retrying a mail that is not dead answers 409 problem+json and changes nothing', async () => {
    const { msgId } = (await send(mail())).body as { msgId: string };
    await waitFor('consumed', async () => (await statusOf(msgId)) === Status.consumed);
    const res = await request(app.url).post(`/mail/${msgId}/retry`);
    expect(res.status).toBe(409);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(res.body).toMatchObject({ status: 409, code: 'MAIL_NOT_DEAD' });
    expect(await statusOf(msgId)).toBe(Status.consumed);
  });

  test('an unknown msgId answers 404 problem+json', async () => {
    const res = await request(app.url).get('/mail/123456789');
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ code: 'MAIL_NOT_FOUND', status: 404 });
  });

  test('invalid requests answer 400 or 415 problem+json naming the problem, and store nothing', async () => {
    const count = async () => Number((await db.pool.query<{ n: number }[]>('SELECT COUNT(*) AS n FROM msg_log'))[0]!.n);
    const before = await count();
    const bad = await send({ subject: 'x\r\nBcc: victim@example.com', content: 'x', tos: 'not-an-address', sender: 'ceo@example.com' });
    expect(bad.status).toBe(400);
    expect(bad.headers['content-type']).toMatch(/application\/problem\+json/);
    expect((bad.body as { errors: { field: string }[] }).errors.map((e) => e.field).sort()).toEqual(['sender', 'subject', 'tos']);
    const text = await request(app.url).post('/mail/send').set('content-type', 'text/plain').send('hello');
    expect(text.status).toBe(415);
    const broken = await request(app.url).post('/mail/send').set('content-type', 'application/json').send('{"subject":');
    expect(broken.status).toBe(400);
    expect(broken.body.code).toBe('MALFORMED_JSON');
    expect(await count()).toBe(before);
  });
});
