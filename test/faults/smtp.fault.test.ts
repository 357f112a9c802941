// Faults on the SMTP side, played by the loopback sink:
//   smtp-4xx-and-timeouts: some mails get a 451 once, some a 451 on every try, some a server that never answers
//     once (the client's timeout fires): retried with backoff until consumed, or dead when the tries run out.
//   smtp-5xx: a 550 for every mail: dead at once, with the answer in last_error, never retried.
//   smtp-drop-after-data: the connection drops after DATA for half the mails (the mail arrived, the client never
//     learns it): counted as uncertain and sent again with the same Message-ID; nodemailer's pool never resends
//     on its own, so the sink sees exactly 1 + uncertain_count copies.
import type { Pool } from '../../src/store/db';
import { Status } from '../../src/core/status';
import { FAST } from '../support/services';
import { waitFor } from '../support/wait';
import { assertScenario, countByStatus, readRows, scenarioFixture, ScenarioRun, Traffic } from './harness';

// Scenarios take longer than the unit and integration tests' 60 s default (npm test runs them too).
jest.setTimeout(180_000);

const indexOf = (subject: string | null) => Number(/fault mail (\d+)/.exec(subject ?? '')?.[1] ?? -1);

async function rowsByIndex(pool: Pool, traffic: Traffic) {
  const rows = new Map((await readRows(pool)).map((r) => [String(r.msg_id), r]));
  return traffic.outcomes.filter((o) => o.msgId).map((o) => ({ i: o.i, msgId: o.msgId!, row: rows.get(o.msgId!) }));
}

