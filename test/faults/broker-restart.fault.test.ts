// Fault: a real RabbitMQ restart (rabbitmqctl stop_app / start_app) while thousands of mails are in flight: in
// the queue, unacked at the listener, waiting for confirms, being accepted. Durable queue, persistent messages,
// confirms, the listener's claim and the job must together lose nothing and send nothing twice.
// This restarts the machine's broker for everyone using it: one restart per run, always started again.
import { Status } from '../../src/core/status';
import { hasRabbitmqctl, rabbitmqctl } from '../support/rabbit';
import { sleep } from '../support/wait';
import { assertScenario, countByStatus, scenarioFixture, ScenarioRun, Traffic } from './harness';

// Scenarios take longer than the unit and integration tests' 60 s default (npm test runs them too).
jest.setTimeout(180_000);

const N = Number(process.env.FAULTS_RESTART_MAILS ?? 2500);
// FAULTS_RESTART_DRY=1 plays the scenario without touching the broker (for tuning the figures on a shared machine).
const ctl = process.env.FAULTS_RESTART_DRY === '1' ? async (..._: string[]) => '' : rabbitmqctl;

(hasRabbitmqctl ? describe : describe.skip)('fault: a broker restart with thousands of mails in flight', () => {
  const fx = scenarioFixture();
  let stopped = false;
  beforeAll(() => fx.setup());
  afterAll(async () => {
    if (stopped) await ctl('start_app').catch(() => undefined);
    await fx.stop();
  });

  test('broker-restart', async () => {
    const sc = new ScenarioRun('broker-restart', `rabbitmqctl stop_app, 2 s down, start_app, with ${N} mails accepted and in flight`);
    // A sink slower than the API, so a backlog builds up in the queue before the restart.
    fx.sink.replyDelayMs = 10;
    const app = await fx.startApp({ env: { MQ_PREFETCH: '50', SMTP_POOL_SIZE: '5', REDELIVERY_BATCH: '500' } });
    const traffic = new Traffic(app.url, N, { concurrency: 20, timeoutMs: 30_000 });
    await traffic.reach(Math.round(N * 0.5));

    const before = await countByStatus(app.pool);
    const inFlight = Object.entries(before).filter(([s]) => Number(s) !== Status.consumed && Number(s) !== Status.dead).reduce((n, [, c]) => n + c, 0);
    stopped = true;
    const stopAt = Date.now();
    try {
      await ctl('stop_app');
      const downAt = Date.now();
      await sleep(2000); // fixed: the broker stays down 2 s, the scenario's outage
      sc.expect('requests kept being accepted while the broker was down', traffic.outcomes.filter((o) => o.at > downAt).every((o) => o.status === 202), JSON.stringify(traffic.statuses));
    } finally {
      await ctl('start_app');
      stopped = false;
    }
    process.stdout.write(`  ${inFlight} mails in flight when the broker stopped; down for ${Date.now() - stopAt} ms\n`);
    sc.expect('at least 1,000 mails in flight when the broker stopped', inFlight >= Math.min(1000, N / 3), inFlight);
    await traffic.done;
    sc.expect('every request answered 202', traffic.count(202) === N, JSON.stringify(traffic.statuses));
    const record = await sc.finish({ accepted: traffic.accepted, sink: fx.sink.received, pool: app.pool, boundMs: 60_000, quietMs: 2000 });
    assertScenario(record);
  });
});
