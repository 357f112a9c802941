// Fault: the broker is unreachable when the requests arrive (its port refuses connections, the open ones are
// reset), and comes back a few seconds later. The API keeps accepting (the row is the promise), nothing is
// published into the void, and the job delivers everything once the broker is back.
import { Status } from '../../src/core/status';
import { sleep, waitFor } from '../support/wait';
import { assertScenario, countByStatus, readRows, scenarioFixture, ScenarioRun, Traffic } from './harness';

// Scenarios take longer than the unit and integration tests' 60 s default (npm test runs them too).
jest.setTimeout(180_000);

const N = 300;

describe('fault: the broker is down when requests arrive', () => {
  const fx = scenarioFixture();
  beforeAll(() => fx.setup());
  afterAll(() => fx.stop());

  test('broker-down-at-accept', async () => {
    const sc = new ScenarioRun('broker-down-at-accept', `broker unreachable (refused, reset) while ${N} mails are accepted; back 3 s later`);
    const app = await fx.startApp({ via: ['amqp'] });
    const proxy = await fx.proxy('amqp');

    await proxy.down();
    const wentDown = Date.now();
    const gone = await waitFor('the publisher to see the broker gone', () => !app.publisher.isReady, 1000, 50).catch((e: Error) => e);
    sc.expect('the app notices the broker is gone within 1 s', !(gone instanceof Error), gone instanceof Error ? gone.message : `${Date.now() - wentDown} ms`);
    const traffic = new Traffic(app.url, N, { concurrency: 20 });
    await traffic.done;
    sc.expect(`every request answered 202 while the broker was down`, traffic.count(202) === N, JSON.stringify(traffic.statuses));
    const slowest = Math.max(...traffic.outcomes.map((o) => o.ms));
    // the median beside the slowest: a slow answer among fast ones is a pause of the machine, not a wait for the broker
    const median = traffic.outcomes.map((o) => o.ms).sort((x, y) => x - y)[Math.floor(N / 2)]!;
    sc.expect('no request waited for the broker (slowest answer under 1 s)', slowest < 1000, `slowest ${slowest} ms, median ${median} ms`);
    const failed = await waitFor(`all ${N} rows delivery_failed`, async () => {
      const rows = await readRows(app.pool, traffic.accepted);
      return rows.filter((r) => Number(r.status) === Status.delivery_failed).length === N ? rows : undefined;
    }, 3000, 50).catch((e: Error) => e);
    sc.expect('each row recorded its failed publish (delivery_failed, try 1) at once', !(failed instanceof Error) && failed.every((r) => Number(r.try_count) === 1), failed instanceof Error ? `${failed.message}; ${JSON.stringify(await countByStatus(app.pool, traffic.accepted))}` : undefined);
    sc.expect('nothing reached the sink while the broker was down', fx.sink.received.length === 0, fx.sink.received.length);

    await sleep(Math.max(0, 3000 - (Date.now() - wentDown))); // fixed: the broker stays down 3 s, the scenario's outage
    // The job must not burn tries on a broker it knows is down.
    const during = await countByStatus(app.pool);
    sc.expect('no row went dead while the broker was down', !during[Status.dead], JSON.stringify(during));
    await proxy.up();

    const record = await sc.finish({ accepted: traffic.accepted, sink: fx.sink.received, pool: app.pool, boundMs: 30_000 });
    assertScenario(record);
  });
});
