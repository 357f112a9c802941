// The instance numbers of msg ids, leased in instance_lease on a real MariaDB (src/store/instance-leases.ts): many
// instances starting at once get distinct numbers, their ids never collide, a dead instance's number is taken over
// only once its lease ran out, a stop frees it, a holder that lost its number stops using it, and a full table is a
// clear error. Short leases come from the constructor; where time matters the tests wait for a condition.
import { decodeMsgId, type MsgIdGenerator } from '../../src/core/ids';
import { AppError } from '../../src/errors';
import { Infrastructure } from '../../src/roles/infrastructure';
import { createPool, type Pool } from '../../src/store/db';
import { INSTANCE_LEASE_SQL, InstanceIdsExhausted, InstanceLease, InstanceLeaseRepo, type InstanceLeaseOptions } from '../../src/store/instance-leases';
import { createTestDb, testConfig, testLogger, uniqueTopology, type TestDb } from '../support/services';
import { waitFor } from '../support/wait';

describe('instance numbers leased in the database', () => {
  let db: TestDb;
  // Its own pool, wide enough that concurrent takers really race in the database rather than queue for a connection.
  let pool: Pool;
  let repo: InstanceLeaseRepo;
  let holders: InstanceLease[] = [];

  /** A holder on the shared pool, stopped after the test. */
  function holder(options: Partial<InstanceLeaseOptions> = {}, on: InstanceLeaseRepo = repo): InstanceLease {
    const h = new InstanceLease(on, { owner: `test-${holders.length}`, logger: testLogger(), ...options });
    holders.push(h);
    return h;
  }

  const rows = () => db.pool.query<{ worker_id: number; owner: string; live: number }[]>('SELECT worker_id, owner, expires_at > UTC_TIMESTAMP(3) AS live FROM instance_lease ORDER BY worker_id');
  const rowOf = async (workerId: number) => (await rows()).find((r) => r.worker_id === workerId);
  const expiredInDb = async (workerId: number) => Number((await rowOf(workerId))?.live) === 0;
  const errorOf = (f: () => unknown): unknown => {
    try {
      f();
    } catch (err) {
      return err;
    }
    throw new Error('expected a throw');
  };

  beforeAll(async () => {
    db = await createTestDb();
    pool = createPool(db.url, 16);
    repo = new InstanceLeaseRepo(pool);
  });

  afterEach(async () => {
    await Promise.all(holders.map((h) => h.stop()));
    holders = [];
    await db.pool.query('DELETE FROM instance_lease');
  });

  afterAll(async () => {
    await pool?.end().catch(() => undefined);
    await db?.drop();
  });

  test('64 instances starting at the same moment each get a different instance number, and the table records each holder', async () => {
    const started = await Promise.all(Array.from({ length: 64 }, () => holder().start()));
    const numbers = started.map((h) => h.workerId);
    expect(numbers.every((n) => Number.isInteger(n) && n! >= 0 && n! < 1024)).toBe(true);
    expect(new Set(numbers).size).toBe(64);
    const table = await rows();
    expect(table.map((r) => r.worker_id).sort((a, b) => a - b)).toEqual([...numbers].sort((a, b) => a! - b!));
    expect(table.every((r) => Number(r.live) === 1)).toBe(true);
    expect(new Set(table.map((r) => r.owner)).size).toBe(64);
  });

  test('50 generators on 50 leased numbers, each making 2,000 ids within the same millisecond, make 100,000 distinct ids', async () => {
    const leases = await Promise.all(Array.from({ length: 50 }, () => holder().start()));
    const sameMs = Date.parse('2026-12-02T10:00:00.000Z');
    const generators: MsgIdGenerator[] = leases.map((l) => l.ids(() => sameMs));
    const ids = new Set<string>();
    const instances = new Set<number>();
    for (let i = 0; i < 2_000; i++) {
      for (const g of generators) {
        const id = g.next();
        ids.add(id);
        const parts = decodeMsgId(id);
        // every id is in that one millisecond: only the instance number keeps the 50 generators apart
        if (parts.timestamp !== BigInt(sameMs)) throw new Error(`id ${id} is not in the shared millisecond`);
        instances.add(parts.instance);
      }
    }
    expect(ids.size).toBe(100_000);
    expect([...instances].sort((a, b) => a - b)).toEqual(leases.map((l) => l.workerId!).sort((a, b) => a - b));
  });

  test('a number whose lease ran out is taken over by a new instance, while a number whose lease is live is never taken', async () => {
    // `dead` never renews (its heartbeat would come long after its short lease): it stands for an instance that died.
    const dead = await holder({ maxWorkers: 2, leaseMs: 600, safetyMs: 100, heartbeatMs: 600_000 }).start();
    const alive = await holder({ maxWorkers: 2 }).start();
    const deadNumber = dead.workerId!;
    const aliveNumber = alive.workerId!;
    expect(new Set([deadNumber, aliveNumber])).toEqual(new Set([0, 1]));

    // Both live: a third instance gets neither, and the take statement itself, even when aimed at a live number, leaves it be.
    await expect(holder({ maxWorkers: 2 }).start()).rejects.toBeInstanceOf(InstanceIdsExhausted);
    await pool.query(INSTANCE_LEASE_SQL.take, [aliveNumber, 'intruder', 60_000_000]);
    expect((await rowOf(aliveNumber))!.owner).toMatch(/^test-1#/);

    await waitFor('the dead instance\'s lease to run out in the database', () => expiredInDb(deadNumber), 10_000, 50);
    const successor = await holder({ maxWorkers: 2 }).start();
    expect(successor.workerId).toBe(deadNumber);
    expect(await rowOf(aliveNumber)).toMatchObject({ live: 1 });
    expect((await rowOf(aliveNumber))!.owner).toMatch(/^test-1#/);
    expect((await rowOf(deadNumber))!.owner).toMatch(/^test-3#/);
    // The dead instance stopping late does not delete its successor's row.
    await dead.stop();
    expect(await rowOf(deadNumber)).toMatchObject({ live: 1 });
  });

  test('a stopped instance deletes its row, makes no more ids, and its number can be taken at once', async () => {
    const first = await holder({ maxWorkers: 1 }).start();
    const ids = first.ids();
    expect(decodeMsgId(ids.next()).instance).toBe(0);
    expect(await rows()).toHaveLength(1);

    await first.stop();
    expect(await rows()).toEqual([]);
    expect(errorOf(() => ids.next())).toMatchObject({ code: 'DATABASE_UNAVAILABLE', status: 503 });
    const next = await holder({ maxWorkers: 1 }).start();
    expect(next.workerId).toBe(0);
  });

  test('a holder whose number was taken over after its lease ran out notices at its next heartbeat and makes no id with that number again', async () => {
    // Its own clock stands still, so by that clock its lease never runs out: only the heartbeat can tell it lost it.
    const stale = await holder({ maxWorkers: 1, leaseMs: 600, safetyMs: 100, heartbeatMs: 600_000, now: () => 0 }).start();
    const ids = stale.ids();
    const before = ids.next();
    expect(decodeMsgId(before).instance).toBe(0);

    await waitFor('its lease to run out in the database', () => expiredInDb(0), 10_000, 50);
    const successor = await holder({ maxWorkers: 1 }).start();
    expect(successor.workerId).toBe(0);

    expect(await stale.heartbeat()).toBe(false); // lost, and no other number is free
    expect(stale.workerId).toBeNull();
    const refused = errorOf(() => ids.next());
    expect(refused).toBeInstanceOf(AppError);
    expect(refused).toMatchObject({ code: 'DATABASE_UNAVAILABLE', status: 503 });
    expect((await rowOf(0))!.owner).toMatch(/^test-1#/); // the successor keeps it

    // Once the number is free again, the next heartbeat takes it with a new lease; ids go on increasing.
    await successor.stop();
    expect(await stale.heartbeat()).toBe(true);
    const after = ids.next();
    expect(decodeMsgId(after).instance).toBe(0);
    expect(BigInt(after) > BigInt(before)).toBe(true);
    expect((await rowOf(0))!.owner).toMatch(/^test-0#/);
  });

  test('the heartbeat timer finds a number taken over and moves the holder to another free number; no id carries the lost one afterwards', async () => {
    const h = await holder({ maxWorkers: 2, heartbeatMs: 100 }).start();
    const ids = h.ids();
    const lost = h.workerId!;
    expect(decodeMsgId(ids.next()).instance).toBe(lost);
    // As if its lease had run out during a pause and another instance had taken the number over.
    await db.pool.query("UPDATE instance_lease SET owner = 'another-instance', expires_at = UTC_TIMESTAMP(3) + INTERVAL 60 SECOND WHERE worker_id = ?", [lost]);

    // (an object, since the new number may be 0)
    const { now } = await waitFor('the holder to move to another number', () => (h.workerId !== null && h.workerId !== lost ? { now: h.workerId } : null), 10_000, 20);
    expect(now).toBe(1 - lost);
    const later = Array.from({ length: 100 }, () => decodeMsgId(ids.next()).instance);
    expect(new Set(later)).toEqual(new Set([now]));
    expect((await rowOf(lost))!.owner).toBe('another-instance');
  });

  test('while the database does not answer, the number stays in use until the lease could have run out by the holder\'s own clock, then ids stop with a 503', async () => {
    let t = 0;
    const own = createPool(db.url, 1);
    const h = await holder({ leaseMs: 10_000, safetyMs: 1_000, heartbeatMs: 600_000, now: () => t }, new InstanceLeaseRepo(own)).start();
    const ids = h.ids();
    await own.end(); // every statement of this holder now fails

    t = 5_000;
    expect(await h.heartbeat()).toBe(false);
    expect(h.workerId).not.toBeNull();
    expect(() => ids.next()).not.toThrow();

    t = 9_000; // lease 10 s from the take, less the 1 s margin
    expect(h.workerId).toBeNull();
    expect(errorOf(() => ids.next())).toMatchObject({ code: 'DATABASE_UNAVAILABLE', status: 503 });
  });

  test('when every one of the 1,024 numbers is held by a live instance, taking one fails with an error that says so, and an expired one is taken', async () => {
    await db.pool.query(
      "INSERT INTO instance_lease (worker_id, owner, acquired_at, expires_at) SELECT seq, CONCAT('filler-', seq), UTC_TIMESTAMP(3), UTC_TIMESTAMP(3) + INTERVAL 60 SECOND FROM seq_0_to_1023",
    );
    const refused = await holder().start().catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(InstanceIdsExhausted);
    expect((refused as Error).message).toMatch(/^all 1024 instance ids are held by live instances/);

    await db.pool.query('UPDATE instance_lease SET expires_at = UTC_TIMESTAMP(3) - INTERVAL 1 SECOND WHERE worker_id = 777');
    expect((await holder().start()).workerId).toBe(777);
  });

  test('the main thread\'s infrastructure leases a number at open, makes its msg ids with it and releases it at close; SNOWFLAKE_WORKER_ID pins one instead', async () => {
    const infra = await new Infrastructure(testConfig(db, uniqueTopology(), 'smtp://127.0.0.1:1'), { logger: testLogger(), instanceId: 'infra-test' }).open();
    // MailService keeps its generator to itself; the test reaches it to read an id's instance number.
    const idsOf = (i: Infrastructure) => (i.mail as unknown as { deps: { ids: MsgIdGenerator } }).deps.ids;
    try {
      const table = await rows();
      expect(table).toHaveLength(1);
      expect(table[0]!.owner).toMatch(/^infra-test#/);
      expect(decodeMsgId(idsOf(infra).next()).instance).toBe(table[0]!.worker_id);
    } finally {
      await infra.close();
    }
    expect(await rows()).toEqual([]);

    const pinned = await new Infrastructure(testConfig(db, uniqueTopology(), 'smtp://127.0.0.1:1', { SNOWFLAKE_WORKER_ID: '1000', MIGRATE_ON_START: 'false' }), { logger: testLogger() }).open();
    try {
      expect(await rows()).toEqual([]);
      expect(decodeMsgId(idsOf(pinned).next()).instance).toBe(1000);
    } finally {
      await pinned.close();
    }
  });
});
