import { CachedCheck } from '../../src/observability/cached-check';
import { Metrics } from '../../src/observability/metrics';
import { RateLimit } from '../../src/http/dashboard/rate-limit';
import { AppError } from '../../src/errors';
import { whereOf } from '../../src/http/dashboard/queries';

describe('CachedCheck (the SMTP check behind /ready)', () => {
  test('probes once per ttl, however often it is asked', async () => {
    let now = 0;
    let probes = 0;
    const check = new CachedCheck(async () => void probes++, { ttlMs: 5_000, timeoutMs: 100, now: () => now });
    expect(await check.check()).toBe(true);
    now = 4_999;
    expect(await check.check()).toBe(true);
    expect(probes).toBe(1);
    now = 5_000;
    await check.check();
    expect(probes).toBe(2);
  });

  test('callers asking at the same time share one probe', async () => {
    let probes = 0;
    const check = new CachedCheck(() => new Promise((r) => setTimeout(() => r(probes++), 20)), { ttlMs: 1_000, timeoutMs: 1_000 });
    expect(await Promise.all([check.check(), check.check(), check.check()])).toEqual([true, true, true]);
    expect(probes).toBe(1);
  });

  test('a failing probe is down, with its error kept', async () => {
    const check = new CachedCheck(async () => Promise.reject(new Error('ECONNREFUSED 127.0.0.1:25')), { ttlMs: 1_000, timeoutMs: 1_000 });
    expect(await check.check()).toBe(false);
    expect(check.lastError).toBe('ECONNREFUSED 127.0.0.1:25');
  });

  test('a probe that hangs counts as down after the timeout', async () => {
    const check = new CachedCheck(() => new Promise(() => undefined), { ttlMs: 1_000, timeoutMs: 30 });
    const started = Date.now();
    expect(await check.check()).toBe(false);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(check.lastError).toMatch(/no answer within 30 ms/);
  });
});

describe('RateLimit (bulk retries)', () => {
  test('allows max per window, then refuses with RATE_LIMITED and the seconds until a slot frees', () => {
    let now = 1_000_000;
    const limit = new RateLimit(2, 60_000, () => now);
    limit.take('bulk retries');
    now += 10_000;
    limit.take('bulk retries');
    let err: unknown;
    try {
      limit.take('bulk retries');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('RATE_LIMITED');
    expect((err as AppError).status).toBe(429);
    expect((err as AppError).extra.retryAfterSeconds).toBe(50);
    now += 50_000;
    expect(() => limit.take('bulk retries')).not.toThrow();
  });
});

describe('Metrics', () => {
  test('every status has a transitions series from the start, and transitions add up by status', async () => {
    const m = new Metrics({ defaultMetrics: false });
    m.transition(3);
    m.transition(1, 5);
    m.transition(5, 0);
    const text = (await m.render()).body;
    expect(text).toMatch(/^mail_transitions_total\{to_status="consumed"\} 1$/m);
    expect(text).toMatch(/^mail_transitions_total\{to_status="delivered"\} 5$/m);
    expect(text).toMatch(/^mail_transitions_total\{to_status="dead"\} 0$/m);
    expect(text).toMatch(/^mail_transitions_total\{to_status="sending"\} 0$/m);
  });

  test('a scrape without a database still answers (the gauges are simply absent)', async () => {
    const m = new Metrics({ defaultMetrics: false });
    m.attach({ stats: { get: () => Promise.reject(new Error('down')) } as never });
    const text = (await m.render()).body;
    expect(text).toMatch(/# TYPE mail_messages gauge/);
    expect(text).not.toMatch(/^mail_messages\{/m);
  });
});

describe('the mail list filter', () => {
  test('digits search a msgId prefix (an index range), anything else the recipients, with LIKE wildcards escaped', () => {
    expect(whereOf({ q: '3824' })).toEqual({ sql: 'WHERE msg_id LIKE ?', args: ['3824%'] });
    const r = whereOf({ status: 5, q: 'A_b%c@X.com' });
    expect(r.sql).toMatch(/^WHERE status = \? AND LOWER\(CASE WHEN JSON_VALID\(msg\) THEN JSON_EXTRACT\(msg, '\$\.tos', '\$\.cc', '\$\.bcc'\) END\) LIKE \?$/);
    expect(r.args).toEqual([5, '%a\\_b\\%c@x.com%']);
    expect(whereOf({})).toEqual({ sql: '', args: [] });
  });
});
