// Fault scenarios of RELIABILITY_SCHEME=delayed-check: one of the scheme's messages lost (DEV_FAULTS, X-Dev-Fault),
// production timings otherwise:
//   delayed-check-lost-publish: the mail's publish lost, its check not: the check finds no confirmation once
//     CHECK_DELAY_MS (the default 30 s) has passed, the producer sends the mail again, once.
//   delayed-check-lost-confirmation: the listener's confirmation lost: the check asks for a resend, and the producer,
//     finding the row final, declines; no mail twice, no try counted.
//   delayed-check-lost-check: the check lost: the mail itself goes through, so nothing is asked and nothing is sent
//     twice (only the job's consume deadline would have noticed had the mail been lost too).
// The last two shorten the check delay to 5 s for run time: what they show does not depend on the delay.
import { Status } from '../../src/core/status';
import { assertScenario, PRODUCTION, readRows, ScenarioRun, Traffic } from './harness';
import { checkedFixture, checks, counters, settleChecked, resendActions, resends, scheme } from './delayed-check-support';
import { waitFor } from '../support/wait';

jest.setTimeout(180_000);

const fault = (f: string, every: number) => (i: number): Record<string, string> => (i % every === 0 ? { 'x-dev-fault': f } : {});
const faulty = (traffic: Traffic, every: number) => new Set(traffic.outcomes.filter((o) => o.msgId && o.i % every === 0).map((o) => o.msgId!));

