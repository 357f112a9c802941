// The batched insert is all or nothing on both servers: MariaDB runs it as one bulk command; on MySQL the connector
// sends one statement per row, so there the batch runs inside a transaction.
import type { Pool } from '../../src/store/db';
import { MsgLogRepo } from '../../src/store/msg-log-repo';

function fakePool(isMariaDB: boolean, failBatch = false) {
  const calls: string[] = [];
  const conn = {
    info: { isMariaDB: () => isMariaDB },
    beginTransaction: async () => void calls.push('begin'),
    batch: async () => {
      calls.push('batch');
      if (failBatch) throw Object.assign(new Error('connection lost mid-batch'), { code: 'ER_SOCKET_UNEXPECTED_CLOSE' });
    },
    commit: async () => void calls.push('commit'),
    rollback: async () => void calls.push('rollback'),
    release: async () => void calls.push('release'),
  };
  return { pool: { getConnection: async () => conn } as unknown as Pool, calls };
}

const rows = [1, 2, 3].map((i) => ({ msgId: String(i), msg: '{}', exchange: 'x', routingKey: 'k' }));
const timing = { publishGraceMs: 1_000, consumeDeadlineMs: 1_000, leaseMs: 1_000 };

describe('the batched insert', () => {
  test('on MariaDB is one bulk command, with no transaction around it', async () => {
    const { pool, calls } = fakePool(true);
    await new MsgLogRepo(pool, timing).insertMany(rows);
    expect(calls).toEqual(['batch', 'release']);
  });

  test('on MySQL runs inside one transaction, committed once', async () => {
    const { pool, calls } = fakePool(false);
    await new MsgLogRepo(pool, timing).insertMany(rows);
    expect(calls).toEqual(['begin', 'batch', 'commit', 'release']);
  });

  test('on MySQL a batch that fails halfway is rolled back, so no part of it stays', async () => {
    const { pool, calls } = fakePool(false, true);
    await expect(new MsgLogRepo(pool, timing).insertMany(rows)).rejects.toThrow(/mid-batch/);
    expect(calls).toEqual(['begin', 'batch', 'rollback', 'release']);
  });
});
