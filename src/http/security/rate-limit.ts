// In-process token buckets (no Redis): per API key per minute, per recipient address per hour. Limits are per
// process: N instances behind a balancer allow up to N times the configured rate.
// Memory is bounded: a bucket that has refilled completely is the same as no bucket and is dropped; past
// `maxEntries`, the least recently used buckets go first.
import { AppError } from '../../errors';

export interface BucketOptions {
  /** tokens a bucket holds when full: the burst, and the number allowed per window */
  capacity: number;
  /** the time in which an empty bucket refills completely */
  windowMs: number;
  /** the most buckets kept at once */
  maxEntries?: number;
  now?: () => number;
}

export type TakeResult = { ok: true } | { ok: false; retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  at: number;
}

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  private lastSweep: number;

  constructor(private readonly opts: BucketOptions) {
    if (!(opts.capacity > 0) || !(opts.windowMs > 0)) throw new Error('a token bucket needs a positive capacity and window');
    this.perMs = opts.capacity / opts.windowMs;
    this.maxEntries = opts.maxEntries ?? 100_000;
    this.now = opts.now ?? Date.now;
    this.lastSweep = this.now();
  }

  get size(): number {
    return this.buckets.size;
  }

  get capacity(): number {
    return this.opts.capacity;
  }

  /** Takes `n` tokens from every bucket in `keys`, or from none of them; when refused, says how long to wait. */
  take(keys: readonly string[], n = 1): TakeResult {
    const now = this.now();
    this.sweep(now);
    let waitMs = 0;
    const current = keys.map((key) => {
      const tokens = this.level(key, now);
      if (tokens < n) waitMs = Math.max(waitMs, (n - tokens) / this.perMs);
      return tokens;
    });
    if (waitMs > 0) return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000 - 1e-6)) };
    keys.forEach((key, i) => this.set(key, current[i]! - n, now));
    this.evict();
    return { ok: true };
  }

  /** Gives back tokens taken for work that did not happen (the mail was not stored). */
  refund(keys: readonly string[], n = 1): void {
    const now = this.now();
    for (const key of keys) {
      const tokens = Math.min(this.opts.capacity, this.level(key, now) + n);
      if (tokens >= this.opts.capacity) this.buckets.delete(key);
      else this.set(key, tokens, now);
    }
  }

  private level(key: string, now: number): number {
    const b = this.buckets.get(key);
    if (!b) return this.opts.capacity;
    return Math.min(this.opts.capacity, b.tokens + Math.max(0, now - b.at) * this.perMs);
  }

  private set(key: string, tokens: number, at: number): void {
    // Re-inserted so that the Map's order is least recently used first.
    this.buckets.delete(key);
    this.buckets.set(key, { tokens, at });
  }

  /** Drops buckets that have refilled (idle ones); at most once per tenth of a window. */
  private sweep(now: number): void {
    if (now - this.lastSweep < this.opts.windowMs / 10 && this.buckets.size <= this.maxEntries) return;
    this.lastSweep = now;
    for (const [key, b] of this.buckets) {
      if (b.tokens + Math.max(0, now - b.at) * this.perMs >= this.opts.capacity) this.buckets.delete(key);
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
