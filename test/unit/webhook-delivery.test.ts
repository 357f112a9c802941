// Webhook delivery without a database or a network: what an answer means, what a failed try does to an event, the
// signed POST the job makes (with a fake repo and a fake fetch), and the metrics that follow the job's events.
import { parseSecret, verify } from '../../src/core/signature';
import type { RetryPolicy } from '../../src/core/retry';
import { decodeDeliveryFailure, deliveryFailurePhrase, encodeDeliveryFailure, failureOfError, isDelivered, planFailedTry, webhookSecretProblem, type DeliveryFailure } from '../../src/core/webhook-delivery';
import { webhookEvent } from '../../src/core/webhook-event';
import { WebhookJob, type WebhookAttempt } from '../../src/jobs/webhook-job';
import { createLogger } from '../../src/logger';
import { Metrics } from '../../src/observability/metrics';
import type { DueEvent } from '../../src/store/webhook-repo';
import { WEBHOOK_DELIVERY_SQL } from '../../src/store/webhook-sql';
import { TUNING } from '../../src/tuning';
import { sleep } from '../support/wait';

const SECRET_TEXT = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;
const SECRET = parseSecret(SECRET_TEXT);
const POLICY: RetryPolicy = { maxTries: 3, backoff: { baseMs: 1_000, maxMs: 8_000, factor: 2, jitter: 0 } };

describe('what a try comes to', () => {
  test('any 2xx delivers the event; a redirect, a 4xx or a 5xx does not', () => {
    expect([200, 201, 202, 204, 299].every(isDelivered)).toBe(true);
    expect([199, 301, 302, 304, 400, 401, 404, 410, 429, 500, 503].some(isDelivered)).toBe(false);
  });

  test('a fetch that threw is a timeout when its signal fired, and otherwise the code of the error under it', () => {
    expect(failureOfError(new DOMException('The operation was aborted due to timeout', 'TimeoutError'), 5_000)).toEqual({ kind: 'timeout', ms: 5_000 });
    expect(failureOfError(Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } }), 5_000)).toEqual({ kind: 'unreachable', code: 'ECONNREFUSED' });
    expect(failureOfError(Object.assign(new TypeError('fetch failed'), { cause: { code: 'ENOTFOUND' } }), 5_000)).toEqual({ kind: 'unreachable', code: 'ENOTFOUND' });
    expect(failureOfError(Object.assign(new TypeError('fetch failed'), { cause: new Error('bad port') }), 5_000)).toEqual({ kind: 'unreachable', code: 'bad port' });
    expect(failureOfError(new TypeError('fetch failed'), 5_000)).toEqual({ kind: 'unreachable', code: 'TypeError' });
  });

  test('a failed try is stored as data and read back as the same data, and anything else reads as nothing', () => {
    const failures: DeliveryFailure[] = [{ kind: 'http-status', status: 500 }, { kind: 'timeout', ms: 300 }, { kind: 'unreachable', code: 'ECONNREFUSED' }];
    for (const f of failures) expect(decodeDeliveryFailure(encodeDeliveryFailure(f))).toEqual(f);
    for (const stored of [null, '', 'connection refused', '{"kind":"http-status"}', '{"kind":"smtp-transient","code":451}']) expect(decodeDeliveryFailure(stored)).toBeNull();
  });

  test('a person reads a failed try as a sentence', () => {
    expect(deliveryFailurePhrase({ kind: 'http-status', status: 503 })).toBe('the receiver answered 503');
    expect(deliveryFailurePhrase({ kind: 'timeout', ms: 5_000 })).toBe('no answer within 5000 ms');
    expect(deliveryFailurePhrase({ kind: 'unreachable', code: 'ECONNREFUSED' })).toBe('could not reach the receiver (ECONNREFUSED)');
  });

  test('a failed try is tried again after the mail backoff, and the try that reaches MAX_TRIES makes the event failed', () => {
    expect(planFailedTry(0, POLICY)).toEqual({ tries: 1, delayMs: 1_000 });
    expect(planFailedTry(1, POLICY)).toEqual({ tries: 2, delayMs: 2_000 });
    expect(planFailedTry(2, POLICY)).toEqual({ tries: 3, delayMs: null });
  });

  test('a webhook secret is whsec_ and the base64 of 24 bytes or more, and a problem with it never repeats it', () => {
    expect(webhookSecretProblem(SECRET_TEXT)).toBeNull();
    for (const bad of ['hunter2hunter2hunter2hunter2', 'whsec_', 'whsec_%%%', `whsec_${Buffer.alloc(16, 3).toString('base64')}`, `whsec_${Buffer.alloc(32, 3).toString('base64')}x`]) {
      const problem = webhookSecretProblem(bad);
      expect(problem).not.toBeNull();
      if (bad.length > 'whsec_'.length) expect(problem).not.toContain(bad.replace(/^whsec_/, ''));
    }
  });
});

