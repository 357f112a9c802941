// The transactional outbox (src/outbox) against the real database and broker: the mail commits with the caller's
// rows or not at all, the relay publishes it within a second of the commit, and a caller killed at any step leaves
// either one mail or none.
import { spawn } from 'node:child_process';
import path from 'node:path';
import request from 'supertest';
import { decodeMsgId } from '../../src/core/ids';
import { Status } from '../../src/core/status';
import { createOutbox, OutboxValidationError, type Outbox } from '../../src/outbox';
import { createPrisma } from '../../src/store/prisma';
import { parseDatabaseUrl } from '../../src/store/db';
import type { PoolConnection } from 'mariadb';
import { startFixture, type Fixture } from '../support/fixture';
import { rowOf } from '../support/services';
import { waitFor } from '../support/wait';

describe('the transactional outbox', () => {
  let f: Fixture;
  let outbox: Outbox;
  const mail = (subject: string) => ({ subject, content: 'welcome aboard', tos: ['new.user@example.com'] });
  const statusOf = async (id: string) => (await rowOf(f.db.pool, id))?.status;
  const businessRows = async (note: string) => Number((await f.db.pool.query<{ n: number }[]>('SELECT COUNT(*) AS n FROM outbox_business WHERE note = ?', [note]))[0]!.n);

  beforeAll(async () => {
    f = await startFixture();
    await f.db.pool.query('CREATE TABLE outbox_business (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(200) NOT NULL)');
    outbox = await createOutbox({ databaseUrl: f.db.url, exchange: f.topology.exchange, routingKey: f.topology.routingKey });
  });

  afterAll(async () => {
    await outbox?.close();
    await f?.stop();
  });

  /** The caller's own transaction on a mariadb connection, ended by a commit or a rollback. */
  async function inTransaction<T>(end: 'commit' | 'rollback', work: (conn: PoolConnection) => Promise<T>): Promise<T> {
    const conn = await f.db.pool.getConnection();
    try {
      await conn.beginTransaction();
      const result = await work(conn);
      await (end === 'commit' ? conn.commit() : conn.rollback());
      return result;
    } finally {
      await conn.release();
    }
  }

  /** A mail sent after the others and consumed: the relay and the job have had their rounds since. */
  async function fence(): Promise<void> {
    const id = await inTransaction('commit', (conn) => outbox.enqueueMail(conn, mail('fence')));
    await waitFor('the fence consumed', async () => (await statusOf(id)) === Status.consumed);
  }

  test('a mail enqueued in a mariadb transaction that commits is published within a second of the commit and sent once', async () => {
    const ids: string[] = [];
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      const id = await inTransaction('commit', async (conn) => {
        await conn.query('INSERT INTO outbox_business (note) VALUES (?)', [`committed ${i}`]);
        return outbox.enqueueMail(conn, mail(`committed ${i}`));
      });
      const committedAt = Date.now();
      await waitFor('published', async () => ((await statusOf(id)) ?? Status.sending) !== Status.sending, 10_000, 20);
      delays.push(Date.now() - committedAt);
      ids.push(id);
    }
    delays.sort((a, b) => a - b);
    expect(delays[2]).toBeLessThan(1_000);
    for (const id of ids) await waitFor('consumed', async () => (await statusOf(id)) === Status.consumed);
    for (const id of ids) expect(f.sink.countFor(id)).toBe(1);
    expect((await rowOf(f.db.pool, ids[0]!))?.try_count).toBe(0);
  });

  test('a mail enqueued in a transaction that rolls back leaves no row and is never sent', async () => {
    const id = await inTransaction('rollback', async (conn) => {
      await conn.query('INSERT INTO outbox_business (note) VALUES (?)', ['rolled back']);
      return outbox.enqueueMail(conn, mail('rolled back'));
    });
    await fence();
    expect(await rowOf(f.db.pool, id)).toBeUndefined();
    expect(await businessRows('rolled back')).toBe(0);
    expect(f.sink.received.filter((m) => m.subject === 'rolled back')).toHaveLength(0);
  });

  test('a Prisma interactive transaction commits the mail with the caller\'s rows, and one that throws commits neither', async () => {
    const prisma = createPrisma(f.db.pool, parseDatabaseUrl(f.db.url).database);
    const committed = await prisma.$transaction(async (tx) => {
      await tx.$executeRawUnsafe('INSERT INTO outbox_business (note) VALUES (?)', 'prisma committed');
      return outbox.enqueueMail(tx, mail('prisma committed'));
    });
    let thrownId = '';
    await expect(
      prisma.$transaction(async (tx) => {
        await tx.$executeRawUnsafe('INSERT INTO outbox_business (note) VALUES (?)', 'prisma rolled back');
        thrownId = await outbox.enqueueMail(tx, mail('prisma rolled back'));
        throw new Error('the business rule says no');
      }),
    ).rejects.toThrow('the business rule says no');
    await waitFor('consumed', async () => (await statusOf(committed)) === Status.consumed);
    await fence();
    expect(f.sink.countFor(committed)).toBe(1);
    expect(await businessRows('prisma committed')).toBe(1);
    expect(thrownId).toMatch(/^\d+$/);
    expect(await rowOf(f.db.pool, thrownId)).toBeUndefined();
    expect(await businessRows('prisma rolled back')).toBe(0);
  });

  test('an invalid mail is refused before anything is written, with the problem per field', async () => {
    const err = await inTransaction('rollback', (conn) => outbox.enqueueMail(conn, { subject: 'bad\r\nBcc: x@example.com', content: 'x', tos: ['not an address'] }).catch((e: unknown) => e));
    expect(err).toBeInstanceOf(OutboxValidationError);
    expect((err as OutboxValidationError).errors.map((e) => e.field).sort()).toEqual(['subject', 'tos']);
  });

  test('the outbox leases its own instance number, so its msg ids never collide with the app\'s', async () => {
    const sent = await request(f.app.url).post('/mail/send').send(mail('from the API'));
    const fromOutbox = await inTransaction('commit', (conn) => outbox.enqueueMail(conn, mail('from the outbox')));
    expect(decodeMsgId(fromOutbox).instance).not.toBe(decodeMsgId(sent.body.msgId as string).instance);
    const owners = await f.db.pool.query<{ owner: string }[]>('SELECT owner FROM instance_lease');
    expect(owners.some((o) => o.owner.startsWith('outbox:'))).toBe(true);
  });

  test('a row the relay missed (no job instance was running) is published by the re-delivery job without counting a try', async () => {
    const jobOnly = await f.startApp({ roles: 'job', env: { REDELIVERY_CRON: '0 0 1 1 *' } });
    // the fixture's own app keeps its relay: pause it too, so only the job's round can publish
    await Promise.all([f.app.duePublisher!.stop(), jobOnly.duePublisher!.stop()]);
    const id = await inTransaction('commit', (conn) => outbox.enqueueMail(conn, mail('left to the job')));
    const round = await jobOnly.job!.runOnce();
    expect(round.republished).toBeGreaterThanOrEqual(1);
    await waitFor('consumed', async () => (await statusOf(id)) === Status.consumed);
    expect((await rowOf(f.db.pool, id))?.try_count).toBe(0);
    expect(f.sink.countFor(id)).toBe(1);
    f.app.duePublisher!.start();
  });

  test.each([
    ['a caller killed after its commit, before anything published its mail: the mail is sent once', 'after-commit', 1],
    ['a caller killed before its commit: neither its rows nor its mail exist, and nothing is sent', 'before-commit', 0],
  ])('%s', async (_name, stage, expected) => {
    const subject = `killed ${stage}`;
    const child = spawn(process.execPath, ['--import', 'tsx', path.resolve(__dirname, '../support/outbox-caller.ts'), stage, subject], {
      env: { ...process.env, DATABASE_URL: f.db.url, MQ_EXCHANGE: f.topology.exchange, MQ_ROUTING_KEY: f.topology.routingKey },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const [, signal] = await new Promise<[number | null, string | null]>((r) => child.once('exit', (code, sig) => r([code, sig])));
    expect(signal).toBe('SIGKILL');
    const msgId = out.trim();
    expect(msgId).toMatch(/^\d+$/);
    if (expected === 1) await waitFor('consumed', async () => (await statusOf(msgId)) === Status.consumed);
    await fence();
    expect(f.sink.countFor(msgId)).toBe(expected);
    expect(await businessRows(subject)).toBe(expected);
  });
});
