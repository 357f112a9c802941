// The app's one rate limiter, in process (no Redis): keyed buckets of tokens. The API uses it per API key per minute
// and per recipient address per hour (RateLimiter, below); the dashboard for its bulk retries
// (src/http/dashboard/rate-limit.ts). Limits are per process: N instances behind a balancer allow up to N times the
// configured rate. Memory is bounded: a bucket that has refilled completely is the same as no bucket and is dropped;
// past `maxEntries`, the least recently used buckets go first.
import { AppError } from '../../errors';
import { TUNING } from '../../tuning';

/**
 * How taken tokens come back.
 * - `steady` (a token bucket): at capacity/windowMs, so a full bucket allows a burst of `capacity`, then an even rate.
 * - `window` (a sliding window): each token windowMs after it was taken, so no windowMs ever holds more than
 *   `capacity` takes, and a refusal waits for the oldest take to leave the window.
 */
export type Refill = 'steady' | 'window';

export interface BucketOptions {
  /** tokens a bucket holds when full: the burst, and the number allowed per window */
  capacity: number;
  /** the time in which an empty bucket refills completely */
  windowMs: number;
  /** how tokens come back; `steady` unless said */
  refill?: Refill;
  /** the most buckets kept at once */
  maxEntries?: number;
  now?: () => number;
}

export type TakeResult = { ok: true } | { ok: false; retryAfterSeconds: number };

/** One way of refilling: what a bucket holds at `now`, how long until it holds `n`, and the bucket after a take or a refund. */
interface Policy<B> {
  /** tokens in the bucket (no bucket: full) */
  level(b: B | undefined, now: number): number;
  /** how long until the bucket holds `n` tokens, when it holds fewer now */
  waitMs(b: B | undefined, n: number, now: number): number;
  /** the bucket after `n` tokens are taken (the caller checked they are there) */
  take(b: B | undefined, n: number, now: number): B;
  /** the bucket after `n` tokens came back, or null once it is full again (the same as no bucket) */
  refund(b: B | undefined, n: number, now: number): B | null;
}

/** A token bucket: the tokens it held at `at`; more drip in at perMs. */
function steady(capacity: number, windowMs: number): Policy<{ tokens: number; at: number }> {
  const perMs = capacity / windowMs;
  const level = (b: { tokens: number; at: number } | undefined, now: number) => (b ? Math.min(capacity, b.tokens + Math.max(0, now - b.at) * perMs) : capacity);
  return {
    level,
    waitMs: (b, n, now) => (n - level(b, now)) / perMs,
    take: (b, n, now) => ({ tokens: level(b, now) - n, at: now }),
    refund: (b, n, now) => {
      const tokens = Math.min(capacity, level(b, now) + n);
      return tokens >= capacity ? null : { tokens, at: now };
    },
  };
}

/** A sliding window: when each token still out comes back (taken + windowMs), earliest first. */
function slidingWindow(capacity: number, windowMs: number): Policy<number[]> {
  const out = (b: number[] | undefined, now: number) => (b ? b.filter((due) => due > now) : []);
  return {
    level: (b, now) => capacity - out(b, now).length,
    waitMs: (b, n, now) => {
      const o = out(b, now);
      // free once all but capacity - n of them are back: wait for the last of the earliest ones
      return o[Math.max(0, Math.min(o.length - 1, o.length - (capacity - n) - 1))]! - now;
    },
    take: (b, n, now) => [...out(b, now), ...Array.from({ length: n }, () => now + windowMs)],
    refund: (b, n, now) => {
      const o = out(b, now).slice(0, -n);
      return o.length === 0 ? null : o;
    },
  };
}

export class TokenBuckets {
  private readonly buckets = new Map<string, unknown>();
  private readonly policy: Policy<unknown>;
  private readonly maxEntries: number;
  private readonly now: () => number;
  private lastSweep: number;

  constructor(private readonly opts: BucketOptions) {
    if (!(opts.capacity > 0) || !(opts.windowMs > 0)) throw new Error('a token bucket needs a positive capacity and window');
    this.policy = (opts.refill === 'window' ? slidingWindow : steady)(opts.capacity, opts.windowMs) as Policy<unknown>;
    this.maxEntries = opts.maxEntries ?? TUNING.rateLimitMaxEntries;
    this.now = opts.now ?? Date.now;
    this.lastSweep = this.now();
  }

