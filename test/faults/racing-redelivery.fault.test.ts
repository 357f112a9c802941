// Fault: two full instances whose re-delivery jobs tick at the same moment race over 1,000 rows that are due
// together (a backlog after an outage). Each row must be published once per round (FOR UPDATE SKIP LOCKED with
// the index forced), and each mail sent once.
// The jobs' cron ticks at the same wall-clock second on every instance; here the two rounds are started at the same
// moment by the test instead (cron set never to fire), because two schedules in one process can drift apart by more
// than the whole round takes (one instance drained all 1,000 rows before the other's tick in one CI run).
import type { MailDispatchApp } from '../../src/app';
import { Status } from '../../src/core/status';
import { assertScenario, scenarioFixture, ScenarioRun, seedRows } from './harness';

// Scenarios take longer than the unit and integration tests' 60 s default (npm test runs them too).
jest.setTimeout(180_000);

/** Counts each instance's publishes from its publisher's events. */
function countPublishes(app: MailDispatchApp, into: Map<string, number>): { total: number } {
  const stats = { total: 0 };
  app.publisher.on('settled', ({ msgId }) => {
    stats.total++;
    into.set(msgId, (into.get(msgId) ?? 0) + 1);
  });
  return stats;
}

/** a cron expression that does not fire during the test (midnight on the first of January) */
const NEVER = '0 0 0 1 1 *';

describe('fault: re-delivery jobs racing', () => {
  const fx = scenarioFixture();
  beforeAll(() => fx.setup());
  afterAll(() => fx.stop());

  test('racing-redelivery', async () => {
    const N = 1000;
    const sc = new ScenarioRun('racing-redelivery', `two instances' job rounds (batches of 100), started together, race over ${N} due rows`);
    const a = await fx.startApp({ env: { REDELIVERY_BATCH: '100', REDELIVERY_CRON: NEVER } });
    const b = await fx.startApp({ env: { REDELIVERY_BATCH: '100', REDELIVERY_CRON: NEVER } });
    const published = new Map<string, number>();
    const pa = countPublishes(a, published);
    const pb = countPublishes(b, published);
    // consume_failed rows (one failed try each), all due already; both rounds start in the same tick.
    const rows = await seedRows(fx.db.pool, fx.topology, N, { status: Status.consume_failed, tryCount: 1, dueInMs: -1000 });
    const ids = rows.map((r) => r.msgId);
    // Rounds race until one finds nothing left, as the next ticks would (a round ends at its first short batch).
    let raced = 0;
    for (;;) {
      const [ra, rb] = await Promise.all([a.job!.runOnce(), b.job!.runOnce()]);
      raced++;
      if (ra.republished + rb.republished === 0 || raced === 10) break;
    }
    const result = await sc.settle({ accepted: ids, sink: fx.sink.received, pool: fx.db.pool, boundMs: 40_000, quietMs: 1500 });
    const counts = ids.map((id) => published.get(id) ?? 0);
    const twice = counts.filter((c) => c > 1).length;
    const never = counts.filter((c) => c === 0).length;
    sc.expect('each row published exactly once', twice === 0 && never === 0, `${twice} more than once, ${never} never`);
    sc.expect('both instances took a share of the rows', pa.total > 0 && pb.total > 0, `${pa.total} + ${pb.total} in ${raced} races`);
    const tries = await fx.db.pool.query<{ n: number }[]>('SELECT COUNT(*) AS n FROM msg_log WHERE try_count <> 1');
    sc.expect('no try counted by the race (try_count still 1)', Number(tries[0]!.n) === 0, Number(tries[0]!.n));
    assertScenario(sc.record(result));
  });
});
