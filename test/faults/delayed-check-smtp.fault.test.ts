// Fault scenarios of RELIABILITY_SCHEME=delayed-check on the SMTP side, played by the loopback sink, with production
// timings (backoff from 30 s, MAX_TRIES 8):
//   delayed-check-smtp-4xx: deferrals, a 451 after DATA once, and one of two recipients greylisted (450 4.2.0 at
//     RCPT) for 20 s: a listener took every try in hand, so every check finds its confirmation and nothing is
//     resent by a check (the retry is the job's, after its backoff); every recipient gets the mail once.
//   delayed-check-smtp-5xx: permanent refusals, a 550 after DATA, and one of two recipients unknown (550 5.1.1 at
//     RCPT): dead, or consumed with the refused recipient bounced, at the first try; confirmed when a listener took
//     them, so no check asks for anything and nothing is sent twice.
// Both shorten the check delay to 5 s for run time: the checks of the first try then come due before the retry, so
// what they find is the same on every run.
//   delayed-check-prefetch-backlog: a slow relay with all its backlog in the listener's prefetch. A mail waiting there
//     for a lane (unacked, unclaimed; the mail queue has no ready message) was confirmed when the listener took it in
//     hand, so its checks find the confirmation: none is resent, none made dead without a relay having seen it.
import { Status } from '../../src/core/status';
import { assertScenario, PRODUCTION, readRows, ScenarioRun, Traffic } from './harness';
import { checkedFixture, checks, counters, indexOf, resendActions, resends, scheme, settleChecked } from './delayed-check-support';

jest.setTimeout(180_000);

const DELAY = 5_000;
const BACKOFF_BASE_MS = Number(PRODUCTION.BACKOFF_BASE_MS);

/** Copies per (msgId, recipient) at the sink. */
const perRecipient = (deliveries: readonly { msgId: string | null; recipient: string }[]) => {
  const n = new Map<string, number>();
  for (const d of deliveries) n.set(`${d.msgId}|${d.recipient.toLowerCase()}`, (n.get(`${d.msgId}|${d.recipient.toLowerCase()}`) ?? 0) + 1);
  return n;
};

