// Metrics follow the components' typed events (nothing is wrapped at run time): MsgLogRepo 'transition',
// 'redelivered', 'retried'; Publisher 'settled'; RedeliveryJob 'round'; MailListener 'sent'.
import { EventEmitter } from 'node:events';
import type { PublisherEvents } from '../../src/broker/publisher';
import type { FailureOutcome } from '../../src/core/retry';
import { Status } from '../../src/core/status';
import type { RecipientStateName, SendDecision } from '../../src/core/recipients';
import { RedeliveryJob, type JobEvents, type RoundResult } from '../../src/jobs/redelivery-job';
import type { ListenerEvents } from '../../src/listener/mail-listener';
import { createLogger } from '../../src/logger';
import { Metrics } from '../../src/observability/metrics';
import { PerItemErrors } from '../../src/store/batcher';
import type { Pool } from '../../src/store/db';
import { MsgLogRepo, type RepoEvents } from '../../src/store/msg-log-repo';

const logger = createLogger({ level: 'silent', pretty: false });
const TIMING = { publishGraceMs: 1_000, consumeDeadlineMs: 1_000, leaseMs: 1_000 };

async function samples(m: Metrics): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const metric of await m.registry.getMetricsAsJSON()) {
    for (const v of metric.values as { value: number; labels: Record<string, string | number>; metricName?: string }[]) {
      const labels = Object.entries(v.labels).map(([k, l]) => `${k}="${l}"`).sort().join(',');
      out.set(`${v.metricName ?? metric.name}{${labels}}`, v.value);
    }
  }
  return out;
}

/** A pool whose every statement matched `affected` rows. */
const poolOf = (affected: () => number) => ({ execute: async () => ({ affectedRows: affected() }) }) as unknown as Pool;

describe('MsgLogRepo announces the transitions it applied', () => {
  const events = (repo: MsgLogRepo) => {
    const seen: RepoEvents['transition'][0][] = [];
    repo.on('transition', (t) => seen.push(t));
    return seen;
  };

  test('an insert, a batch (its rows that failed not counted), an applied mark; a guarded update that matched nothing announces nothing', async () => {
    let affected = 1;
    const repo = new MsgLogRepo(poolOf(() => affected), TIMING);
    const seen = events(repo);
    const row = { msgId: '1', msg: '{}', exchange: 'x', routingKey: 'k' };
    await repo.insert(row);
    await repo.insertOn(poolOf(() => 1), row);
    await repo.insertMany([row]);
    expect(await repo.markConsumed('1', null)).toBe(true);
    affected = 0;
    expect(await repo.markConsumed('1', null)).toBe(false);
    expect(await repo.markManyConsumed(['1', '2'])).toBe(0);
    expect(await repo.manualRetry('1')).toBe(false);
    affected = 3;
    expect(await repo.markDelivered(['1', '2', '3'], 0)).toBe(3);
    expect(seen).toEqual([
      { toStatus: Status.sending, n: 1 },
      { toStatus: Status.sending, n: 1 },
      { toStatus: Status.sending, n: 1 },
      { toStatus: Status.consumed, n: 1 },
      { toStatus: Status.delivered, n: 3 },
    ]);
  });

  test('a batch that fell back to one insert per row counts the rows that went in', async () => {
    const repo = new MsgLogRepo({} as Pool, TIMING);
    const seen = events(repo);
    (repo as unknown as { insertRows: () => Promise<PerItemErrors> }).insertRows = async () => new PerItemErrors([undefined, new Error('dup'), undefined]);
    const row = { msgId: '1', msg: '{}', exchange: 'x', routingKey: 'k' };
    await repo.insertMany([row, row, row]);
    expect(seen).toEqual([{ toStatus: Status.sending, n: 2 }]);
  });

  test('failures say whose they are: the publisher\'s, the listener\'s; a person\'s retry is announced', async () => {
    const repo = new MsgLogRepo(poolOf(() => 1), TIMING);
    const seen = events(repo);
    const retried: string[] = [];
    repo.on('retried', ({ msgId }) => retried.push(msgId));
    const dead: FailureOutcome = { status: Status.dead, tryCount: 3, delayMs: null };
    await repo.recordPublishFailure('1', 2, dead, { kind: 'publish-nack' });
    const decision = { status: Status.consume_failed, tryCount: 1, delayMs: 100, failure: null, perRecipient: false, changed: [] } as unknown as SendDecision;
    await repo.recordSend('2', 'me', 0, decision);
    await repo.manualRetry('3');
    expect(seen).toEqual([
      { toStatus: Status.dead, n: 1, by: 'publisher' },
      { toStatus: Status.consume_failed, n: 1, by: 'listener' },
      { toStatus: Status.sending, n: 1 },
    ]);
    expect(retried).toEqual(['3']);
  });
});

