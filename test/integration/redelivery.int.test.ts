// The re-delivery job against the real database and broker: racing instances, in-flight confirms, exhausted tries.
import { connect, type Channel, type ChannelModel } from 'amqplib';
import type { MailDispatchApp } from '../../src/app';
import { encodeMailMessage } from '../../src/core/mail-message';
import { Status } from '../../src/core/status';
import { SQL } from '../../src/store/sql';
import { startFixture, type Fixture } from '../support/fixture';
import { insertRows } from '../support/seed-rows';
import { AMQP_URL, rowOf } from '../support/services';
import { waitFor } from '../support/wait';

// Job-only instances whose cron never fires on its own: the test runs the rounds.
const JOB_ONLY = { roles: 'job', env: { REDELIVERY_CRON: '0 0 1 1 *', REDELIVERY_BATCH: '100' } };

describe('the re-delivery job', () => {
  let f: Fixture;
  let topology: Fixture['topology'];
  let db: Fixture['db'];
  let a: MailDispatchApp;
  let b: MailDispatchApp;
  let amqp: ChannelModel;
  let ch: Channel;

  // Each test its own database and broker names, and two instances on them.
  beforeEach(async () => {
    f = await startFixture(JOB_ONLY);
    ({ topology, db, app: a } = f);
    b = await f.startApp();
    amqp = await connect(AMQP_URL);
    ch = await amqp.createChannel();
  });

  afterEach(async () => {
    await amqp?.close();
    await f?.stop();
  });

  /** Inserts rows directly, as a table with history would hold them (test/support/seed-rows.ts). */
  async function seed(n: number, status: number, opts: { tryCount?: number; dueInMs?: number } = {}): Promise<string[]> {
    const base = Date.now() * 1000;
    const rows = Array.from({ length: n }, (_, i) => {
      const msgId = String(base + i);
      return { msgId, msg: encodeMailMessage({ msgId, subject: 's', content: 'c', tos: ['a@example.com'] }) };
    });
    await insertRows(db.pool, topology, rows, { status, tryCount: opts.tryCount ?? 1, dueInMs: opts.dueInMs ?? -60_000 });
    return rows.map((r) => r.msgId);
  }

  test('two instances racing over the same 1,000 due rows publish each row exactly once', async () => {
    const ids = await seed(1000, Status.consume_failed);
    const [ra, rb] = await Promise.all([a.job!.runOnce(), b.job!.runOnce()]);
    expect(ra.republished + rb.republished).toBe(1000);
    expect(ra.confirmed + rb.confirmed).toBe(1000);
    expect(ra.republished).toBeGreaterThan(0);
    expect(rb.republished).toBeGreaterThan(0);
    const counts = new Map<string, number>();
    for (;;) {
      const m = await ch.get(topology.queue, { noAck: true });
      if (!m) break;
      counts.set(m.properties.messageId, (counts.get(m.properties.messageId) ?? 0) + 1);
    }
    expect(counts.size).toBe(1000);
    expect([...counts.values()].every((c) => c === 1)).toBe(true);
    const delivered = await db.pool.query<{ n: number }[]>('SELECT COUNT(*) AS n FROM msg_log WHERE status = ? AND try_count = 1', [Status.delivered]);
    expect(Number(delivered[0]!.n)).toBe(ids.length);
  });

  test('a row whose confirm may still be in flight is left alone until its publish grace has passed', async () => {
    const [msgId] = await seed(1, Status.sending, { tryCount: 0, dueInMs: 60_000 });
    const round = await a.job!.runOnce();
    expect(round.republished).toBe(0);
    expect(await rowOf(db.pool, msgId!)).toMatchObject({ status: Status.sending, try_count: 0 });
  });

  test('a sending row past its grace counts the missing confirm as a try and is re-published', async () => {
    const [msgId] = await seed(1, Status.sending, { tryCount: 0 });
    expect((await a.job!.runOnce()).republished).toBe(1);
    await waitFor('delivered', async () => (await rowOf(db.pool, msgId!))?.status === Status.delivered);
    expect((await rowOf(db.pool, msgId!))?.try_count).toBe(1);
  });

  test('a due row whose last try is spent becomes dead instead of being re-published', async () => {
    const [msgId] = await seed(1, Status.sending, { tryCount: 2 });
    const round = await a.job!.runOnce();
    expect(round).toMatchObject({ republished: 0, dead: 1 });
    const row = await rowOf(db.pool, msgId!);
    expect(row).toMatchObject({ status: Status.dead, try_count: 3, next_try_time: null });
    expect(JSON.parse(row!.last_error!)).toEqual({ kind: 'no-confirm' });
  });

  test('a row whose send lease expired with no outcome is counted as uncertain and re-published', async () => {
    const [msgId] = await seed(1, Status.delivered, { tryCount: 0 });
    await db.pool.query("UPDATE msg_log SET lease_owner = 'crashed:1', lease_until = UTC_TIMESTAMP(3) - INTERVAL 1 SECOND WHERE msg_id = ?", [msgId]);
    expect((await a.job!.runOnce()).republished).toBe(1);
    const row = await rowOf(db.pool, msgId!);
    expect(row?.try_count).toBe(1);
    expect(JSON.parse(row!.last_error!)).toEqual({ kind: 'lease-lost' });
    expect(row?.lease_until).toBeNull();
    expect(row?.uncertain_count).toBe(1);
  });

  test('consumed and dead rows are never picked up, however old', async () => {
    await seed(50, Status.consumed);
    await seed(50, Status.dead);
    expect(await a.job!.runOnce()).toMatchObject({ republished: 0, dead: 0 });
  });

  test('the due-row query walks the next_try_time index, even when every row is due', async () => {
    await seed(200, Status.consume_failed);
    const plan = await db.pool.query<{ key: string | null; type: string }[]>(`EXPLAIN ${SQL.selectDueForUpdate}`, [500]);
    expect(plan[0]).toMatchObject({ key: 'idx_msg_log_next_try_time', type: 'range' });
  });
});