/** A repo in memory: the events it hands out, and what the job recorded. */
class FakeRepo {
  due: DueEvent[] = [];
  delivered: number[] = [];
  released: number[] = [];
  failures: { id: number; expectedTries: number; delayMs: number | null; failure: DeliveryFailure }[] = [];
  async takeDue(limit: number): Promise<DueEvent[]> {
    return this.due.splice(0, limit);
  }
  async markDelivered(ids: readonly number[]): Promise<number> {
    this.delivered.push(...ids);
    return ids.length;
  }
  async recordFailure(id: number, expectedTries: number, delayMs: number | null, failure: DeliveryFailure): Promise<boolean> {
    this.failures.push({ id, expectedTries, delayMs, failure });
    return true;
  }
  async release(ids: readonly number[]): Promise<void> {
    this.released.push(...ids);
  }
}

function dueEvent(id: number, tries = 0): DueEvent {
  const row = webhookEvent({ type: 'delivered', mail: { msgId: String(7_000_000 + id), tags: ['welcome'], metadata: { userId: String(id) } }, recipient: `user${id}@example.com`, tryCount: 1, at: new Date('2026-12-04T10:00:00.000Z') });
  return { id, ...row, tries };
}

interface Seen {
  url: string;
  init: RequestInit;
}

function jobWith(repo: FakeRepo, answer: (seen: Seen) => Promise<Response>): { job: WebhookJob; seen: Seen[]; attempts: WebhookAttempt[] } {
  const seen: Seen[] = [];
  const fakeFetch = (async (url: string, init: RequestInit) => {
    const s = { url, init };
    seen.push(s);
    return answer(s);
  }) as unknown as typeof fetch;
  const job = new WebhookJob({ repo, url: 'https://hooks.example.com/mail', secret: SECRET, timeoutMs: 1_000, retry: POLICY, logger: createLogger({ level: 'silent', pretty: false }), fetch: fakeFetch });
  const attempts: WebhookAttempt[] = [];
  job.on('attempt', (a) => attempts.push(a));
  return { job, seen, attempts };
}

describe('the webhook job', () => {
  test('POSTs each due event once, signed with its own id as webhook-id, following no redirect, and marks the delivered ones in one statement', async () => {
    const repo = new FakeRepo();
    repo.due = [dueEvent(1), dueEvent(2)];
    const { job, seen, attempts } = jobWith(repo, async () => new Response(null, { status: 204 }));
    expect(await job.runOnce()).toBe(2);
    expect(seen).toHaveLength(2);
    for (const [i, s] of seen.entries()) {
      const headers = s.init.headers as Record<string, string>;
      const event = dueEvent(i + 1);
      expect(s.url).toBe('https://hooks.example.com/mail');
      expect(s.init).toMatchObject({ method: 'POST', redirect: 'manual', body: event.payload });
      expect(s.init.signal).toBeInstanceOf(AbortSignal);
      expect(headers['content-type']).toBe('application/json');
      expect(headers['webhook-id']).toBe(event.eventId);
      expect(verify(SECRET, headers, event.payload)).toBe(true);
    }
    expect(repo.delivered.sort()).toEqual([1, 2]);
    expect(repo.failures).toEqual([]);
    expect(attempts.map((a) => a.outcome)).toEqual(['delivered', 'delivered']);
  });

  test('any answer but a 2xx is a failed try recorded with its status as data: tried again with the backoff, failed at MAX_TRIES', async () => {
    const repo = new FakeRepo();
    repo.due = [dueEvent(1, 0), dueEvent(2, 2)];
    const { job, attempts } = jobWith(repo, async () => new Response(null, { status: 302, headers: { location: 'https://elsewhere.example.com/' } }));
    await job.runOnce();
    expect(repo.delivered).toEqual([]);
    expect(repo.failures.sort((a, b) => a.id - b.id)).toEqual([
      { id: 1, expectedTries: 0, delayMs: 1_000, failure: { kind: 'http-status', status: 302 } },
      { id: 2, expectedTries: 2, delayMs: null, failure: { kind: 'http-status', status: 302 } },
    ]);
    expect(attempts.map((a) => [a.eventId, a.outcome, a.tries]).sort()).toEqual([
      [dueEvent(1).eventId, 'retry', 1],
      [dueEvent(2).eventId, 'failed', 3],
    ]);
  });

  test('no connection and no answer in time are failed tries too, with the error code or the timeout as data', async () => {
    const repo = new FakeRepo();
    repo.due = [dueEvent(1), dueEvent(2)];
    const { job } = jobWith(repo, async (s) => {
      if ((s.init.headers as Record<string, string>)['webhook-id'] === dueEvent(1).eventId) throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
      throw new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    });
    await job.runOnce();
    expect(repo.failures.sort((a, b) => a.id - b.id).map((f) => f.failure)).toEqual([{ kind: 'unreachable', code: 'ECONNREFUSED' }, { kind: 'timeout', ms: 1_000 }]);
  });

  test('keeps at most the tuned number of POSTs in flight, and takes the next batch at once after a full one', async () => {
    const repo = new FakeRepo();
    const total = TUNING.webhooks.batch + 5;
    repo.due = Array.from({ length: total }, (_, i) => dueEvent(i + 1));
    let inFlight = 0;
    let most = 0;
    const { job } = jobWith(repo, async () => {
      most = Math.max(most, ++inFlight);
      await sleep(2); // fixed: the POST's own time, so that the POSTs overlap and the most in flight shows
      inFlight--;
      return new Response(null, { status: 200 });
    });
    expect(await job.runOnce()).toBe(total);
    expect(most).toBe(TUNING.webhooks.concurrency);
    expect(repo.delivered).toHaveLength(total);
  });

  test('a stop lets the POSTs in flight finish and be recorded, and gives the events never tried back at once', async () => {
    const repo = new FakeRepo();
    repo.due = Array.from({ length: TUNING.webhooks.concurrency * 2 }, (_, i) => dueEvent(i + 1));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { job, seen } = jobWith(repo, async () => {
      await gate;
      return new Response(null, { status: 200 });
    });
    const round = job.runOnce();
    await new Promise((r) => setImmediate(r));
    const stopped = job.stop();
    release();
    await Promise.all([round, stopped]);
    expect(seen).toHaveLength(TUNING.webhooks.concurrency);
    expect(repo.delivered).toHaveLength(TUNING.webhooks.concurrency);
    expect(repo.released).toHaveLength(TUNING.webhooks.concurrency);
    expect(new Set([...repo.delivered, ...repo.released]).size).toBe(TUNING.webhooks.concurrency * 2);
  });
});

