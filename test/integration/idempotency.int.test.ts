// Idempotency-Key on POST /mail/send: a replay answers with the original msgId and stores and publishes nothing;
// a different body is 422; a twin in flight is 409 (in this process, or in another one holding the row's lock);
// the key row and the mail row commit together or not at all.
import { IDEMPOTENCY_SQL } from '../../src/store/idempotency-sql';
import { keyHashOf } from '../../src/store/idempotency-repo';
import { startFixture, type Fixture } from '../support/fixture';
import { KEY_A, KEY_B, SECURED, counts, queueDepth, rawRequest } from '../support/security';
import { sleep, waitFor } from '../support/wait';
import { hashApiKey, keyIdOf } from '../../src/http/security/api-keys';
import { fingerprintOf } from '../../src/http/security/idempotency';

const mail = { subject: 'Invoice 42', content: 'Please pay.', tos: ['alice@example.com', 'bob@example.com'] };
/** A day in microseconds: the TTL of a key row another process writes with the product's insert. */
const DAY_US = 86_400_000_000;
const headers = (idem: string, key = KEY_A) => ({ 'content-type': 'application/json', 'x-api-key': key, 'idempotency-key': idem });

describe('Idempotency-Key', () => {
  let f: Fixture<'none'>;
  let db: Fixture['db'];
  let app: Fixture['app'];
  let topology: Fixture['topology'];
  let seq = 0;
  const freshKey = () => `"order-${Date.now()}-${++seq}"`;
  const post = (idem: string, body: unknown, key = KEY_A) => rawRequest(app.url, { path: '/mail/send', headers: headers(idem, key), body: typeof body === 'string' ? body : JSON.stringify(body) });

  beforeAll(async () => {
    f = await startFixture({ sink: 'none', env: SECURED });
    ({ db, app, topology } = f);
  });

  afterAll(() => f?.stop());

  /** Key-row INSERTs under way on this test's database: with a twin's row uncommitted, they wait for its lock. */
  const keyInsertsWaiting = async () => {
    const [row] = await db.pool.query<{ n: number }[]>(
      "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND COMMAND = 'Query' AND INFO LIKE 'INSERT INTO idempotency_key%'",
    );
    return Number(row!.n);
  };

  /** Rows and queued messages, once the publishes in flight have settled. */
  async function settled() {
    await app.mail.drain();
    return { ...(await counts(db.pool)), queued: await queueDepth(topology) };
  }

  test('the same key with the same body returns the same msgId, stores no second row and publishes once', async () => {
    const before = await settled();
    const key = freshKey();
    const first = await post(key, mail);
    expect(first.status).toBe(202);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    for (let i = 0; i < 3; i++) {
      const again = await post(key, mail);
      expect(again.status).toBe(202);
      expect(again.body).toEqual(first.body);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.headers.location).toBe(`/mail/${first.body.msgId}`);
    }
    await waitFor('the one publish', async () => (await queueDepth(topology)) === before.queued + 1, 10_000);
    expect(await settled()).toEqual({ mails: before.mails + 1, keys: before.keys + 1, queued: before.queued + 1 });
  });

  test('the same body with its keys in another order is the same request (canonical JSON)', async () => {
    const key = freshKey();
    const first = await post(key, mail);
    const reordered = await post(key, `{"tos":["alice@example.com","bob@example.com"],"content":"Please pay.","subject":"Invoice 42"}`);
    expect(reordered.status).toBe(202);
    expect(reordered.body.msgId).toBe(first.body.msgId);
  });

  test('the same key with a different body gets 422 and stores nothing', async () => {
    const key = freshKey();
    expect((await post(key, mail)).status).toBe(202);
    const before = await settled();
    const res = await post(key, { ...mail, content: 'Please pay twice.' });
    expect(res.status).toBe(422);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED', status: 422 });
    expect(await settled()).toEqual(before);
  });

  test('keys are scoped per API key: the same Idempotency-Key from another API key is a different request', async () => {
    const key = freshKey();
    const a = await post(key, mail, KEY_A);
    const b = await post(key, mail, KEY_B);
    expect([a.status, b.status]).toEqual([202, 202]);
    expect(b.body.msgId).not.toBe(a.body.msgId);
    expect(b.headers['idempotent-replayed']).toBeUndefined();
  });

  test('bare and quoted (Structured Field) keys are the same key', async () => {
    const bare = `bare-${Date.now()}`;
    const first = await post(bare, mail);
    const quoted = await post(`"${bare}"`, mail);
    expect(quoted.body.msgId).toBe(first.body.msgId);
  });

  test('concurrent duplicates in this process: one is accepted, the others get 409 while it is in flight, and one row exists', async () => {
    const key = freshKey();
    const before = await settled();
    // Hold the first request inside the service for a moment, as a slow database would.
    const original = app.mail.send.bind(app.mail);
    const spy = jest.spyOn(app.mail, 'send').mockImplementation(async (...args) => {
      await sleep(400); // fixed, the scenario: the database is slow for 400 ms
      return original(...args);
    });
    try {
      const results = await Promise.all(Array.from({ length: 8 }, () => post(key, mail)));
      const statuses = results.map((r) => r.status).sort();
      expect(statuses.filter((s) => s === 202)).toHaveLength(1);
      expect(statuses.filter((s) => s === 409)).toHaveLength(7);
      for (const r of results.filter((x) => x.status === 409)) expect(r.body).toMatchObject({ code: 'IDEMPOTENCY_KEY_IN_USE', status: 409 });
    } finally {
      spy.mockRestore();
    }
    expect(await settled()).toMatchObject({ mails: before.mails + 1, keys: before.keys + 1 });
    // Once the first has finished, the same request is a replay.
    expect((await post(key, mail)).headers['idempotent-replayed']).toBe('true');
  });

  test('a duplicate meeting another process’s uncommitted key row gets 409 after a short wait, and goes through once that rolls back', async () => {
    const key = `cross-process-${Date.now()}`;
    const scope = keyIdOf(hashApiKey(KEY_A));
    const other = await db.pool.getConnection();
    try {
      await other.beginTransaction();
      await other.query(IDEMPOTENCY_SQL.insert, [keyHashOf(scope, key), scope, 'x', '1', null, DAY_US]);
      const before = await counts(db.pool);
      const t0 = Date.now();
      const res = await post(key, mail);
      expect(res.status).toBe(409);
      expect(res.body.code).toBe('IDEMPOTENCY_KEY_IN_USE');
      expect(Date.now() - t0).toBeLessThan(5_000);
      expect(await counts(db.pool)).toEqual(before);
      await other.rollback();
    } finally {
      await other.release();
    }
    const res = await post(key, mail);
    expect(res.status).toBe(202);
    expect(res.headers['idempotent-replayed']).toBeUndefined();
  });

  test('a duplicate whose twin in another process commits while it waits is answered as a replay of that mail', async () => {
    const key = `cross-commit-${Date.now()}`;
    const scope = keyIdOf(hashApiKey(KEY_A));
    const other = await db.pool.getConnection();
    try {
      await other.beginTransaction();
      await other.query(IDEMPOTENCY_SQL.insert, [keyHashOf(scope, key), scope, fingerprintOf(mail), '4242', null, DAY_US]);
      const pending = post(key, mail);
      await waitFor('the duplicate waiting for the uncommitted key row', async () => (await keyInsertsWaiting()) > 0, 5_000, 10);
      await other.commit();
      const res = await pending;
      expect(res.status).toBe(202);
      expect(res.body.msgId).toBe('4242');
      expect(res.headers['idempotent-replayed']).toBe('true');
    } finally {
      await other.release();
    }
  });

  test('the key row and the mail row commit together: a failed mail insert leaves no key behind, and the key stays usable', async () => {
    const key = freshKey();
    const before = await settled();
    const spy = jest.spyOn(app.repo, 'insertOn').mockRejectedValueOnce(Object.assign(new Error('connection lost'), { code: 'ECONNRESET' }));
    try {
      const res = await post(key, mail);
      expect(res.status).toBe(503);
      expect(res.body.code).toBe('DATABASE_UNAVAILABLE');
    } finally {
      spy.mockRestore();
    }
    expect(await settled()).toEqual(before);
    const res = await post(key, mail);
    expect(res.status).toBe(202);
    expect(res.headers['idempotent-replayed']).toBeUndefined();
    const rows = await db.pool.query<{ msg_id: string }[]>('SELECT msg_id FROM idempotency_key WHERE key_hash = ?', [keyHashOf(keyIdOf(hashApiKey(KEY_A)), key.replaceAll('"', ''))]);
    expect(rows.map((r) => r.msg_id)).toEqual([res.body.msgId]);
  });

  test('an expired key may be used again, even with another body; expired keys are purged', async () => {
    const key = freshKey();
    const first = await post(key, mail);
    await db.pool.query('UPDATE idempotency_key SET expire_time = UTC_TIMESTAMP(3) - INTERVAL 1 SECOND WHERE msg_id = ?', [first.body.msgId]);
    const second = await post(key, { ...mail, content: 'A new mail under an old key' });
    expect(second.status).toBe(202);
    expect(second.body.msgId).not.toBe(first.body.msgId);
    const rows = await db.pool.query<{ msg_id: string }[]>('SELECT msg_id FROM idempotency_key WHERE msg_id IN (?, ?)', [first.body.msgId, second.body.msgId]);
    expect(rows.map((r) => r.msg_id)).toEqual([second.body.msgId]);
    // And the bulk purge deletes what has expired, nothing else.
    await db.pool.query('UPDATE idempotency_key SET expire_time = UTC_TIMESTAMP(3) - INTERVAL 1 SECOND WHERE msg_id = ?', [second.body.msgId]);
    const { IdempotencyRepo } = await import('../../src/store/idempotency-repo');
    const before = (await counts(db.pool)).keys;
    expect(await new IdempotencyRepo(db.pool, app.repo, 1000).purgeExpired()).toBe(1);
    expect((await counts(db.pool)).keys).toBe(before - 1);
  });

  test('without the header nothing is written to idempotency_key', async () => {
    const before = await counts(db.pool);
    const res = await rawRequest(app.url, { path: '/mail/send', headers: { 'content-type': 'application/json', 'x-api-key': KEY_A }, body: JSON.stringify(mail) });
    expect(res.status).toBe(202);
    expect(await counts(db.pool)).toEqual({ mails: before.mails + 1, keys: before.keys });
  });
});
