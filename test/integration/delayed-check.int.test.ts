// RELIABILITY_SCHEME=delayed-check end to end against the real broker and database: the mail and its check message,
// the listener's confirmation, the callback service's verdict, the producer's resend, and the bounds on it.
import request from 'supertest';
import { encodeMailMessage } from '../../src/core/mail-message';
import { Status } from '../../src/core/status';
import { startFixture, type Fixture } from '../support/fixture';
import { createTestDb, rowOf, uniqueName, uniqueTopology, type TestDb } from '../support/services';
import { insertRows } from '../support/seed-rows';
import { sleep, waitFor } from '../support/wait';

const CHECK_DELAY_MS = 1_000;
const SCHEME = { RELIABILITY_SCHEME: 'delayed-check', CHECK_DELAY_MS: String(CHECK_DELAY_MS), DEV_FAULTS: 'true' };

describe('the delayed-check scheme', () => {
  let f: Fixture;
  const send = (url: string, fault?: string) => {
    const r = request(url).post('/mail/send');
    if (fault) r.set('x-dev-fault', fault);
    return r.send({ subject: `dc ${uniqueName('m')}`, content: 'c', tos: 'a@example.com' }).expect(202).then((res) => res.body.msgId as string);
  };
  const confirmed = async (pool: Fixture['db']['pool'], msgId: string) => (await pool.query<unknown[]>('SELECT 1 FROM callback_confirmation WHERE msg_id = ?', [msgId])).length === 1;
  const metric = async (url: string, line: RegExp) => Number(((await request(url).get('/metrics')).text.match(line) ?? [])[1] ?? NaN);
  const statusesOf = async (pool: Fixture['db']['pool'], msgId: string) =>
    (await pool.query<{ to_status: number }[]>('SELECT to_status FROM msg_event WHERE msg_id = ? ORDER BY id', [msgId])).map((e) => Number(e.to_status));

  beforeAll(async () => {
    f = await startFixture({ app: false, topology: { ...uniqueTopology(), checkDelayMs: CHECK_DELAY_MS }, env: SCHEME });
  });
  afterAll(() => f?.stop());

  test('a mail is sent once, the row is written by the API only once, and its check finds the listener confirmation', async () => {
    const app = await f.startApp();
    const msgId = await send(app.url);
    await waitFor('the check to find the confirmation', async () => (await metric(app.url, /^mail_checks_total\{verdict="confirmed"\} (\d+)/m)) >= 1, 15_000);
    expect(f.sink.countFor(msgId)).toBe(1);
    expect(await confirmed(f.db.pool, msgId)).toBe(true);
    // sending -> consumed: no `delivered` step (the confirm is not recorded in this scheme)
    expect(await statusesOf(f.db.pool, msgId)).not.toContain(Status.delivered);
    expect((await rowOf(f.db.pool, msgId))!.status).toBe(Status.consumed);
    await app.stop();
  });

  test('a lost publish is sent again once its check finds no confirmation, within about the check delay', async () => {
    const app = await f.startApp();
    const started = Date.now();
    const msgId = await send(app.url, 'lose-publish');
    await waitFor('the resent mail at the sink', () => f.sink.countFor(msgId) === 1, 15_000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(CHECK_DELAY_MS);
    await waitFor('the mail consumed', async () => (await rowOf(f.db.pool, msgId))!.status === Status.consumed);
    expect((await rowOf(f.db.pool, msgId))!.try_count).toBe(1);
    const [resent] = await f.db.pool.query<{ error: string }[]>('SELECT error FROM msg_event WHERE msg_id = ? AND try_count = 1 AND error IS NOT NULL', [msgId]);
    expect(JSON.parse(resent!.error)).toMatchObject({ kind: 'unconfirmed' });
    expect(await metric(app.url, /^mail_resend_requests_total\{action="resend"\} (\d+)/m)).toBeGreaterThanOrEqual(1);
    await app.stop();
  });

  test('a lost confirmation asks for a resend that the producer declines: the mail is sent once', async () => {
    const app = await f.startApp();
    const msgId = await send(app.url, 'lose-confirmation');
    await waitFor('the mail consumed', async () => (await rowOf(f.db.pool, msgId))?.status === Status.consumed);
    await waitFor('the producer to answer the resend request', async () => (await metric(app.url, /^mail_resend_requests_total\{action="none"\} (\d+)/m)) >= 1, 15_000);
    expect(f.sink.countFor(msgId)).toBe(1);
    expect((await rowOf(f.db.pool, msgId))!.try_count).toBe(0);
    expect(await confirmed(f.db.pool, msgId)).toBe(false);
    await app.stop();
  });

  test('a lost check costs nothing while the mail itself arrives: sent once, no resend asked', async () => {
    const app = await f.startApp();
    const msgId = await send(app.url, 'lose-check');
    await waitFor('the mail consumed', async () => (await rowOf(f.db.pool, msgId))?.status === Status.consumed);
    // fixed, a negative window: the lost check would have come due one check delay after the publish; twice that, and
    // no resend was asked nor a second copy sent
    await sleep(CHECK_DELAY_MS * 2);
    expect(f.sink.countFor(msgId)).toBe(1);
    expect(await metric(app.url, /^mail_checks_total\{verdict="resend"\} (\d+)/m)).toBe(0);
    await app.stop();
  });

  test('resends are bounded: a mail nobody consumes ends dead after MAX_TRIES with the failure unconfirmed', async () => {
    const app = await f.startApp({ roles: 'api,job,callback' });
    const msgId = await send(app.url);
    const row = await waitFor('the mail dead', async () => {
      const r = await rowOf(f.db.pool, msgId);
      return r?.status === Status.dead ? r : undefined;
    }, 20_000);
    expect(row.try_count).toBe(3);
    expect(JSON.parse(row.last_error!)).toMatchObject({ kind: 'unconfirmed' });
    const res = await request(app.url).get(`/mail/${msgId}`).expect(200);
    expect(res.body).toMatchObject({ status: 'dead' });
    await app.stop();
    // what it published stays with the broker: a listener started now sends the mail at most once, never after it is dead
    const listener = await f.startApp({ roles: 'listener' });
    await sleep(1_000); // fixed, a negative window: a second in which the listener takes the copies and sends none
    expect(f.sink.countFor(msgId)).toBe(0);
    await listener.stop();
  });

  test('rows a killed process committed but never published are checked when an instance starts, and sent once', async () => {
    const msgIds = [1, 2].map((i) => `9${Date.now()}${i}`);
    await insertRows(f.db.pool, f.topology, msgIds.map((msgId) => ({ msgId, msg: encodeMailMessage({ msgId, subject: 'killed', content: 'c', tos: ['a@example.com'] }) })), { dueInMs: 60_000 });
    const app = await f.startApp();
    for (const msgId of msgIds) await waitFor(`${msgId} at the sink`, () => f.sink.countFor(msgId) === 1, 15_000);
    await app.stop();
  });

  test('the faults that drop check messages and confirmations are offered and accepted only in this scheme', async () => {
    const checked = await f.startApp({ roles: 'api' });
    expect((await request(checked.url).get('/api/info').expect(200)).body).toMatchObject({ scheme: 'delayed-check', devFaults: expect.arrayContaining(['lose-check', 'lose-confirmation']) });
    const logged = await f.startApp({ roles: 'api', env: { ...SCHEME, RELIABILITY_SCHEME: 'msg-log' } });
    expect((await request(logged.url).get('/api/info').expect(200)).body.devFaults).not.toContain('lose-check');
    const res = await request(logged.url).post('/mail/send').set('x-dev-fault', 'lose-check').send({ subject: 's', content: 'c', tos: 'a@example.com' });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ field: 'X-Dev-Fault', message: 'played only with RELIABILITY_SCHEME=delayed-check' }]);
    await Promise.all([checked.stop(), logged.stop()]);
  });

  test('the callback service keeps its table in a database of its own when CALLBACK_DATABASE_URL says so', async () => {
    const own: TestDb = await createTestDb(undefined, 'mdcallback');
    try {
      const app = await f.startApp({ env: { ...SCHEME, CALLBACK_DATABASE_URL: own.url } });
      const msgId = await send(app.url);
      await waitFor('the confirmation in the callback database', () => confirmed(own.pool, msgId), 15_000);
      expect(await confirmed(f.db.pool, msgId)).toBe(false);
      await app.stop();
    } finally {
      await own.drop();
    }
  });
});