describe('the webhook metrics', () => {
  test('mail_webhook_deliveries_total follows the job\'s attempts by outcome, and mail_webhook_events reads the counts at scrape time', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const repo = new FakeRepo();
    repo.due = [dueEvent(1), dueEvent(2, 2)];
    const { job } = jobWith(repo, async (s) => new Response(null, { status: (s.init.headers as Record<string, string>)['webhook-id'] === dueEvent(1).eventId ? 200 : 500 }));
    metrics.observe({ webhooks: job });
    metrics.attach({ webhooks: async () => ({ pending: 4, failed: 1 }) });
    await job.runOnce();
    const text = (await metrics.render()).body;
    expect(text).toContain('mail_webhook_deliveries_total{outcome="delivered"} 1');
    expect(text).toContain('mail_webhook_deliveries_total{outcome="failed"} 1');
    expect(text).toContain('mail_webhook_deliveries_total{outcome="retry"} 0');
    expect(text).toContain('mail_webhook_events{state="pending"} 4');
    expect(text).toContain('mail_webhook_events{state="failed"} 1');
  });
});

describe('the webhook statements', () => {
  const text = (v: string | ((n: number) => string)) => (typeof v === 'string' ? v : v(3));
  const updates = Object.entries(WEBHOOK_DELIVERY_SQL).filter(([, v]) => /^\s*UPDATE\b/.test(text(v)));

  test('every transition is guarded by the state it starts from: pending, or failed for a person\'s retry', () => {
    expect(updates.map(([name]) => name).sort()).toEqual(['delivered', 'failedTry', 'hold', 'release', 'retry', 'retryAllFailed']);
    for (const [name, v] of updates) {
      const where = text(v).slice(text(v).lastIndexOf('WHERE'));
      expect({ name, guarded: /\bstate = [02]\b/.test(where) }).toEqual({ name, guarded: true });
    }
    expect(WEBHOOK_DELIVERY_SQL.retry).toMatch(/WHERE event_id = \? AND state = 2\s*$/);
    // a failed try names the try count it started from, so a try is counted once
    expect(WEBHOOK_DELIVERY_SQL.failedTry).toMatch(/WHERE id = \? AND state = 0 AND tries = \?\s*$/);
  });

  test('the due rows are a range of the next_try_time index, taken with SKIP LOCKED; id lists have one placeholder per id', () => {
    expect(WEBHOOK_DELIVERY_SQL.selectDue).toMatch(/FORCE INDEX \(idx_webhook_event_next_try_time\)[\s\S]*next_try_time <= UTC_TIMESTAMP\(3\) AND state = 0[\s\S]*FOR UPDATE SKIP LOCKED$/);
    for (const build of [WEBHOOK_DELIVERY_SQL.hold, WEBHOOK_DELIVERY_SQL.release, WEBHOOK_DELIVERY_SQL.delivered]) expect(build(4)).toMatch(/IN \(\?,\?,\?,\?\)/);
  });
});
