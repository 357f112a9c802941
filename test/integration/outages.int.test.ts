// Database outages and several instances: the API refuses honestly, and nothing is sent twice.
import request from 'supertest';
import type { MailDispatchApp } from '../../src/app';
import { Status } from '../../src/core/status';
import { parseDatabaseUrl } from '../../src/store/db';
import { SmtpSink } from '../support/smtp-sink';
import { connect } from 'amqplib';
import { AMQP_URL, createTestDb, deleteTopology, startApp, testConfig, uniqueTopology, type TestDb } from '../support/services';
import { TcpProxy } from '../support/tcp-proxy';
import { sleep, waitFor } from '../support/wait';

describe('outages and several instances', () => {
  const topology = uniqueTopology();
  let db: TestDb;
  let sink: SmtpSink;
  const apps: MailDispatchApp[] = [];

  beforeAll(async () => {
    sink = await new SmtpSink().start();
    db = await createTestDb();
  });

  afterAll(async () => {
    for (const app of apps) await app.stop();
    await sink?.stop();
    await db?.drop();
    await deleteTopology(topology);
  });

  test('with the database down, POST /mail/send answers 503 problem+json and publishes nothing; it recovers when the database is back', async () => {
    const t = parseDatabaseUrl(db.url);
    const proxy = await new TcpProxy(t.host, t.port).start();
    const viaProxy = { ...db, url: `mysql://${t.user}@127.0.0.1:${proxy.port}/${t.database}` };
    const api = await startApp(testConfig(viaProxy, topology, sink.url, { ROLES: 'api' }));
    apps.push(api);
    try {
      proxy.down();
      const res = await request(api.url).post('/mail/send').send({ subject: 's', content: 'c', tos: 'a@example.com' });
      expect(res.status).toBe(503);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(res.body).toMatchObject({ code: 'DATABASE_UNAVAILABLE', status: 503 });
      expect(JSON.stringify(res.body)).not.toMatch(/127\.0\.0\.1|root|password/);
      const conn = await connect(AMQP_URL);
      const ch = await conn.createChannel();
      expect((await ch.checkQueue(topology.queue)).messageCount).toBe(0);
      await conn.close();
      proxy.up();
      const ok = await waitFor('the API to recover', async () => {
        const r = await request(api.url).post('/mail/send').send({ subject: 's', content: 'c', tos: 'a@example.com' });
        return r.status === 202 ? r : undefined;
      }, 20_000, 250);
      expect(ok.body.status).toBe('sending');
    } finally {
      await proxy.stop();
    }
  });

  test('X-Dev-Fault is refused by a process that was not started with DEV_FAULTS', async () => {
    const api = await startApp(testConfig(db, topology, sink.url, { ROLES: 'api' }));
    apps.push(api);
    const res = await request(api.url).post('/mail/send').set('x-dev-fault', 'smtp-fail').send({ subject: 's', content: 'c', tos: 'a@example.com' });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('DEV_FAULTS_DISABLED');
  });

  test('two full instances sharing one broker and one database send each of 200 mails exactly once', async () => {
    const a = await startApp(testConfig(db, topology, sink.url));
    const b = await startApp(testConfig(db, topology, sink.url));
    apps.push(a, b);
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
    await sleep(500);
    expect(new Set(ids).size).toBe(200);
    expect(ids.filter((id) => sink.countFor(id) !== 1)).toEqual([]);
  });
});
