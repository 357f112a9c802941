// The repository's batched statements against a real MariaDB: the bulk insert is one statement (all or nothing, with
// the colliding row named), and the padded IN lists of prepared statements count and touch each row once
// (the padding itself: test/unit/sql.test.ts).
import { Status } from '../../src/core/status';
import { PerItemErrors } from '../../src/store/batcher';
import { MsgLogRepo, type NewRow } from '../../src/store/msg-log-repo';
import { createTestDb, rowOf, type TestDb } from '../support/services';

describe('the msg_log repository', () => {
  let db: TestDb;
  let repo: MsgLogRepo;
  let seq = 0;
  const row = (): NewRow => ({ msgId: `9${Date.now()}${String(++seq).padStart(4, '0')}`, msg: '{}', exchange: 'x', routingKey: 'k' });

  beforeAll(async () => {
    db = await createTestDb();
    repo = new MsgLogRepo(db.pool, { publishGraceMs: 30_000, consumeDeadlineMs: 60_000, leaseMs: 60_000 });
  });
  afterAll(async () => db.drop());

  it('inserts a batch of rows in one statement, each sending with try count 0', async () => {
    const rows = Array.from({ length: 23 }, row);
    await expect(repo.insertMany(rows)).resolves.toBeUndefined();
    for (const r of rows) expect(await rowOf(db.pool, r.msgId)).toMatchObject({ status: Status.sending, try_count: 0 });
  });

  it('fails only the colliding row of a batch whose statement hit a duplicate key, and stores the others', async () => {
    const existing = row();
    await repo.insert(existing);
    const fresh = [row(), row()];
    const result = await repo.insertMany([fresh[0]!, existing, fresh[1]!]);
    expect(result).toBeInstanceOf(PerItemErrors);
    const errors = (result as PerItemErrors).errors as ({ code?: string } | undefined)[];
    expect(errors.map((e) => e?.code)).toEqual([undefined, 'ER_DUP_ENTRY', undefined]);
    for (const r of fresh) expect(await rowOf(db.pool, r.msgId)).toBeDefined();
  });

  it('claims, marks delivered and marks consumed a padded list of three rows as exactly three rows', async () => {
    const rows = [row(), row(), row()];
    await repo.insertMany(rows);
    const ids = rows.map((r) => r.msgId);
    expect(await repo.markDelivered(ids, 0)).toBe(3);
    expect(await repo.claimMany(ids, 'owner-a')).toEqual([true, true, true]);
    expect(await repo.claimMany(ids, 'owner-b')).toEqual([false, false, false]);
    expect(await repo.markManyConsumed(ids)).toBe(3);
    for (const id of ids) expect((await rowOf(db.pool, id))?.status).toBe(Status.consumed);
  });
});
