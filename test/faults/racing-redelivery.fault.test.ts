// Fault: two full instances whose re-delivery jobs tick at the same moments race over 1,000 rows that become due
// together (a backlog after an outage). Each row must be published once per round (FOR UPDATE SKIP LOCKED with
// the index forced), and each mail sent once.
import type { MailDispatchApp } from '../../src/app';
import type { PublishRequest } from '../../src/broker/publisher';
import { Status } from '../../src/core/status';
import { assertScenario, scenarioFixture, ScenarioRun, seedRows } from './harness';

// Scenarios take longer than the unit and integration tests' 60 s default (npm test runs them too).
jest.setTimeout(180_000);

function countPublishes(app: MailDispatchApp, into: Map<string, number>): { total: number } {
  const stats = { total: 0 };
  const publisher = app.publisher;
  const original = publisher.publish.bind(publisher);
  publisher.publish = (req: PublishRequest) => {
    stats.total++;
    into.set(req.msgId, (into.get(req.msgId) ?? 0) + 1);
    return original(req);
  };
  return stats;
}

describe('fault: re-delivery jobs racing', () => {
  const fx = scenarioFixture();
  beforeAll(() => fx.setup());
  afterAll(() => fx.stop());

  test('racing-redelivery', async () => {
    const N = 1000;
    const sc = new ScenarioRun('racing-redelivery', `two instances' jobs (every second, batches of 100) race over ${N} rows that fall due together`);
    const a = await fx.startApp({ env: { REDELIVERY_BATCH: '100' } });
    const b = await fx.startApp({ env: { REDELIVERY_BATCH: '100' } });
    const published = new Map<string, number>();
    const pa = countPublishes(a, published);
    const pb = countPublishes(b, published);
    // consume_failed rows (one failed try each) that fall due 1.5 s from now, while both jobs are ticking.
    const rows = await seedRows(fx.db.pool, fx.topology, N, { status: Status.consume_failed, tryCount: 1, dueInMs: 1500 });
    const ids = rows.map((r) => r.msgId);
    const result = await sc.settle({ accepted: ids, sink: fx.sink.received, pool: fx.db.pool, boundMs: 40_000, quietMs: 1500 });
    const counts = ids.map((id) => published.get(id) ?? 0);
    const twice = counts.filter((c) => c > 1).length;
    const never = counts.filter((c) => c === 0).length;
    sc.expect('each row published exactly once', twice === 0 && never === 0, `${twice} more than once, ${never} never`);
    sc.expect('both instances took a share of the rows', pa.total > 0 && pb.total > 0, `${pa.total} + ${pb.total}`);
    const tries = await fx.db.pool.query<{ n: number }[]>('SELECT COUNT(*) AS n FROM msg_log WHERE try_count <> 1');
    sc.expect('no try counted by the race (try_count still 1)', Number(tries[0]!.n) === 0, Number(tries[0]!.n));
    assertScenario(sc.record(result));
  });
});
