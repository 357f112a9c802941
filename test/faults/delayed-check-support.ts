// What the delayed-check fault scenarios (test/faults/delayed-check-*.fault.test.ts) share: the scheme's fixture (its
// broker names carry the check delay, so the teardown removes the delay queue too), the wait until every check has
// come due and been answered, the /metrics counters of the scheme, and the callback service as a process of its own.
import { connect } from 'amqplib';
import { checkDelayQueue, checkQueue, confirmQueue, resendQueue, type TopologyNames } from '../../src/broker/topology';
import type { Pool } from '../../src/store/db';
import { ChildApp } from '../support/child-app';
import type { Fixture } from '../support/fixture';
import { AMQP_URL, appEnv, uniqueTopology } from '../support/services';
import { sleep } from '../support/wait';
import { check, type CheckResult } from './checker';
import { pendingCount, readRows, scenarioFixture, ScenarioRun, type FinishInput } from './harness';

/** The scheme under test, with the check delay of the scenario (30 s is the default). */
export const scheme = (checkDelayMs: number, devFaults = false): Record<string, string> => ({
  RELIABILITY_SCHEME: 'delayed-check',
  CHECK_DELAY_MS: String(checkDelayMs),
  ...(devFaults ? { DEV_FAULTS: 'true' } : {}),
});

/** A scenario's world for the scheme: `topology.checkDelayMs` must be the apps' CHECK_DELAY_MS (see deleteTopology). */
export const checkedFixture = (checkDelayMs: number): Fixture<'fault'> => scenarioFixture({ topology: { ...uniqueTopology(), checkDelayMs } });

/** The mail queue and the scheme's four queues. */
export const schemeQueues = (t: TopologyNames): string[] => [t.queue, checkDelayQueue(t), checkQueue(t), resendQueue(t), confirmQueue(t)];

/** Ready messages per queue, and consumers (a passive declare each; a missing queue reads as null). */
export async function queueStates(names: readonly string[]): Promise<Record<string, { messages: number; consumers: number } | null>> {
  const conn = await connect(AMQP_URL);
  try {
    const out: Record<string, { messages: number; consumers: number } | null> = {};
    for (const q of names) {
      const ch = await conn.createChannel();
      ch.on('error', () => undefined);
      try {
        const ok = await ch.checkQueue(q);
        out[q] = { messages: ok.messageCount, consumers: ok.consumerCount };
        await ch.close();
      } catch {
        out[q] = null; // a 404 closed the channel
      }
    }
    return out;
  } finally {
    await conn.close().catch(() => undefined);
  }
}

/**
 * Waits until every row is final and the mail, delay, check, resend and confirm queues are all empty, twice in a row
 * a second apart: every check has come due and was answered, and nothing it asked for is still on its way. (A passive
 * declare counts ready messages only; one in a consumer's hands for a moment is covered by the second look.)
 */
export async function waitChecksAnswered(pool: Pool, t: TopologyNames, boundMs: number): Promise<{ done: boolean; ms: number; left: string }> {
  const started = Date.now();
  let quietOnce = false;
  let left = '';
  for (;;) {
    const pending = await pendingCount(pool).catch(() => Number.POSITIVE_INFINITY);
    const states = await queueStates(schemeQueues(t)).catch(() => null);
    const busy = states ? Object.entries(states).filter(([, s]) => !s || s.messages > 0) : [[t.queue, null] as const];
    const short = (q: string) => (q === t.queue ? 'mail' : q.slice(t.queue.length + 1));
    left = `${pending} rows pending; ${busy.map(([q, s]) => `${short(q)}=${s ? s.messages : '?'}`).join(' ') || 'queues empty'}`;
    if (pending === 0 && busy.length === 0) {
      if (quietOnce) return { done: true, ms: Date.now() - started, left };
      quietOnce = true;
    } else quietOnce = false;
    if (Date.now() - started > boundMs) return { done: false, ms: Date.now() - started, left };
    await sleep(1000);
  }
}

/**
 * The end of a scenario of the scheme, up to the checker: the rows settle (the harness's bound and check), then every
 * check comes due and is answered, and only then the checker runs, on the sink and the rows as they are after the
 * last check. The scenario adds its own checks, then records: `assertScenario(sc.record(result))`.
 */
export async function settleChecked(sc: ScenarioRun, fx: Fixture<'fault'>, input: FinishInput & { checksBoundMs: number }): Promise<CheckResult> {
  await sc.settle({ ...input, quietMs: 0 });
  const answered = await waitChecksAnswered(input.pool, fx.topology, input.checksBoundMs);
  sc.expect(`every check came due and was answered within ${Math.round(input.checksBoundMs / 1000)} s after that`, answered.done, answered.done ? `${(answered.ms / 1000).toFixed(1)} s` : answered.left);
  await sleep(input.quietMs ?? 1000);
  const tried = typeof input.tried === 'function' ? input.tried() : input.tried;
  return check({ accepted: input.accepted, sink: typeof input.sink === 'function' ? input.sink() : input.sink, rows: await readRows(input.pool), ...(tried ? { tried } : {}) });
}

/** The scheme's counters on /metrics, e.g. counters(url) -> { 'mail_checks_total{verdict="resend"}': 3, ... }. */
export async function counters(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^(mail_checks_total|mail_resend_requests_total|mail_confirmations_total)(\{[^}]*\})? (\S+)$/gm)) out[`${m[1]}${m[2] ?? ''}`] = Number(m[3]);
  return out;
}

export const checks = (c: Record<string, number>, verdict: 'confirmed' | 'resend') => c[`mail_checks_total{verdict="${verdict}"}`] ?? 0;
export const resends = (c: Record<string, number>, action: 'resend' | 'dead' | 'recheck' | 'leave' | 'none') => c[`mail_resend_requests_total{action="${action}"}`] ?? 0;

/** `{ resend: 3, none: 1 }`: the resend requests the producer answered, by action, for a scenario's figures. */
export const resendActions = (c: Record<string, number>) =>
  JSON.stringify(Object.fromEntries((['resend', 'dead', 'recheck', 'leave', 'none'] as const).map((a) => [a, resends(c, a)]).filter(([, n]) => n)));

/** The index a Traffic request put in its subject (`fault mail <i>`). */
export const indexOf = (subject: string | null): number => Number(/fault mail (\d+)/.exec(subject ?? '')?.[1] ?? -1);

/**
 * The real entry point with ROLES=callback only: no HTTP server (no api role), so it is ready once it consumes both
 * the check and the confirm queue. Killed at the fixture's teardown; `start()` again brings it back.
 */
export function callbackProcess(fx: Fixture<'fault'>, env: Record<string, string>): ChildApp {
  const t = fx.topology;
  const child = new ChildApp(appEnv({ databaseUrl: fx.db.url, amqpUrl: AMQP_URL, smtpUrl: fx.sink.url, topology: t }, { LOG_LEVEL: 'warn', ...env, ROLES: 'callback' }), {
    what: 'consuming the check and confirm queues',
    ready: async () => Object.values(await queueStates([checkQueue(t), confirmQueue(t)])).every((q) => q && q.consumers > 0),
  });
  fx.defer('callback process', () => child.kill('SIGKILL'));
  return child;
}
