// Database outages and several instances: the API refuses honestly, and nothing is sent twice.
import request from 'supertest';
import { Status } from '../../src/core/status';
import { connect } from 'amqplib';
import { startFixture, type Fixture } from '../support/fixture';
import { AMQP_URL } from '../support/services';
import { sleep, waitFor } from '../support/wait';

describe('outages and several instances', () => {
  // One database, one broker's names and one SMTP sink; each test starts the instances it needs.
  let f: Fixture;
  let db: Fixture['db'];
  let sink: Fixture['sink'];
  let topology: Fixture['topology'];

  beforeAll(async () => {
    f = await startFixture({ app: false });
    ({ db, sink, topology } = f);
  });

  afterAll(() => f?.stop());

  test('with the database down, POST /mail/send answers 503 problem+json and publishes nothing; it recovers when the database is back', async () => {
    const api = await f.startApp({ roles: 'api', via: ['db'] });
    const proxy = await f.proxy('db');
    await proxy.down();
    const res = await request(api.url).post('/mail/send').send({ subject: 's', content: 'c', tos: 'a@example.com' });
    expect(res.status).toBe(503);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(res.body).toMatchObject({ code: 'DATABASE_UNAVAILABLE', status: 503 });
    expect(JSON.stringify(res.body)).not.toMatch(/127\.0\.0\.1|root|password/);
    const conn = await connect(AMQP_URL);
    const ch = await conn.createChannel();
    expect((await ch.checkQueue(topology.queue)).messageCount).toBe(0);
    await conn.close();
    await proxy.up();
    const ok = await waitFor('the API to recover', async () => {
      const r = await request(api.url).post('/mail/send').send({ subject: 's', content: 'c', tos: 'a@example.com' });
      return r.status === 202 ? r : undefined;
    }, 20_000, 250);
    expect(ok.body.status).toBe('sending');
  });

  test('X-Dev-Fault is refused by a process that was not started with DEV_FAULTS', async () => {
    const api = await f.startApp({ roles: 'api' });
    const res = await request(api.url).post('/mail/send').set('x-dev-fault', 'smtp-fail').send({ subject: 's', content: 'c', tos: 'a@example.com' });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('DEV_FAULTS_DISABLED');
  });

  test('two full instances sharing one broker and one database send each of 200 mails exactly once', async () => {
    const a = await f.startApp();
    const b = await f.startApp();
    const ids: string[] = [];
    for (let i = 0; i < 200; i += 20) {
      const batch = await Promise.all(
        Array.from({ length: 20 }, (_, k) => request((k % 2 ? a : b).url).post('/mail/send').send({ subject: `pair ${i + k}`, content: 'c', tos: 'a@example.com' })),
      );
      ids.push(...batch.map((r) => (r.body as { msgId: string }).msgId));
    }
    await waitFor('all consumed', async () => {
      const rows = await db.pool.query<{ n: number }[]>(`SELECT COUNT(*) AS n FROM msg_log WHERE status = ? AND msg_id IN (${ids.map(() => '?').join(',')})`, [Status.consumed, ...ids]);
      return Number(rows[0]!.n) === ids.length;
    }, 30_000);
    await sleep(500); // fixed: a quiet period; a second copy, which must not come, would arrive now
    expect(new Set(ids).size).toBe(200);
    expect(ids.filter((id) => sink.countFor(id) !== 1)).toEqual([]);
  });
});