describe('fault: one of the delayed-check scheme messages lost', () => {
  describe('delayed-check-lost-publish', () => {
    const DELAY = 30_000;
    const fx = checkedFixture(DELAY);
    beforeAll(() => fx.setup());
    afterAll(() => fx.stop());

    test('a mail whose publish was lost is sent once, about one check delay after it was accepted, and only it', async () => {
      const N = 120;
      const EVERY = 4;
      const sc = new ScenarioRun('delayed-check-lost-publish', `${N} mails, the publish of every ${EVERY}th lost (its check not); check delay ${DELAY / 1000} s (the default), production timings`);
      const app = await fx.startApp({ env: { ...PRODUCTION, ...scheme(DELAY, true) } });
      const traffic = new Traffic(app.url, N, { concurrency: 10, headers: fault('lose-publish', EVERY) });
      await traffic.done;
      sc.expect('every request answered 202', traffic.count(202) === N, JSON.stringify(traffic.statuses));
      const lost = faulty(traffic, EVERY);
      const others = traffic.accepted.filter((id) => !lost.has(id));
      await waitFor('the mails whose publish went through at the sink', () => others.every((id) => fx.sink.countFor(id) === 1), 20_000);
      sc.expect('no lost mail reached the sink before its check came due', [...lost].every((id) => fx.sink.countFor(id) === 0), `${[...lost].filter((id) => fx.sink.countFor(id) > 0).length} of ${lost.size} already there`);

      const result = await sc.settle({ accepted: traffic.accepted, sink: () => fx.sink.received, pool: app.pool, boundMs: DELAY + 30_000, quietMs: 2000, tried: () => fx.sink.triedMsgIds() });
      // from the request's start: the check was published before its 202
      const askedAt = new Map(traffic.outcomes.filter((o) => o.msgId).map((o) => [o.msgId!, o.at]));
      const after = [...lost].map((id) => (fx.sink.received.find((c) => c.msgId === id)?.at ?? Infinity) - askedAt.get(id)!);
      const [min, max] = [Math.min(...after), Math.max(...after)];
      sc.expect(`each lost mail reached the sink between ${DELAY / 1000} s and ${DELAY / 1000 + 15} s after it was sent`, after.every((ms) => ms >= DELAY && ms <= DELAY + 15_000), `${(min / 1000).toFixed(1)}-${(max / 1000).toFixed(1)} s`);
      const rows = new Map((await readRows(app.pool)).map((r) => [String(r.msg_id), r]));
      sc.expect('the lost mails were sent again at try 1, the others at try 0', traffic.accepted.every((id) => Number(rows.get(id)?.try_count) === (lost.has(id) ? 1 : 0)));
      // The first check of every mail has come due: confirmed for those a listener sent, a resend for the lost ones.
      // (The checks of the resends come due one delay later; what a check finds then is the lost-confirmation scenario's.)
      const c = await waitFor('the first check of every mail answered', async () => {
        const got = await counters(app.url);
        return checks(got, 'confirmed') + checks(got, 'resend') >= N && resends(got, 'resend') >= lost.size ? got : undefined;
      }, 10_000);
      sc.expect('the checks asked for the lost mails only, and the producer sent each again', checks(c, 'resend') === lost.size && resends(c, 'resend') === lost.size && checks(c, 'confirmed') === N - lost.size, `checks: ${checks(c, 'confirmed')} confirmed, ${checks(c, 'resend')} resend; ${lost.size} lost; producer ${resendActions(c)}`);
      assertScenario(sc.record(result));
    });
  });

  describe('delayed-check-lost-confirmation', () => {
    const DELAY = 5_000;
    const fx = checkedFixture(DELAY);
    beforeAll(() => fx.setup());
    afterAll(() => fx.stop());

    test('a lost confirmation makes the check ask for a resend, which the producer declines: every mail sent once, no try counted', async () => {
      const N = 90;
      const EVERY = 3;
      const sc = new ScenarioRun('delayed-check-lost-confirmation', `${N} mails, the listener's confirmation of every ${EVERY}rd lost; check delay ${DELAY / 1000} s (shortened for run time), production timings`);
      const app = await fx.startApp({ env: { ...PRODUCTION, ...scheme(DELAY, true) } });
      const traffic = new Traffic(app.url, N, { concurrency: 10, headers: fault('lose-confirmation', EVERY) });
      await traffic.done;
      sc.expect('every request answered 202', traffic.count(202) === N, JSON.stringify(traffic.statuses));
      const unconfirmed = faulty(traffic, EVERY);
      const result = await settleChecked(sc, fx, { accepted: traffic.accepted, sink: () => fx.sink.received, pool: app.pool, boundMs: 30_000, checksBoundMs: 30_000, tried: () => fx.sink.triedMsgIds() });
      const rows = await readRows(app.pool);
      sc.expect('every row consumed at try 0 (no resend counted a try)', rows.every((r) => Number(r.status) === Status.consumed && Number(r.try_count) === 0), rows.filter((r) => Number(r.try_count) > 0).length);
      const confirmed = new Set((await app.pool.query<{ msg_id: string }[]>('SELECT msg_id FROM callback_confirmation')).map((r) => String(r.msg_id)));
      sc.expect('the callback service holds a confirmation for every mail but those whose confirmation was lost', traffic.accepted.every((id) => confirmed.has(id) !== unconfirmed.has(id)), `${confirmed.size} confirmations, ${unconfirmed.size} lost`);
      const c = await counters(app.url);
      sc.expect('a resend was asked for each mail whose confirmation was lost, and declined each time', checks(c, 'resend') === unconfirmed.size && resends(c, 'none') === unconfirmed.size && resends(c, 'resend') === 0 && resends(c, 'dead') === 0, `checks: ${checks(c, 'confirmed')} confirmed, ${checks(c, 'resend')} resend; producer ${resendActions(c)}`);
      assertScenario(sc.record(result));
    });
  });

  describe('delayed-check-lost-check', () => {
    const DELAY = 5_000;
    const fx = checkedFixture(DELAY);
    beforeAll(() => fx.setup());
    afterAll(() => fx.stop());

    test('a lost check costs nothing while its mail goes through: every mail sent once, no resend asked', async () => {
      const N = 90;
      const EVERY = 3;
      const sc = new ScenarioRun('delayed-check-lost-check', `${N} mails, the check of every ${EVERY}rd lost; check delay ${DELAY / 1000} s (shortened for run time), production timings`);
      const app = await fx.startApp({ env: { ...PRODUCTION, ...scheme(DELAY, true) } });
      const traffic = new Traffic(app.url, N, { concurrency: 10, headers: fault('lose-check', EVERY) });
      await traffic.done;
      sc.expect('every request answered 202', traffic.count(202) === N, JSON.stringify(traffic.statuses));
      const unchecked = faulty(traffic, EVERY);
      const result = await settleChecked(sc, fx, { accepted: traffic.accepted, sink: () => fx.sink.received, pool: app.pool, boundMs: 30_000, checksBoundMs: 30_000, tried: () => fx.sink.triedMsgIds() });
      const rows = await readRows(app.pool);
      sc.expect('every row consumed at try 0', rows.every((r) => Number(r.status) === Status.consumed && Number(r.try_count) === 0));
      const c = await counters(app.url);
      sc.expect('only the checks that were published came due, each finding its confirmation; no resend asked', checks(c, 'confirmed') === N - unchecked.size && checks(c, 'resend') === 0 && resendActions(c) === '{}', `checks: ${checks(c, 'confirmed')} confirmed, ${checks(c, 'resend')} resend; ${unchecked.size} lost; producer ${resendActions(c)}`);
      sc.expect('every mail was confirmed to the callback service, checked or not', c['mail_confirmations_total'] === N, c['mail_confirmations_total']);
      assertScenario(sc.record(result));
    });
  });
});