describe('fault: SMTP refusals under the delayed-check scheme', () => {
  describe('delayed-check-smtp-4xx', () => {
    const fx = checkedFixture(DELAY);
    beforeAll(() => fx.setup());
    afterAll(() => fx.stop());

    test('mails deferred by the relay are retried by the job after their backoff, not resent by their checks, and reach every recipient once', async () => {
      const N = 40;
      const G = 20;
      const GREY_MS = 20_000;
      const sc = new ScenarioRun('delayed-check-smtp-4xx', `${N} mails, every 2nd refused once with 451 after DATA; ${G} more to two recipients, one greylisted ${GREY_MS / 1000} s; check delay ${DELAY / 1000} s (shortened for run time), production timings`);
      fx.sink.decide = ({ subject, attempt }) => (indexOf(subject) % 2 === 0 && attempt === 1 ? 'tempfail' : 'accept');
      fx.sink.greylist({ ms: GREY_MS, match: (to) => to.endsWith('@greylist.example') });
      const app = await fx.startApp({ env: { ...PRODUCTION, ...scheme(DELAY) } });
      const single = new Traffic(app.url, N, { concurrency: 5 });
      const grey = new Traffic(app.url, G, { concurrency: 5, subject: (i) => `greylisted mail ${i}`, to: 'a@example.com,b@greylist.example' });
      await Promise.all([single.done, grey.done]);
      const accepted = [...single.accepted, ...grey.accepted];
      sc.expect('every request answered 202', single.count(202) === N && grey.count(202) === G, JSON.stringify([single.statuses, grey.statuses]));
      const result = await settleChecked(sc, fx, { accepted, sink: () => fx.sink.received, pool: app.pool, boundMs: 90_000, checksBoundMs: 30_000, tried: () => fx.sink.triedMsgIds() });

      const rows = new Map((await readRows(app.pool)).map((r) => [String(r.msg_id), r]));
      const deferred = [...single.outcomes.filter((o) => o.i % 2 === 0).map((o) => o.msgId!), ...grey.accepted];
      const straight = single.outcomes.filter((o) => o.i % 2 === 1).map((o) => o.msgId!);
      sc.expect('the deferred mails consumed at try 1, the others at try 0', deferred.every((id) => rows.get(id)?.status === Status.consumed && Number(rows.get(id)?.try_count) === 1) && straight.every((id) => Number(rows.get(id)?.try_count) === 0));
      const gaps = single.outcomes.filter((o) => o.i % 2 === 0).map((o) => fx.sink.attemptsFor(o.msgId!).map((a) => a.at)).map((at) => (at.length === 2 ? at[1]! - at[0]! : -1));
      sc.expect(`each 451 retried once, after its backoff (at least ${(BACKOFF_BASE_MS * 0.8) / 1000} s)`, gaps.every((g) => g >= BACKOFF_BASE_MS * 0.8), `${(Math.min(...gaps) / 1000).toFixed(1)}-${(Math.max(...gaps) / 1000).toFixed(1)} s`);
      const copies = perRecipient(fx.sink.deliveries());
      const each = grey.accepted.flatMap((id) => [copies.get(`${id}|a@example.com`) ?? 0, copies.get(`${id}|b@greylist.example`) ?? 0]);
      sc.expect('each recipient of the greylisted mails got it once', each.every((n) => n === 1) && fx.sink.greylisted.length >= G, `copies per recipient: ${[...new Set(each)].join(',')}; ${fx.sink.greylisted.length} greylist refusals`);
      const c = await counters(app.url);
      // the first try's check of a deferred mail finds no confirmation; the row has moved on to try 1, so the producer declines
      sc.expect('the check of every try, first tries and retries, found its confirmation: no resend was asked', checks(c, 'resend') === 0 && resendActions(c) === '{}' && checks(c, 'confirmed') === N + G + deferred.length, `checks: ${checks(c, 'confirmed')} confirmed, ${checks(c, 'resend')} resend; ${deferred.length} deferred; producer ${resendActions(c)}`);
      assertScenario(sc.record(result));
    });
  });

  describe('delayed-check-smtp-5xx', () => {
    const fx = checkedFixture(DELAY);
    beforeAll(() => fx.setup());
    afterAll(() => fx.stop());

    test('mails refused for good end dead or bounced at the first try, are confirmed, and are never sent twice', async () => {
      const N = 40;
      const P = 20;
      const sc = new ScenarioRun('delayed-check-smtp-5xx', `${N} mails, every 2nd refused with 550 after DATA; ${P} more to two recipients, one unknown (550 5.1.1 at RCPT); check delay ${DELAY / 1000} s (shortened for run time), production timings`);
      fx.sink.decide = ({ subject }) => (indexOf(subject) % 2 === 0 ? 'permfail' : 'accept');
      fx.sink.rcpt = ({ to }) => (to.startsWith('unknown') ? 'permfail' : undefined);
      const app = await fx.startApp({ env: { ...PRODUCTION, ...scheme(DELAY) } });
      const single = new Traffic(app.url, N, { concurrency: 5 });
      const partial = new Traffic(app.url, P, { concurrency: 5, subject: (i) => `partly refused mail ${i}`, to: 'a@example.com,unknown-b@example.com' });
      await Promise.all([single.done, partial.done]);
      const accepted = [...single.accepted, ...partial.accepted];
      sc.expect('every request answered 202', single.count(202) === N && partial.count(202) === P, JSON.stringify([single.statuses, partial.statuses]));
      const result = await settleChecked(sc, fx, { accepted, sink: () => fx.sink.received, pool: app.pool, boundMs: 30_000, checksBoundMs: 30_000, tried: () => fx.sink.triedMsgIds() });

      const rows = new Map((await readRows(app.pool)).map((r) => [String(r.msg_id), r]));
      const refused = single.outcomes.filter((o) => o.i % 2 === 0).map((o) => o.msgId!);
      sc.expect('the mails refused after DATA: dead at try 1, the 550 in last_error', refused.every((id) => rows.get(id)?.status === Status.dead && Number(rows.get(id)?.try_count) === 1 && /550/.test(rows.get(id)?.last_error ?? '')));
      const attempts = refused.map((id) => fx.sink.attemptsFor(id).length);
      sc.expect('exactly one attempt at the relay for each of them, none kept', attempts.every((n) => n === 1) && refused.every((id) => fx.sink.countFor(id) === 0), `attempts: ${[...new Set(attempts)].join(',')}`);
      const copies = perRecipient(fx.sink.deliveries());
      sc.expect('the partly refused mails: consumed at try 0, the known recipient got each once, the unknown one never', partial.accepted.every((id) => rows.get(id)?.status === Status.consumed && Number(rows.get(id)?.try_count) === 0 && copies.get(`${id}|a@example.com`) === 1 && !copies.has(`${id}|unknown-b@example.com`)));
      const tries = await app.pool.query<{ try_count: number; n: number }[]>('SELECT try_count, COUNT(*) AS n FROM callback_confirmation GROUP BY try_count');
      sc.expect('every mail confirmed to the callback service, at its first try', tries.length === 1 && Number(tries[0]!.try_count) === 0 && Number(tries[0]!.n) === N + P, JSON.stringify(tries.map((t) => [Number(t.try_count), Number(t.n)])));
      const c = await counters(app.url);
      sc.expect('every check found its confirmation; no resend was asked', checks(c, 'confirmed') === N + P && checks(c, 'resend') === 0 && resendActions(c) === '{}', `checks: ${checks(c, 'confirmed')} confirmed, ${checks(c, 'resend')} resend; producer ${resendActions(c)}`);
      assertScenario(sc.record(result));
    });
  });

  describe('delayed-check-prefetch-backlog', () => {
    const BACKLOG_DELAY = 1_000;
    const fx = checkedFixture(BACKLOG_DELAY);
    beforeAll(() => fx.setup());
    afterAll(() => fx.stop());

    test('mails waiting in the listener prefetch for a lane longer than the check delay are not taken for lost', async () => {
      const N = 25;
      const sc = new ScenarioRun('delayed-check-prefetch-backlog', `${N} mails at a relay taking 6 s per mail (5 lanes: 30 s to drain), all in the listener's prefetch; check delay 1 s (the minimum, so that MAX_TRIES checks fit in the wait), production timings`);
      fx.sink.perMailDelayMs = 6_000;
      const app = await fx.startApp({ env: { ...PRODUCTION, ...scheme(BACKLOG_DELAY) } });
      const traffic = new Traffic(app.url, N, { concurrency: 10 });
      await traffic.done;
      const result = await settleChecked(sc, fx, { accepted: traffic.accepted, sink: () => fx.sink.received, pool: app.pool, boundMs: 90_000, checksBoundMs: 30_000, tried: () => fx.sink.triedMsgIds() });
      const byTry: Record<string, number> = {};
      for (const r of await readRows(app.pool)) byTry[`status ${r.status} try ${r.try_count}`] = (byTry[`status ${r.status} try ${r.try_count}`] ?? 0) + 1;
      sc.expect('every mail consumed at try 0: none resent while it waited for a lane', Object.keys(byTry).join() === `status ${Status.consumed} try 0`, JSON.stringify(byTry));
      const c = await counters(app.url);
      sc.expect('the producer resent nothing and made nothing dead', resends(c, 'resend') === 0 && resends(c, 'dead') === 0, `producer ${resendActions(c)}`);
      assertScenario(sc.record(result));
    });
  });
});
