// Fault: the app (the real entry point, as a process) is killed with SIGKILL in the middle of a stream of mails,
// with sends in progress, and a new process is started. The SMTP sink holds its 250 back for a moment, so some
// mails are killed between DATA and the database update: their outcome is genuinely unknown, their lease runs
// out, and they are sent again with the same Message-ID. The checker counts those under `uncertain`; any other
// second copy is a duplicate.
import { Status } from '../../src/core/status';
import { waitFor } from '../support/wait';
import { assertScenario, countByStatus, scenarioFixture, ScenarioRun, Traffic } from './harness';

// Scenarios take longer than the unit and integration tests' 60 s default (npm test runs them too).
jest.setTimeout(180_000);

const N = 400;

describe('fault: SIGKILL of the app mid-stream', () => {
  const fx = scenarioFixture();
  beforeAll(() => fx.setup());
  afterAll(() => fx.stop());

  test('app-sigkill', async () => {
    const sc = new ScenarioRun('app-sigkill', `SIGKILL of the app process with sends in progress, restarted; ${N} mails`);
    // Long enough that, whenever the kill lands, some mails are at the sink with their 250 still on its way.
    fx.sink.replyDelayMs = 300;
    const first = await fx.child();
    const traffic = new Traffic(() => first.url, N, { concurrency: 4, pauseMs: 25 });
    await traffic.reach(150);
    // Kill while mails are being sent: wait (up to 2 s) until the sink is busy. The kill comes then in any case: the
    // check below says whether it landed with mails at the sink.
    await waitFor('60 mails at the sink', () => fx.sink.received.length >= 60, 2000, 20).catch(() => undefined);
    const cut = traffic.inFlight;
    const killed = await first.kill('SIGKILL');
    traffic.pause();
    const atSink = new Set(fx.sink.received.map((m) => m.msgId));
    const before = await countByStatus(fx.db.pool);
    const consumedAtKill = before[Status.consumed] ?? 0;
    sc.expect('the process died by SIGKILL', killed.signal === 'SIGKILL', `${killed.signal}`);
    sc.expect('the kill landed with mails at the sink not yet recorded as consumed', atSink.size > consumedAtKill, `${atSink.size} at the sink, ${consumedAtKill} consumed`);

    const second = await fx.child();
    traffic.retarget(() => second.url);
    traffic.resume();
    await traffic.done;
    const answeredOtherwise = traffic.outcomes.filter((o) => o.status !== 202 && o.status !== 'error');
    sc.expect('every answer was a 202 (the other requests were cut by the kill)', answeredOtherwise.length === 0, `${cut} requests in flight at the kill, ${traffic.count('error')} cut`);

    const record = await sc.finish({ accepted: traffic.accepted, sink: fx.sink.received, pool: fx.db.pool, boundMs: 40_000 });
    process.stdout.write(`  ${atSink.size - consumedAtKill} mails were at the sink without a recorded outcome when the process died\n`);
    assertScenario(record);
  });
});
