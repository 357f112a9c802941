// The listener going away while a slow relay keeps its lanes busy, with the real entry point (a child process, a
// listener thread, the production lease):
//   sigterm-slow-relay: SIGTERM with a full prefetch against a relay taking 2 s per mail: the instance stops taking
//     mails at once, finishes the sends in hand, gives the rest back, and exits; another instance sends the rest at
//     once (no lease to wait out), each mail once, nothing uncertain.
//   listener-thread-killed: the listener thread dies mid-send (DEV_FAULTS: SIGUSR2): it is started again, its claims
//     end at once (taken over as uncertain, since they may have gone out) instead of after the lease, and every mail
//     is sent, none twice.
import { loadConfig } from '../../src/config';
import { assertScenario, readRows, scenarioFixture, ScenarioRun, Traffic } from './harness';
import { waitFor } from '../support/wait';

jest.setTimeout(300_000);

const LEASE_MS = loadConfig({ NODE_ENV: 'test' }).LEASE_MS;
// The child runs the production lease, prefetch, pool and listener thread; the job looks every second so the
// scenario's own waits stay short (the default is every 10 s).
const CHILD = { LEASE_MS: String(LEASE_MS), MQ_PREFETCH: '300', SMTP_POOL_SIZE: '5', LISTENER_THREADS: '1', SMTP_TIMEOUT_MS: '30000' };

describe('fault: the listener goes away', () => {
  describe('sigterm-slow-relay', () => {
    const fx = scenarioFixture();
    beforeAll(() => fx.setup());
    afterAll(() => fx.stop());

    test('sigterm-slow-relay', async () => {
      const N = 60;
      const sc = new ScenarioRun('sigterm-slow-relay', `${N} mails, a relay taking 2 s per mail (5 lanes), SIGTERM once sends are under way; a second instance takes over`);
      fx.sink.perMailDelayMs = 2_000;
      const first = await fx.child({ env: CHILD });
      const traffic = new Traffic(first.url, N, { concurrency: 20 });
      await traffic.done;
      sc.expect('every request answered 202', traffic.count(202) === N, JSON.stringify(traffic.statuses));
      await waitFor('sends under way', () => fx.sink.attempts.length >= 5, 30_000);
      const stopped = await first.kill('SIGTERM', 60_000);
      sc.expect('the instance exited by itself, within the SMTP timeout and its margin', stopped.code === 0 && stopped.ms < 40_000, `code ${stopped.code}, ${stopped.ms} ms`);
      const keptBefore = fx.sink.received.length;
      const abandoned = fx.sink.attempts.filter((a) => a.abandoned).length;
      sc.expect('no send in hand was cut off', abandoned === 0, `${abandoned} abandoned, ${keptBefore} sent before the stop`);
      const takeover = Date.now();
      await fx.child({ env: { ...CHILD, REDELIVERY_CRON: '*/1 * * * * *' } });
      const result = await sc.settle({ accepted: traffic.accepted, sink: () => fx.sink.received, pool: fx.db.pool, boundMs: 120_000, tried: () => fx.sink.triedMsgIds() });
      const ms = Date.now() - takeover;
      sc.expect(`the rest went out without waiting for a lease (${LEASE_MS / 1000} s)`, ms < LEASE_MS, `${(ms / 1000).toFixed(1)} s`);
      const rows = await readRows(fx.db.pool);
      sc.expect('no send was uncertain, no try counted', rows.every((r) => Number(r.uncertain_count) === 0 && Number(r.try_count) === 0));
      assertScenario(sc.record(result));
    });
  });

  describe('listener-thread-killed', () => {
    const fx = scenarioFixture();
    beforeAll(() => fx.setup());
    afterAll(() => fx.stop());

    test('listener-thread-killed', async () => {
      const N = 60;
      const sc = new ScenarioRun('listener-thread-killed', `${N} mails, a relay taking 1 s per mail, the listener thread killed mid-send`);
      fx.sink.perMailDelayMs = 1_000;
      const app = await fx.child({ env: { ...CHILD, DEV_FAULTS: 'true', REDELIVERY_CRON: '*/1 * * * * *' } });
      const traffic = new Traffic(app.url, N, { concurrency: 20 });
      await traffic.done;
      await waitFor('sends under way', () => fx.sink.attempts.length >= 5, 30_000);
      const killedAt = Date.now();
      app.signal('SIGUSR2');
      await waitFor('the killed thread noticed', () => /listener thread exited/.test(app.log), 10_000);
      const result = await sc.settle({ accepted: traffic.accepted, sink: () => fx.sink.received, pool: fx.db.pool, boundMs: 120_000, tried: () => fx.sink.triedMsgIds() });
      const ms = Date.now() - killedAt;
      sc.expect(`every mail sent without waiting for the dead thread's leases (${LEASE_MS / 1000} s)`, ms < LEASE_MS, `${(ms / 1000).toFixed(1)} s`);
      sc.expect('the process lived on', app.alive);
      assertScenario(sc.record(result));
    });
  });
});
