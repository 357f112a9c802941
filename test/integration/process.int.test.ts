// The real entry point as a process: SIGTERM while mails are in flight stops cleanly, and nothing is lost.
import request from 'supertest';
import { Status } from '../../src/core/status';
import { startFixture, type Fixture } from '../support/fixture';
import { sleep, waitFor } from '../support/wait';

describe('the app as a process', () => {
  let f: Fixture;
  let db: Fixture['db'];
  let sink: Fixture['sink'];

  beforeAll(async () => {
    f = await startFixture({ app: false });
    ({ db, sink } = f);
  });

  afterAll(() => f?.stop());

  test('SIGTERM with mails in flight exits 0, leaves no send half-done, and every accepted mail is sent once in the end', async () => {
    // the real entry point, with the listener on its own thread; started once its /ready answers 200
    const child = await f.child({ env: { LISTENER_THREADS: '1' } });
    const url = child.url;
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
    expect(child.log).not.toMatch(/listener thread (crashed|exited)/);
    const { code } = await child.kill('SIGTERM');
    if (code !== 0) process.stderr.write(child.log);
    expect(code).toBe(0);
    const held = await db.pool.query<{ n: number }[]>('SELECT COUNT(*) AS n FROM msg_log WHERE lease_until IS NOT NULL');
    expect(Number(held[0]!.n)).toBe(0);
    // A new instance finishes whatever the stopped one left; nothing was lost and nothing is sent twice.
    await f.startApp();
    await waitFor('every mail consumed', async () => {
      const rows = await db.pool.query<{ n: number }[]>('SELECT COUNT(*) AS n FROM msg_log WHERE status = ?', [Status.consumed]);
      return Number(rows[0]!.n) === ids.length;
    }, 30_000, 200);
    await sleep(500); // fixed: a quiet period; a second copy, which must not come, would arrive now
    expect(ids.filter((id) => sink.countFor(id) !== 1)).toEqual([]);
  }, 90_000);
});
