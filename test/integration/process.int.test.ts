// The real entry point as a process: SIGTERM while mails are in flight stops cleanly, and nothing is lost.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { createServer } from 'node:net';
import request from 'supertest';
import type { MailDispatchApp } from '../../src/app';
import { Status } from '../../src/core/status';
import { SmtpSink } from '../support/smtp-sink';
import { AMQP_URL, FAST, createTestDb, deleteTopology, startApp, testConfig, uniqueTopology, type TestDb } from '../support/services';
import { sleep, waitFor } from '../support/wait';

async function freePort(): Promise<number> {
  const srv = createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as { port: number };
  srv.close();
  return port;
}

describe('the app as a process', () => {
  const topology = uniqueTopology();
  let db: TestDb;
  let sink: SmtpSink;
  let child: ChildProcess | null = null;
  let app: MailDispatchApp | null = null;

  beforeAll(async () => {
    sink = await new SmtpSink().start();
    db = await createTestDb();
  });

  afterAll(async () => {
    child?.kill('SIGKILL');
    await app?.stop();
    await sink?.stop();
    await db?.drop();
    await deleteTopology(topology);
  });

  test('SIGTERM with mails in flight exits 0, leaves no send half-done, and every accepted mail is sent once in the end', async () => {
    const port = await freePort();
    child = spawn(process.execPath, [require.resolve('tsx/cli'), path.resolve(__dirname, '../../src/main.ts')], {
      env: {
        ...process.env,
        ...FAST,
        LISTENER_THREADS: '1', // the real entry point, with the listener on its own thread
        PORT: String(port),
        LOG_LEVEL: 'warn',
        DATABASE_URL: db.url,
        AMQP_URL,
        SMTP_URL: sink.url,
        MQ_EXCHANGE: topology.exchange,
        MQ_QUEUE: topology.queue,
        MQ_ROUTING_KEY: topology.routingKey,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const url = `http://127.0.0.1:${port}`;
    await waitFor('the process to be ready', async () => (await fetch(`${url}/ready`).catch(() => null))?.status === 200, 30_000, 200);
    const ids = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const res = await request(url).post('/mail/send').send({ subject: `sigterm ${i}`, content: 'c', tos: 'a@example.com' });
        expect(res.status).toBe(202);
        return (res.body as { msgId: string }).msgId;
      }),
    );
    // The process's own listener thread consumes: a good part is done before the signal arrives.
    const consumedByChild = await waitFor('the child to consume mails', async () => {
      const rows = await db.pool.query<{ n: number }[]>('SELECT COUNT(*) AS n FROM msg_log WHERE status = ?', [Status.consumed]);
      return Number(rows[0]!.n) >= 30 ? Number(rows[0]!.n) : 0;
    }, 20_000, 20);
    expect(consumedByChild).toBeGreaterThanOrEqual(30);
    expect(stderr).not.toMatch(/listener thread (crashed|exited)/);
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    if (code !== 0) process.stderr.write(stderr);
    expect(code).toBe(0);
    child = null;
    const held = await db.pool.query<{ n: number }[]>('SELECT COUNT(*) AS n FROM msg_log WHERE lease_until IS NOT NULL');
    expect(Number(held[0]!.n)).toBe(0);
    // A new instance finishes whatever the stopped one left; nothing was lost and nothing is sent twice.
    app = await startApp(testConfig(db, topology, sink.url));
    await waitFor('every mail consumed', async () => {
      const rows = await db.pool.query<{ n: number }[]>('SELECT COUNT(*) AS n FROM msg_log WHERE status = ?', [Status.consumed]);
      return Number(rows[0]!.n) === ids.length;
    }, 30_000, 200);
    await sleep(500);
    expect(ids.filter((id) => sink.countFor(id) !== 1)).toEqual([]);
  }, 90_000);
});
