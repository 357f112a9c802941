// Fault scenarios of RELIABILITY_SCHEME=delayed-check where a part of the system goes away, production timings:
//   delayed-check-broker-restart: a real RabbitMQ restart (stop_app / start_app) with mails in flight and their checks
//     waiting in the delay queue: the checks survive it, come due after it, and nothing is lost or sent twice.
//   delayed-check-app-sigkill: the app process (every role, the callback service too) killed with sends in progress
//     and restarted; rows a killed process committed but never published are found by the new process's start-up
//     sweep (a check each, then a resend).
//   delayed-check-callback-down: the callback service, a process of its own, killed for a minute while mails flow,
//     some with their publish lost: their checks wait in the check queue, and once the service is back each lost mail
//     is sent once.
// The check delay is shortened to 5 s in all three for run time (delayed-check-lost-publish plays the default 30 s).
import { Status } from '../../src/core/status';
import { checkDelayQueue, checkQueue } from '../../src/broker/topology';
import { hasRabbitmqctl, rabbitmqctl } from '../support/rabbit';
import { sleep, waitFor } from '../support/wait';
import { assertScenario, countByStatus, PRODUCTION, readRows, ScenarioRun, seedRows, Traffic } from './harness';
import { callbackProcess, checkedFixture, counters, queueStates, resendActions, resends, scheme, settleChecked } from './delayed-check-support';

jest.setTimeout(240_000);

const DELAY = 5_000;

