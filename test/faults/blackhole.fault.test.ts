// Fault: the broker connection is black-holed (nothing passes either way, nothing is closed) while publishes wait
// for their confirms.
//   confirm-blackhole: the partition heals after 5 s and the bytes held back flow on (late confirms, late
//     deliveries). No publish may wait past the confirm timeout, no request may wait for the broker, and every
//     mail is sent once in the end.
//   broker-blackhole-stuck-flows: the black hole outlasts the heartbeat, and the connections caught in it stay
//     silent for ever after the network heals (a lost NAT entry, a load balancer whose backend died): only new
//     connections pass. The app must notice by its heartbeat, reconnect, and finish.
import type { MailDispatchApp } from '../../src/app';
import type { PublishOutcome, PublishRequest } from '../../src/broker/publisher';
import { AMQP_URL, FAST } from '../support/services';
import { sleep, waitFor } from '../support/wait';
import { assertScenario, scenarioFixture, ScenarioRun, Traffic } from './harness';

// Scenarios take longer than the unit and integration tests' 60 s default (npm test runs them too).
jest.setTimeout(180_000);

const CONFIRM_TIMEOUT_MS = Number(FAST.CONFIRM_TIMEOUT_MS);

/** Records how long each publish took to settle, and how. */
function watchPublishes(app: MailDispatchApp): { started: number; ms: number; outcome: PublishOutcome | null }[] {
  const log: { started: number; ms: number; outcome: PublishOutcome | null }[] = [];
  const publisher = app.publisher;
  const original = publisher.publish.bind(publisher);
  publisher.publish = async (req: PublishRequest) => {
    const entry = { started: Date.now(), ms: -1, outcome: null as PublishOutcome | null };
    log.push(entry);
    const outcome = await original(req);
    entry.ms = Date.now() - entry.started;
    entry.outcome = outcome;
    return outcome;
  };
  return log;
}

describe('fault: a black-holed broker connection', () => {
  describe('confirm-blackhole', () => {
    const fx = scenarioFixture();
    beforeAll(() => fx.setup());
    afterAll(() => fx.stop());

    test('confirm-blackhole', async () => {
      const N = 400;
      const sc = new ScenarioRun('confirm-blackhole', `broker connection black-holed for 5 s with confirms outstanding, ${N} mails; then the held bytes flow on`);
      const app = await fx.startApp({ via: ['amqp'] });
      const proxy = await fx.proxy('amqp');
      const publishes = watchPublishes(app);

      const traffic = new Traffic(app.url, N, { concurrency: 8, pauseMs: 20 });
      await traffic.reach(100);
      proxy.blackhole();
      const holedAt = Date.now();
      await sleep(5000); // fixed: the black hole lasts 5 s, the scenario's outage
      const stuck = publishes.filter((p) => p.ms < 0 && Date.now() - p.started > CONFIRM_TIMEOUT_MS + 500);
      sc.expect(`no publish waited past the confirm timeout (${CONFIRM_TIMEOUT_MS} ms)`, stuck.length === 0, `${stuck.length} still waiting`);
      const timedOut = publishes.filter((p) => p.outcome && !p.outcome.ok && p.outcome.reason === 'timeout').length;
      sc.expect('publishes caught in the black hole settled as timeouts', timedOut > 0, `${timedOut} timeouts`);
      const duringHole = traffic.outcomes.filter((o) => o.ms > 1000 && o.i >= 100);
      sc.expect('no request waited for the broker during the black hole (all under 1 s)', duringHole.length === 0, `${duringHole.length} slow`);
      proxy.heal('resume');
      process.stdout.write(`  black hole lasted ${Date.now() - holedAt} ms; ${timedOut} publishes timed out\n`);
      await traffic.done;
      sc.expect('every request answered 202', traffic.count(202) === N, JSON.stringify(traffic.statuses));
      const slowest = Math.max(...publishes.filter((p) => p.ms >= 0).map((p) => p.ms));
      sc.expect('the slowest publish settled within the confirm timeout', slowest <= CONFIRM_TIMEOUT_MS + 500, `${slowest} ms`);

      const record = await sc.finish({ accepted: traffic.accepted, sink: fx.sink.received, pool: app.pool, boundMs: 30_000, quietMs: 2000 });
      assertScenario(record);
    });
  });

  describe('broker-blackhole-stuck-flows', () => {
    const fx = scenarioFixture();
    beforeAll(() => fx.setup());
    afterAll(() => fx.stop());

    test('broker-blackhole-stuck-flows', async () => {
      const N = 200;
      const sc = new ScenarioRun('broker-blackhole-stuck-flows', `broker connection black-holed for 8 s (heartbeat 2 s); the stuck connections stay silent after the heal; ${N} mails`);
      const proxy = await fx.proxy('amqp');
      // A 2-second heartbeat (AMQP_URL may set it) so that the black hole is noticed within the scenario's time.
      const amqpUrl = `${proxy.via(AMQP_URL)}?heartbeat=2`;
      const app = await fx.startApp({ amqpUrl });

      const traffic = new Traffic(app.url, N, { concurrency: 5, pauseMs: 20 });
      await traffic.reach(60);
      proxy.blackhole();
      const holedAt = Date.now();
      const noticed = await waitFor('the publisher to see its connection dead', () => !app.publisher.isReady, 8000, 50).catch((e: Error) => e);
      sc.expect('the heartbeat noticed the dead connection within 8 s', !(noticed instanceof Error), noticed instanceof Error ? noticed.message : `${Date.now() - holedAt} ms`);
      await sleep(8000); // fixed: the black hole lasts 8 s, well past the heartbeat
      proxy.heal('keep');
      const healedAt = Date.now();
      const back = await waitFor('the app ready again', () => app.publisher.isReady && app.waitUntilReady(1), 20_000, 50).then(() => true, () => false);
      sc.expect('the app reconnected within 20 s of the heal', back, back ? `${Date.now() - healedAt} ms` : `not after 20 s: publisher ready: ${app.publisher.isReady}; ${proxy.open} proxied connections open`);
      await traffic.done;
      sc.expect('every request answered 202', traffic.count(202) === N, JSON.stringify(traffic.statuses));

      // Without a reconnection nothing can settle: a short bound keeps the failure quick.
      const record = await sc.finish({ accepted: traffic.accepted, sink: fx.sink.received, pool: app.pool, boundMs: back ? 30_000 : 5000, quietMs: 1000 });
      assertScenario(record);
    });
  });
});
