// The holes between a statement and its answer, against a real MariaDB, with faults from wrappers around the pool
// (the product never branches on a fault): a claim applied whose answer was lost, a job commit applied whose answer
// was lost, and a publish failure recorded while a listener already holds the row. None costs a try, none makes a
// send uncertain, and no second listener may send what the first holds.
import { encodeMailMessage } from '../../src/core/mail-message';
import { decideFailure } from '../../src/core/retry';
import { Status } from '../../src/core/status';
import { LeaseKeeper } from '../../src/listener/leases';
import { MailListener } from '../../src/listener/mail-listener';
import { RelayCircuit } from '../../src/listener/relay-circuit';
import type { Pool } from '../../src/store/db';
import { MsgLogRepo, type NewRow } from '../../src/store/msg-log-repo';
import { FakeMailer } from '../support/fake-mailer';
import { createTestDb, rowOf, testLogger, type TestDb } from '../support/services';

const TIMING = { publishGraceMs: 30_000, consumeDeadlineMs: 60_000, leaseMs: 60_000 };
const RETRY = { maxTries: 3, backoff: { baseMs: 100, maxMs: 1000, factor: 2, jitter: 0 } };

/** A pool whose next statement matching `match` runs, and then fails as if its answer was lost on the way back. */
function losingAnswers(pool: Pool, match: RegExp): { pool: Pool; lost: () => number } {
  let lost = 0;
  let armed = true;
  const wrapped = new Proxy(pool, {
    get(target, prop, receiver) {
      if (prop === 'execute') {
        return async (sql: string, values?: unknown) => {
          const result = await target.execute(sql, values as unknown[]);
          if (armed && match.test(sql)) {
            armed = false;
            lost++;
            throw Object.assign(new Error('socket timeout: the answer never came'), { code: 'ER_SOCKET_TIMEOUT' });
          }
          return result;
        };
      }
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { pool: wrapped, lost: () => lost };
}

describe('answers lost between the database and the app', () => {
  let db: TestDb;
  let repo: MsgLogRepo;
  let seq = 0;
  const newRow = (tos = ['a@example.com']): NewRow => {
    const msgId = `8${Date.now()}${String(++seq).padStart(4, '0')}`;
    return { msgId, msg: encodeMailMessage({ msgId, subject: 's', content: 'c', tos }), exchange: 'x', routingKey: 'k' };
  };

  beforeAll(async () => {
    db = await createTestDb();
    repo = new MsgLogRepo(db.pool, TIMING);
  });
  afterAll(async () => db.drop());

  function listenerOn(r: MsgLogRepo, mailer = new FakeMailer(2)) {
    const logger = testLogger();
    const leases = new LeaseKeeper({ repo: r, timing: { leaseMs: TIMING.leaseMs, marginMs: 1_000 }, logger });
    const circuit = new RelayCircuit({ probe: async () => undefined });
    const listener = new MailListener({ repo: r, mailer, leases, circuit, park: async () => true, retry: RETRY, instanceId: 'test:1', uncertainPolicy: 'resend', logger, sleep: async () => undefined });
    return { listener, mailer, circuit };
  }

  test('a claim applied whose answer was lost is asked again by the same owner: the mail is sent once, with no try and nothing uncertain', async () => {
    const row = newRow();
    await repo.insert(row);
    const faulty = losingAnswers(db.pool, /^UPDATE msg_log\s+SET uncertain_count = uncertain_count \+ IF\(lease_until IS NULL/);
    const { listener, mailer, circuit } = listenerOn(new MsgLogRepo(faulty.pool, TIMING));
    const verdict = await listener.handle(Buffer.from(row.msg));
    await listener.close();
    circuit.stop();
    expect(faulty.lost()).toBe(1);
    expect(verdict).toEqual({ action: 'ack', outcome: 'consumed' });
    expect(mailer.sent).toBe(1);
    expect(await rowOf(db.pool, row.msgId)).toMatchObject({ status: Status.consumed, try_count: 0, uncertain_count: 0, lease_until: null });
  });

  test('a job commit applied whose answer was lost still publishes what it committed, so no try is spent on a confirm never asked for', async () => {
    const row = newRow();
    await repo.insert(row);
    await db.pool.query('UPDATE msg_log SET status = ?, try_count = 1, next_try_time = UTC_TIMESTAMP(3) - INTERVAL 1 SECOND WHERE msg_id = ?', [Status.consume_failed, row.msgId]);
    let commits = 0;
    const pool = new Proxy(db.pool, {
      get(target, prop, receiver) {
        if (prop === 'getConnection') {
          return async () => {
            const conn = await target.getConnection();
            return new Proxy(conn, {
              get(c, p, r) {
                if (p === 'commit') {
                  return async () => {
                    await c.commit();
                    commits++;
                    throw new Error('the answer to COMMIT never came');
                  };
                }
                const v = Reflect.get(c, p, r) as unknown;
                return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(c) : v;
              },
            });
          };
        }
        const value = Reflect.get(target, prop, receiver) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    }) as Pool;
    const round = await new MsgLogRepo(pool, TIMING).claimDue(10, () => ({ action: 'republish', tryCount: 1, reason: null, uncertain: false }));
    expect(commits).toBe(1);
    expect(round.republish.map((r) => r.msgId)).toEqual([row.msgId]);
    expect(await rowOf(db.pool, row.msgId)).toMatchObject({ status: Status.sending, try_count: 1 });
  });

  test('a publish failure recorded while a listener holds the row leaves the row and its claim alone', async () => {
    const row = newRow();
    await repo.insert(row);
    expect(await repo.claimMany([row.msgId], 'listener:1')).toEqual([true]);
    const applied = await repo.recordPublishFailure(row.msgId, 0, decideFailure(0, Status.delivery_failed, RETRY), { kind: 'confirm-timeout' });
    expect(applied).toBe(false);
    const after = await rowOf(db.pool, row.msgId);
    expect(after).toMatchObject({ status: Status.sending, try_count: 0 });
    expect(after?.lease_until).not.toBeNull();
    // and a second listener cannot claim it
    expect(await repo.claimMany([row.msgId], 'listener:2')).toEqual([false]);
  });

  test('a send the relay answered for some recipients only stores each outcome, and the next try goes to the pending one alone', async () => {
    const row = newRow(['a@example.com', 'b@example.org']);
    await repo.insert(row);
    const answers: string[][] = [];
    const mailer = new FakeMailer(1, async (mail) => {
      answers.push(mail.envelopeTo);
      return {
        kind: 'done',
        response: '250 OK',
        recipients: mail.envelopeTo.map((recipient) =>
          recipient === 'b@example.org' && answers.length === 1
            ? { recipient, state: 'deferred' as const, failure: { kind: 'smtp-transient' as const, code: 450, enhanced: '4.2.0', recipient } }
            : { recipient, state: 'accepted' as const },
        ),
      };
    });
    const { listener, circuit } = listenerOn(repo, mailer);
    expect(await listener.handle(Buffer.from(row.msg))).toEqual({ action: 'ack', outcome: 'failed' });
    expect(await rowOf(db.pool, row.msgId)).toMatchObject({ status: Status.consume_failed, try_count: 1 });
    expect((await repo.findRecipients(row.msgId)).map((r) => [r.recipient, r.state, r.failure?.code ?? null])).toEqual([
      ['a@example.com', 'accepted', null],
      ['b@example.org', 'deferred', 450],
    ]);
    expect(await listener.handle(Buffer.from(row.msg))).toEqual({ action: 'ack', outcome: 'consumed' });
    await listener.close();
    circuit.stop();
    expect(answers).toEqual([['a@example.com', 'b@example.org'], ['b@example.org']]);
    expect(await rowOf(db.pool, row.msgId)).toMatchObject({ status: Status.consumed, try_count: 1, uncertain_count: 0 });
    expect((await repo.findRecipients(row.msgId)).map((r) => r.state)).toEqual(['accepted', 'accepted']);
  });
});
