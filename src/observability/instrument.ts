// Metrics and per-mail log lines without touching the hot-path classes: the composition root wraps the methods
// of the instances it built (repo, publisher, job). The listener and the relay circuit emit events instead
// (src/observability/metrics.ts subscribes). Each wrapper calls the original and only observes
// its result, so behaviour and errors are unchanged. The compiler checks the wrapped methods' names and
// signatures, so a change there is a build error here, not a silently missing metric.
import type { Publish, PublishRequest } from '../broker/publisher';
import { Status } from '../core/status';
import type { RedeliveryJob, RoundResult } from '../jobs/redelivery-job';
import type { Logger } from '../logger';
import { PerItemErrors } from '../store/batcher';
import type { MsgLogRepo } from '../store/msg-log-repo';
import type { Metrics } from './metrics';

/** Counts every transition the repo applied (only those that matched a row: a lost race counts nothing). */
export function instrumentRepo(repo: MsgLogRepo, m: Metrics, logger: Logger): void {
  const insert = repo.insert.bind(repo);
  repo.insert = async (...args) => {
    await insert(...args);
    m.transition(Status.sending);
  };
  const insertMany = repo.insertMany.bind(repo);
  repo.insertMany = async (...args) => {
    const result = await insertMany(...args);
    const failed = result instanceof PerItemErrors ? result.errors.filter((e) => e !== undefined).length : 0;
    m.transition(Status.sending, args[0].length - failed);
    return result;
  };
  const insertOn = repo.insertOn.bind(repo);
  repo.insertOn = async (...args) => {
    await insertOn(...args);
    m.transition(Status.sending);
  };
  const markManyConsumed = repo.markManyConsumed.bind(repo);
  repo.markManyConsumed = async (...args) => {
    const n = await markManyConsumed(...args);
    m.transition(Status.consumed, n);
    return n;
  };
  const markDelivered = repo.markDelivered.bind(repo);
  repo.markDelivered = async (...args) => {
    const n = await markDelivered(...args);
    m.transition(Status.delivered, n);
    return n;
  };
  const recordPublishFailure = repo.recordPublishFailure.bind(repo);
  repo.recordPublishFailure = async (...args) => {
    const applied = await recordPublishFailure(...args);
    if (applied) {
      const [, , outcome] = args;
      m.transition(outcome.status);
      if (outcome.status === Status.dead) m.deadTotal.inc({ by: 'publisher' });
    }
    return applied;
  };
  const recordSend = repo.recordSend.bind(repo);
  repo.recordSend = async (...args) => {
    const applied = await recordSend(...args);
    if (applied) {
      const [, , , decision] = args;
      m.transition(decision.status);
      if (decision.status === Status.dead) m.deadTotal.inc({ by: 'listener' });
    }
    return applied;
  };
  const markConsumed = repo.markConsumed.bind(repo);
  repo.markConsumed = async (...args) => {
    const applied = await markConsumed(...args);
    if (applied) m.transition(Status.consumed);
    return applied;
  };
  const claimDue = repo.claimDue.bind(repo);
  repo.claimDue = async (...args) => {
    const round = await claimDue(...args);
    m.transition(Status.sending, round.republish.length);
    m.transition(Status.dead, round.dead.length);
    m.redelivered.inc(round.republish.length);
    if (round.dead.length) m.deadTotal.inc({ by: 'job' }, round.dead.length);
    for (const r of round.republish) logger.info({ msgId: r.msgId, tryCount: r.tryCount }, 'mail due: publishing it again');
    return round;
  };
  const manualRetry = repo.manualRetry.bind(repo);
  repo.manualRetry = async (...args) => {
    const applied = await manualRetry(...args);
    if (applied) {
      m.transition(Status.sending);
      m.manualRetries.inc();
    }
    return applied;
  };
}

/** Publish-confirm latency by outcome, and a debug line per confirmed publish with its msgId. */
export function instrumentPublisher(publisher: Publish, m: Metrics, logger: Logger): void {
  const publish = publisher.publish.bind(publisher);
  publisher.publish = async (req: PublishRequest) => {
    const started = performance.now();
    const outcome = await publish(req);
    const seconds = (outcome.ok ? outcome.latencyMs : performance.now() - started) / 1000;
    m.publishConfirm.observe({ outcome: outcome.ok ? 'ack' : outcome.reason }, seconds);
    if (outcome.ok) logger.debug({ msgId: req.msgId, confirmMs: Math.round(outcome.latencyMs * 10) / 10, exchange: req.exchange }, 'publish confirmed');
    return outcome;
  };
}

/** Round duration and counts of the re-delivery job; each round observed once however many callers await it. */
export function instrumentJob(job: RedeliveryJob, m: Metrics): void {
  const runOnce = job.runOnce.bind(job);
  const seen = new WeakSet<Promise<RoundResult>>();
  job.runOnce = () => {
    const p = runOnce();
    if (!seen.has(p)) {
      seen.add(p);
      p.then(
        (r) => {
          if (r.skipped) {
            m.redeliveryRounds.inc({ result: 'skipped' });
            return;
          }
          m.redeliveryRounds.inc({ result: 'ran' });
          m.redeliveryRound.observe(r.ms / 1000);
        },
        () => m.redeliveryRounds.inc({ result: 'failed' }),
      );
    }
    return p;
  };
}