  get size(): number {
    return this.buckets.size;
  }

  get capacity(): number {
    return this.opts.capacity;
  }

  get windowMs(): number {
    return this.opts.windowMs;
  }

  /** Takes `n` tokens from every bucket in `keys`, or from none of them; when refused, says how long to wait. */
  take(keys: readonly string[], n = 1): TakeResult {
    const now = this.now();
    this.sweep(now);
    let waitMs = 0;
    const current = keys.map((key) => {
      const b = this.buckets.get(key);
      if (this.policy.level(b, now) < n) waitMs = Math.max(waitMs, this.policy.waitMs(b, n, now));
      return b;
    });
    if (waitMs > 0) return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000 - 1e-6)) };
    keys.forEach((key, i) => this.set(key, this.policy.take(current[i], n, now)));
    this.evict();
    return { ok: true };
  }

  /** Gives back tokens taken for work that did not happen (the mail was not stored). */
  refund(keys: readonly string[], n = 1): void {
    const now = this.now();
    for (const key of keys) {
      const b = this.policy.refund(this.buckets.get(key), n, now);
      if (b === null) this.buckets.delete(key);
      else this.set(key, b);
    }
  }

  private set(key: string, b: unknown): void {
    // Re-inserted so that the Map's order is least recently used first.
    this.buckets.delete(key);
    this.buckets.set(key, b);
  }

  /** Drops buckets that have refilled (idle ones); at most once per tenth of a window. */
  private sweep(now: number): void {
    if (now - this.lastSweep < this.opts.windowMs / 10 && this.buckets.size <= this.maxEntries) return;
    this.lastSweep = now;
    for (const [key, b] of this.buckets) {
      if (this.policy.level(b, now) >= this.opts.capacity) this.buckets.delete(key);
    }
  }

  private evict(): void {
    if (this.buckets.size <= this.maxEntries) return;
    for (const key of this.buckets.keys()) {
      this.buckets.delete(key);
      if (this.buckets.size <= this.maxEntries) break;
    }
  }
}

export interface RateLimits {
  /** requests per API key per minute; 0 turns the limit off */
  perKeyPerMinute: number;
  /** accepted mails per recipient address per hour; 0 turns the limit off */
  perRecipientPerHour: number;
  maxEntries?: number;
  now?: () => number;
}

/** The two limits of the API, as the HTTP layer uses them. */
export class RateLimiter {
  private readonly perKey: TokenBuckets | null;
  private readonly perRecipient: TokenBuckets | null;

  constructor(limits: RateLimits) {
    const common = { maxEntries: limits.maxEntries, now: limits.now };
    this.perKey = limits.perKeyPerMinute > 0 ? new TokenBuckets({ capacity: limits.perKeyPerMinute, windowMs: 60_000, ...common }) : null;
    this.perRecipient = limits.perRecipientPerHour > 0 ? new TokenBuckets({ capacity: limits.perRecipientPerHour, windowMs: 3_600_000, ...common }) : null;
  }

  /** One request by `keyId`; throws RATE_LIMITED (429, Retry-After) past the limit. */
  request(keyId: string): void {
    const r = this.perKey?.take([keyId]);
    if (r && !r.ok) throw new AppError('RATE_LIMITED', `this API key has made more than ${this.perKey!.capacity} requests in a minute; retry after ${r.retryAfterSeconds} s`, { retryAfterSeconds: r.retryAfterSeconds });
  }

  /**
   * Reserves one mail for each recipient (addresses compared case-insensitively); throws RATE_LIMITED when any of
   * them has had its share this hour. Returns the release to call if the mail is then not accepted.
   */
  reserveRecipients(tos: readonly string[]): () => void {
    if (!this.perRecipient) return () => undefined;
    const keys = [...new Set(tos.map((t) => t.toLowerCase()))];
    const r = this.perRecipient.take(keys);
    if (!r.ok) throw new AppError('RATE_LIMITED', `a recipient of this mail has had more than ${this.perRecipient.capacity} mails in an hour; retry after ${r.retryAfterSeconds} s`, { retryAfterSeconds: r.retryAfterSeconds });
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.perRecipient!.refund(keys);
    };
  }

  /** How many buckets are held (for tests and metrics). */
  get entries(): number {
    return (this.perKey?.size ?? 0) + (this.perRecipient?.size ?? 0);
  }
}
