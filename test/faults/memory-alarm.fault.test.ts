// Fault: a RabbitMQ memory alarm (rabbitmqctl set_vm_memory_high_watermark 0.0000001) blocks every publishing
// connection on the broker. Publishing must stop fast (the API still accepts; publishes fail at once or by the
// confirm timeout, never hang), consuming goes on, and a graceful shutdown during the alarm does not hang.
// The alarm blocks every publisher on the machine, so it is raised once, for a few seconds, and always restored
// (in a finally, and by a detached watchdog should this process die first).
import type { PublishOutcome, PublishRequest } from '../../src/broker/publisher';
import { Status } from '../../src/core/status';
import { hasRabbitmqctl, raiseMemoryAlarm } from '../support/rabbit';
import { FAST } from '../support/services';
import { sleep, waitFor } from '../support/wait';
import { assertScenario, countByStatus, readRows, scenarioFixture, ScenarioRun, Traffic } from './harness';

// Scenarios take longer than the unit and integration tests' 60 s default (npm test runs them too).
jest.setTimeout(180_000);

const CONFIRM_TIMEOUT_MS = Number(FAST.CONFIRM_TIMEOUT_MS);

(hasRabbitmqctl && process.env.FAULTS_NO_MEMORY_ALARM !== '1' ? describe : describe.skip)('fault: a blocked publishing connection (memory alarm)', () => {
  const fx = scenarioFixture();
  beforeAll(() => fx.setup());
  afterAll(() => fx.stop());

  test('memory-alarm', async () => {
    const N = 300;
    const DURING = 30;
    const sc = new ScenarioRun('memory-alarm', `RabbitMQ memory alarm (all publishers blocked) for ~5 s with ${N} mails queued and ${DURING} more accepted; the app stopped during the alarm`);
    fx.sink.replyDelayMs = 25;
    const app = await fx.startApp({ env: { SMTP_POOL_SIZE: '2' } });
    const traffic = new Traffic(app.url, N, { concurrency: 20 });
    await traffic.done;
    const published = await waitFor('no row left in sending', async () => !((await countByStatus(app.pool))[Status.sending] ?? 0), 10_000, 50).catch((e: Error) => e);
    sc.expect('the first mails were all published before the alarm', !(published instanceof Error), published instanceof Error ? `${published.message}; ${JSON.stringify(await countByStatus(app.pool))}` : undefined);
    const log: { started: number; ms: number; outcome: PublishOutcome | null }[] = [];
    const original = app.publisher.publish.bind(app.publisher);
    app.publisher.publish = async (req: PublishRequest) => {
      const e = { started: Date.now(), ms: -1, outcome: null as PublishOutcome | null };
      log.push(e);
      e.outcome = await original(req);
      e.ms = Date.now() - e.started;
      return e.outcome;
    };

    const consumedBefore = (await countByStatus(app.pool))[Status.consumed] ?? 0;
    const alarm = await raiseMemoryAlarm(30_000);
    const raisedAt = Date.now();
    let stopMs = -1;
    const second = new Traffic(app.url, DURING, { concurrency: 3, pauseMs: 50 });
    try {
      await second.done;
      const blocked = await waitFor('the publisher to see its connection blocked', () => !app.publisher.isReady, 4000, 50).catch((e: Error) => e);
      sc.expect('the app saw its publishing connection blocked within 4 s', !(blocked instanceof Error), blocked instanceof Error ? `never: ${blocked.message}` : `${Date.now() - raisedAt} ms`);
      sc.expect(`every request during the alarm answered 202 at once (under 1 s)`, second.count(202) === DURING && second.outcomes.every((o) => o.ms < 1000), `${JSON.stringify(second.statuses)}, slowest ${Math.max(...second.outcomes.map((o) => o.ms))} ms`);
      await sleep(Math.max(0, 3500 - (Date.now() - raisedAt))); // fixed: the alarm lasts 3.5 s before the checks, the scenario's outage
      const consumedDuring = ((await countByStatus(app.pool))[Status.consumed] ?? 0) - consumedBefore;
      sc.expect('consuming went on during the alarm', consumedDuring > 0, `${consumedDuring} consumed in ${Date.now() - raisedAt} ms`);
      const waiting = log.filter((e) => e.ms < 0 && Date.now() - e.started > CONFIRM_TIMEOUT_MS + 500).length;
      const reasons = new Map<string, number>();
      for (const e of log) reasons.set(e.outcome ? (e.outcome.ok ? 'ok' : e.outcome.reason) : 'waiting', (reasons.get(e.outcome ? (e.outcome.ok ? 'ok' : e.outcome.reason) : 'waiting') ?? 0) + 1);
      sc.expect('no publish waited past the confirm timeout', waiting === 0, [...reasons].map(([k, v]) => `${v}× ${k}`).join(', '));
      const rows = await readRows(app.pool, second.accepted);
      sc.expect('the mails accepted during the alarm are recorded as failed deliveries, none stuck in sending', rows.every((r) => Number(r.status) === Status.delivery_failed), JSON.stringify(await countByStatus(app.pool, second.accepted)));
      const stopping = Date.now();
      // Bounded, so the alarm is restored even if the stop hangs; a hang shows as the failed check below.
      const stopped = await Promise.race([app.stop().then(() => true), sleep(12_000).then(() => false)]);
      stopMs = stopped ? Date.now() - stopping : -1;
    } finally {
      await alarm.restore();
    }
    process.stdout.write(`  the alarm lasted ${Date.now() - raisedAt} ms\n`);
    sc.expect('a graceful stop during the alarm finished within 10 s', stopMs >= 0 && stopMs < 10_000, stopMs >= 0 ? `${stopMs} ms` : 'still stopping after 12 s');

    await fx.startApp(); // a new instance finishes the work once the alarm is gone
    const record = await sc.finish({ accepted: [...traffic.accepted, ...second.accepted], sink: fx.sink.received, pool: fx.db.pool, boundMs: 30_000 });
    assertScenario(record);
  });
});