describe('Metrics.observe', () => {
  test('turns the events into the same counters and histograms', async () => {
    const m = new Metrics({ defaultMetrics: false });
    const repo = new EventEmitter<RepoEvents>();
    const publisher = new EventEmitter<PublisherEvents>();
    const job = new EventEmitter<JobEvents>();
    const listener = new EventEmitter<ListenerEvents>();
    m.observe({ repo, publisher, job, listener });

    repo.emit('transition', { toStatus: Status.sending, n: 4 });
    repo.emit('transition', { toStatus: Status.dead, n: 2, by: 'job' });
    repo.emit('transition', { toStatus: Status.dead, n: 1, by: 'listener' });
    repo.emit('transition', { toStatus: Status.delivery_failed, n: 1, by: 'publisher' });
    repo.emit('redelivered', { n: 3 });
    repo.emit('retried', { msgId: '1' });
    publisher.emit('settled', { msgId: '1', outcome: 'ack', ms: 2 });
    publisher.emit('settled', { msgId: '2', outcome: 'returned', ms: 3 });
    job.emit('round', { result: 'ran', ms: 20 });
    job.emit('round', { result: 'skipped' });
    job.emit('round', { result: 'failed' });
    const state: RecipientStateName = 'accepted';
    listener.emit('sent', { outcome: 'accepted', ms: 5, recipients: [{ recipient: 'a@example.com', state }] });

    const s = await samples(m);
    expect(s.get('mail_transitions_total{to_status="sending"}')).toBe(4);
    expect(s.get('mail_transitions_total{to_status="dead"}')).toBe(3);
    expect(s.get('mail_transitions_total{to_status="delivery_failed"}')).toBe(1);
    expect(s.get('mail_dead_total{by="job"}')).toBe(2);
    expect(s.get('mail_dead_total{by="listener"}')).toBe(1);
    expect(s.has('mail_dead_total{by="publisher"}')).toBe(false);
    expect(s.get('mail_redelivered_total{}')).toBe(3);
    expect(s.get('mail_manual_retries_total{}')).toBe(1);
    expect(s.get('mail_publish_confirm_seconds_count{outcome="ack"}')).toBe(1);
    expect(s.get('mail_publish_confirm_seconds_sum{outcome="returned"}')).toBeCloseTo(0.003);
    expect(s.get('mail_redelivery_rounds_total{result="ran"}')).toBe(1);
    expect(s.get('mail_redelivery_rounds_total{result="skipped"}')).toBe(1);
    expect(s.get('mail_redelivery_rounds_total{result="failed"}')).toBe(1);
    expect(s.get('mail_redelivery_round_seconds_count{}')).toBe(1);
    expect(s.get('mail_redelivery_round_seconds_sum{}')).toBeCloseTo(0.02);
    expect(s.get('mail_smtp_send_seconds_count{outcome="accepted"}')).toBe(1);
    expect(s.get('mail_recipients_total{state="accepted"}')).toBe(1);
  });
});

describe('RedeliveryJob announces each round once, however many callers await it', () => {
  const jobWith = (round: () => Promise<RoundResult>) => {
    const job = new RedeliveryJob({ repo: {} as never, dispatcher: {} as never, publisherReady: () => true, cron: '* * * * *', batchSize: 1, maxTries: 3, uncertainPolicy: 'resend', roundBudgetMs: 1, logger });
    (job as unknown as { round: typeof round }).round = round;
    const seen: JobEvents['round'][0][] = [];
    job.on('round', (r) => seen.push(r));
    return { job, seen };
  };
  const result: RoundResult = { republished: 1, confirmed: 1, dead: 0, postponed: 0, batches: 1, ms: 12 };

  test('a round that ran, awaited by two callers', async () => {
    const { job, seen } = jobWith(async () => result);
    await Promise.all([job.runOnce(), job.runOnce()]);
    expect(seen).toEqual([{ result: 'ran', ms: 12 }]);
  });

  test('a skipped round and a failed one', async () => {
    const { job, seen } = jobWith(async () => ({ ...result, skipped: 'broker unavailable' }));
    await job.runOnce();
    (job as unknown as { round: () => Promise<RoundResult> }).round = async () => Promise.reject(new Error('db down'));
    await expect(job.runOnce()).rejects.toThrow('db down');
    expect(seen).toEqual([{ result: 'skipped' }, { result: 'failed' }]);
  });
});