describe('fault: SMTP refusals and timeouts', () => {
  describe('smtp-4xx-and-timeouts', () => {
    const fx = scenarioFixture();
    beforeAll(() => fx.setup());
    afterAll(() => fx.stop());

    test('smtp-4xx-and-timeouts', async () => {
      const N = 200;
      const sc = new ScenarioRun('smtp-4xx-and-timeouts', `${N} mails: ¼ get a 451 once, ¼ a 451 every time, 10 a server that hangs once (SMTP timeout ${FAST.SMTP_TIMEOUT_MS} ms)`);
      const group = (i: number) => (i % 20 === 2 ? 'hang-once' : i % 4 === 0 ? '451-once' : i % 4 === 1 ? '451-always' : 'ok');
      fx.sink.decide = ({ subject, attempt }) => {
        const g = group(indexOf(subject));
        if (g === '451-always') return 'tempfail';
        if (g === '451-once' && attempt === 1) return 'tempfail';
        if (g === 'hang-once' && attempt === 1) return 'hang';
        return 'accept';
      };
      const app = await fx.startApp();
      const traffic = new Traffic(app.url, N, { concurrency: 10 });
      await traffic.done;
      sc.expect('every request answered 202', traffic.count(202) === N, JSON.stringify(traffic.statuses));
      const result = await sc.settle({ accepted: traffic.accepted, sink: fx.sink.received, pool: app.pool, boundMs: 40_000 });

      const rows = await rowsByIndex(app.pool, traffic);
      const of = (g: string) => rows.filter((r) => group(r.i) === g);
      sc.expect('451 once: consumed with try_count 1', of('451-once').every((r) => r.row?.status === Status.consumed && Number(r.row.try_count) === 1), of('451-once').length);
      sc.expect('451 always: dead with try_count 3, the 451 in last_error', of('451-always').every((r) => r.row?.status === Status.dead && Number(r.row.try_count) === 3), of('451-always').length);
      sc.expect('hang once: consumed after the timeout, counted as uncertain', of('hang-once').every((r) => r.row?.status === Status.consumed && Number(r.row.uncertain_count) === 1), of('hang-once').length);
      const always = of('451-always').map((r) => fx.sink.attemptsFor(r.msgId).length);
      sc.expect('451 always: exactly 3 attempts each (MAX_TRIES), no retry storm', always.every((n) => n === 3), `attempts: ${[...new Set(always)].join(',')}`);
      // Backoff: the delay before try n+1 is BACKOFF_BASE_MS·2^(n-1) less up to 20% jitter.
      const base = Number(FAST.BACKOFF_BASE_MS);
      let tooSoon = 0;
      let minGap = Infinity;
      for (const r of rows) {
        const at = fx.sink.attemptsFor(r.msgId).map((a) => a.at);
        for (let k = 1; k < at.length; k++) {
          const gap = at[k]! - at[k - 1]!;
          const lower = Math.min(Number(FAST.BACKOFF_MAX_MS), base * 2 ** (k - 1)) * 0.8;
          minGap = Math.min(minGap, gap);
          if (gap < lower) tooSoon++;
        }
      }
      sc.expect('retries waited for their backoff', tooSoon === 0, `shortest gap ${minGap} ms, ${tooSoon} too soon`);
      const dead = await app.pool.query<{ last_error: string }[]>('SELECT last_error FROM msg_log WHERE status = ?', [Status.dead]);
      sc.expect('dead rows say why (the 451)', dead.every((d) => /451/.test(d.last_error)), dead.length);
      const final = sc.record(result);
      assertScenario(final);
    });
  });

  describe('smtp-5xx', () => {
    const fx = scenarioFixture();
    beforeAll(() => fx.setup());
    afterAll(() => fx.stop());

    test('smtp-5xx', async () => {
      const N = 100;
      const sc = new ScenarioRun('smtp-5xx', `a 550 for every one of ${N} mails`);
      fx.sink.mode = 'permfail';
      const app = await fx.startApp();
      const traffic = new Traffic(app.url, N, { concurrency: 10 });
      await traffic.done;
      const started = Date.now();
      const allDead = await waitFor('every row dead', async () => (await readRows(app.pool)).every((r) => Number(r.status) === Status.dead), 5000, 50).catch((e: Error) => e);
      sc.expect('every mail dead at once (within 5 s, no backoff)', !(allDead instanceof Error), allDead instanceof Error ? `${allDead.message}; ${JSON.stringify(await countByStatus(app.pool))}` : `${Date.now() - started} ms`);
      // A retry would come from the re-delivery job: once it has looked at the table twice, it would show.
      let rounds = 0;
      app.job!.on('round', (r) => void (r.result === 'ran' && rounds++));
      await waitFor('two more rounds of the re-delivery job', () => rounds >= 2, 10_000);
      const rows = await app.pool.query<{ try_count: number; last_error: string; next_try_time: Date | null }[]>('SELECT try_count, last_error, next_try_time FROM msg_log');
      sc.expect('try_count 1, the 550 in last_error, nothing scheduled', rows.every((r) => Number(r.try_count) === 1 && /550/.test(r.last_error) && r.next_try_time === null));
      const attempts = traffic.accepted.map((id) => fx.sink.attemptsFor(id).length);
      sc.expect('exactly one attempt per mail at the SMTP server', attempts.every((n) => n === 1), `attempts: ${[...new Set(attempts)].join(',')}`);
      const record = await sc.finish({ accepted: traffic.accepted, sink: fx.sink.received, pool: app.pool, boundMs: 5000, quietMs: 0 });
      assertScenario(record);
    });
  });

  describe('smtp-drop-after-data', () => {
    const fx = scenarioFixture();
    beforeAll(() => fx.setup());
    afterAll(() => fx.stop());

    test('smtp-drop-after-data', async () => {
      const N = 100;
      const sc = new ScenarioRun('smtp-drop-after-data', `the connection drops after DATA (mail kept, no reply) for half of ${N} mails, once`);
      fx.sink.decide = ({ subject, attempt }) => (indexOf(subject) % 2 === 0 && attempt === 1 ? 'drop-after-data' : 'accept');
      const app = await fx.startApp();
      const traffic = new Traffic(app.url, N, { concurrency: 10 });
      await traffic.done;
      const result = await sc.settle({ accepted: traffic.accepted, sink: fx.sink.received, pool: app.pool, boundMs: 30_000, quietMs: 1500 });
      const rows = await rowsByIndex(app.pool, traffic);
      const dropped = rows.filter((r) => r.i % 2 === 0);
      sc.expect('each dropped send counted as uncertain (uncertain_count 1) and consumed', dropped.every((r) => r.row?.status === Status.consumed && Number(r.row.uncertain_count) === 1), dropped.length);
      sc.expect('exactly 2 copies of each dropped mail (the pool resent nothing on its own)', dropped.every((r) => fx.sink.countFor(r.msgId) === 2 && fx.sink.attemptsFor(r.msgId).length === 2));
      sc.expect('the others arrived once, with uncertain_count 0', rows.filter((r) => r.i % 2 === 1).every((r) => fx.sink.countFor(r.msgId) === 1 && Number(r.row?.uncertain_count) === 0));
      const final = sc.record(result);
      assertScenario(final);
      expect(final.result.uncertain).toBe(dropped.length);
    });
  });

  describe('uncertain-policy-dead', () => {
    const fx = scenarioFixture();
    beforeAll(() => fx.setup());
    afterAll(() => fx.stop());

    test('uncertain-policy-dead', async () => {
      const N = 60;
      const sc = new ScenarioRun('uncertain-policy-dead', `UNCERTAIN_POLICY=dead; the connection drops after DATA for half of ${N} mails, 5 hang past the SMTP timeout`);
      const kind = (i: number) => (i % 12 === 1 ? 'hang' : i % 2 === 0 ? 'drop' : 'ok');
      fx.sink.decide = ({ subject, attempt }) => {
        if (attempt > 1) return 'accept';
        const k = kind(indexOf(subject));
        return k === 'hang' ? 'hang' : k === 'drop' ? 'drop-after-data' : 'accept';
      };
      const app = await fx.startApp({ env: { UNCERTAIN_POLICY: 'dead' } });
      const traffic = new Traffic(app.url, N, { concurrency: 10 });
      await traffic.done;
      const result = await sc.settle({ accepted: traffic.accepted, sink: fx.sink.received, pool: app.pool, boundMs: 30_000, quietMs: 1500 });
      const rows = await rowsByIndex(app.pool, traffic);
      const unknown = rows.filter((r) => kind(r.i) !== 'ok');
      const resent = unknown.filter((r) => fx.sink.attemptsFor(r.msgId).length > 1);
      sc.expect('a send whose outcome was unknown is not sent again: dead, for a person to decide', unknown.every((r) => r.row?.status === Status.dead && Number(r.row.uncertain_count) === 1) && resent.length === 0, `${resent.length} of ${unknown.length} sent again; statuses ${[...new Set(unknown.map((r) => r.row?.status))].join(',')}`);
      sc.expect('the others consumed once', rows.filter((r) => kind(r.i) === 'ok').every((r) => r.row?.status === Status.consumed && fx.sink.countFor(r.msgId) === 1));
      assertScenario(sc.record(result));
    });
  });
});