describe('fault: a part of the delayed-check scheme goes away', () => {
  (hasRabbitmqctl ? describe : describe.skip)('delayed-check-broker-restart', () => {
    const fx = checkedFixture(DELAY);
    let stopped = false;
    beforeAll(() => fx.setup());
    afterAll(async () => {
      if (stopped) await rabbitmqctl('start_app').catch(() => undefined);
      await fx.stop();
    });

    test('a broker restart with mails in flight and checks in the delay queue loses no mail and sends none twice', async () => {
      const N = 1500;
      const sc = new ScenarioRun('delayed-check-broker-restart', `rabbitmqctl stop_app, 2 s down, start_app, with ${N} mails accepted and in flight; check delay ${DELAY / 1000} s (shortened for run time), production timings`);
      fx.sink.replyDelayMs = 10; // a relay slower than the API: a backlog builds up in the queue before the restart
      const app = await fx.startApp({ env: { ...PRODUCTION, ...scheme(DELAY), REDELIVERY_BATCH: '500' } });
      const traffic = new Traffic(app.url, N, { concurrency: 20, timeoutMs: 30_000 });
      await traffic.reach(Math.round(N * 0.5));
      const before = await countByStatus(app.pool);
      const inFlight = Object.entries(before).filter(([s]) => Number(s) !== Status.consumed && Number(s) !== Status.dead).reduce((n, [, c]) => n + c, 0);
      const waiting = (await queueStates([checkDelayQueue(fx.topology)]))[checkDelayQueue(fx.topology)]?.messages ?? 0;
      stopped = true;
      try {
        await rabbitmqctl('stop_app');
        const downAt = Date.now();
        await sleep(2000); // fixed: the broker stays down 2 s, the scenario's outage
        sc.expect('requests kept being accepted while the broker was down', traffic.outcomes.filter((o) => o.at > downAt).every((o) => o.status === 202), JSON.stringify(traffic.statuses));
      } finally {
        await rabbitmqctl('start_app');
        stopped = false;
      }
      sc.expect('hundreds of mails in flight, and checks waiting in the delay queue, when the broker stopped', inFlight >= 300 && waiting > 0, `${inFlight} mails, ${waiting} checks`);
      await traffic.done;
      sc.expect('every request answered 202', traffic.count(202) === N, JSON.stringify(traffic.statuses));
      const result = await settleChecked(sc, fx, { accepted: traffic.accepted, sink: () => fx.sink.received, pool: app.pool, boundMs: 90_000, checksBoundMs: 30_000, quietMs: 2000 });
      const c = await counters(app.url);
      sc.expect('no resend request made a mail dead', resends(c, 'dead') === 0, `producer ${resendActions(c)}`);
      assertScenario(sc.record(result));
    });
  });

  describe('delayed-check-app-sigkill', () => {
    const fx = checkedFixture(DELAY);
    beforeAll(() => fx.setup());
    afterAll(() => fx.stop());

    test('an app killed mid-stream and restarted sends every mail, those it committed but never published included, at most once each but for the sends it cut', async () => {
      const N = 240;
      const SEEDED = 5;
      // LEASE_MS 15 s (SMTP_TIMEOUT_MS 5 s under it) instead of 120 s, so the sends the kill cut are taken over within the scenario
      const env = { ...PRODUCTION, ...scheme(DELAY), LEASE_MS: '15000', SMTP_TIMEOUT_MS: '5000' };
      const sc = new ScenarioRun('delayed-check-app-sigkill', `SIGKILL of the app process (all roles) with sends in progress, ${SEEDED} rows committed but never published, restarted; ${N} mails; check delay ${DELAY / 1000} s and lease 15 s (shortened for run time), production timings otherwise`);
      // The 250 held back 300 ms (5 lanes: about 16 mails a second), so the kill lands with mails at the sink and their
      // 250 on the way; the traffic (about 12 a second) stays under that, so no mail waits longer than a check delay
      // in the listener's prefetch (where a check would take it for lost: see delayed-check-prefetch-backlog).
      fx.sink.replyDelayMs = 300;
      const first = await fx.child({ env });
      const traffic = new Traffic(() => first.url, N, { concurrency: 2, pauseMs: 150 });
      await traffic.reach(100, 30_000);
      // kill while a mail was kept by the sink less than 200 ms ago: its 250 is still on the way (waiting up to 5 s; the
      // kill comes then in any case, and the check below says whether it landed with mails at the sink)
      await waitFor('a mail kept by the sink in the last 200 ms, 50 in', () => fx.sink.received.length >= 50 && Date.now() - fx.sink.received[fx.sink.received.length - 1]!.at < 200, 5000, 10).catch(() => undefined);
      const killed = await first.kill('SIGKILL');
      traffic.pause();
      const atSink = new Set(fx.sink.received.map((m) => m.msgId)).size;
      const consumedAtKill = (await countByStatus(fx.db.pool))[Status.consumed] ?? 0;
      sc.expect('the process died by SIGKILL', killed.signal === 'SIGKILL', `${killed.signal}`);
      sc.expect('the kill landed with mails at the sink not yet recorded as consumed', atSink > consumedAtKill, `${atSink} at the sink, ${consumedAtKill} consumed`);
      // What a process killed between its commit and its publishes leaves: rows `sending` that no message names.
      const seeded = (await seedRows(fx.db.pool, fx.topology, SEEDED, { dueInMs: Number(PRODUCTION.CONSUME_DEADLINE_MS), subject: (i) => `committed, never published ${i}` })).map((s) => s.msgId);
      const restartAt = Date.now();
      const second = await fx.child({ env });
      traffic.retarget(() => second.url);
      traffic.resume();
      await traffic.done;
      sc.expect('every answer was a 202 (the other requests were cut by the kill)', traffic.outcomes.every((o) => o.status === 202 || o.status === 'error'), JSON.stringify(traffic.statuses));
      const result = await settleChecked(sc, fx, { accepted: [...traffic.accepted, ...seeded], sink: () => fx.sink.received, pool: fx.db.pool, boundMs: 60_000, checksBoundMs: 30_000, quietMs: 2000 });
      const rows = new Map((await readRows(fx.db.pool, seeded)).map((r) => [String(r.msg_id), r]));
      const arrived = seeded.map((id) => fx.sink.received.find((c) => c.msgId === id)?.at ?? 0);
      sc.expect('the rows committed but never published: sent once, by a resend their start-up check asked for', seeded.every((id) => fx.sink.countFor(id) === 1 && Number(rows.get(id)?.try_count) === 1) && arrived.every((at) => at >= restartAt + DELAY), `${seeded.filter((id) => fx.sink.countFor(id) === 1).length} of ${SEEDED} once; sent ${arrived.map((at) => `${((at - restartAt) / 1000).toFixed(1)} s`).join(', ')} after the restart began`);
      const c = await counters(second.url);
      process.stdout.write(`  ${atSink - consumedAtKill} mails were at the sink without a recorded outcome when the process died; producer after the restart ${resendActions(c)}\n`);
      assertScenario(sc.record(result));
    });
  });

  describe('delayed-check-callback-down', () => {
    const fx = checkedFixture(DELAY);
    beforeAll(() => fx.setup());
    afterAll(() => fx.stop());

    test('with the callback service down for a minute, the checks wait for it, and every mail whose publish was lost is sent once after it is back', async () => {
      const N = 320;
      const EVERY = 5;
      const OUTAGE_MS = 60_000;
      const env = { ...PRODUCTION, ...scheme(DELAY, true) };
      const sc = new ScenarioRun('delayed-check-callback-down', `the callback service (ROLES=callback, its own process) killed for ${OUTAGE_MS / 1000} s while ${N} mails flow, the publish of every ${EVERY}th lost; check delay ${DELAY / 1000} s (shortened for run time), production timings`);
      const app = await fx.startApp({ roles: 'api,listener,job', env });
      const callback = await callbackProcess(fx, env).start();
      const traffic = new Traffic(app.url, N, { concurrency: 1, pauseMs: 200, headers: (i): Record<string, string> => (i % EVERY === 0 ? { 'x-dev-fault': 'lose-publish' } : {}) });
      await traffic.reach(20);
      const killed = await callback.kill('SIGKILL');
      const downAt = Date.now();
      sc.expect('the callback process died by SIGKILL', killed.signal === 'SIGKILL', `${killed.signal}`);
      await sleep(OUTAGE_MS); // fixed: the callback service stays away a minute, the scenario's outage
      const waiting = (await queueStates([checkQueue(fx.topology)]))[checkQueue(fx.topology)]?.messages ?? 0;
      const upAt = Date.now();
      await callback.start();
      const duringOutage = traffic.outcomes.filter((o) => o.at > downAt && o.at < upAt);
      sc.expect('mails kept being accepted while the callback service was down', duringOutage.length >= 100 && duringOutage.every((o) => o.status === 202), `${duringOutage.length} accepted during the outage`);
      sc.expect('the checks that came due meanwhile waited in the check queue', waiting >= 100, `${waiting} checks waiting`);
      await traffic.done;
      sc.expect('every request answered 202', traffic.count(202) === N, JSON.stringify(traffic.statuses));
      const result = await settleChecked(sc, fx, { accepted: traffic.accepted, sink: () => fx.sink.received, pool: app.pool, boundMs: 60_000, checksBoundMs: 30_000 });
      const lost = traffic.outcomes.filter((o) => o.msgId && o.i % EVERY === 0);
      const arrival = (id: string) => fx.sink.received.find((c) => c.msgId === id)?.at ?? Infinity;
      const early = lost.filter((o) => o.at > downAt && arrival(o.msgId!) < upAt);
      sc.expect('no mail lost during the outage was sent before the callback service was back (nobody could ask for it)', early.length === 0, `${early.length} early`);
      const rows = new Map((await readRows(app.pool)).map((r) => [String(r.msg_id), r]));
      sc.expect('each lost mail sent once, by one resend (try 1); the others at try 0', traffic.outcomes.every((o) => !o.msgId || Number(rows.get(o.msgId)?.try_count) === (o.i % EVERY === 0 ? 1 : 0)), `${lost.length} lost`);
      const c = await counters(app.url);
      sc.expect('the producer sent exactly the lost mails again', resends(c, 'resend') === lost.length && resends(c, 'dead') === 0, `producer ${resendActions(c)} for ${lost.length} lost`);
      assertScenario(sc.record(result));
    });
  });
});
