// The dashboard's limit on bulk retries: at most `max` takes per `windowMs`, on the app's one limiter
// (src/http/security/rate-limit.ts) refilled as a sliding window, so no window ever holds more than `max`. Per process,
// which is the point for bulk retries: it bounds what one instance's dashboard can put back on the broker per minute.
import { AppError } from '../../errors';
import { TokenBuckets } from '../security/rate-limit';

/** The process's one bucket (the limit is not per caller). */
const PROCESS = ['process'];

export class RateLimit {
  private readonly bucket: TokenBuckets;

  constructor(
    readonly max: number,
    readonly windowMs: number,
    now: () => number = Date.now,
  ) {
    this.bucket = new TokenBuckets({ capacity: max, windowMs, refill: 'window', now });
  }

  /** Takes one, or throws RATE_LIMITED (429, with Retry-After in whole seconds). */
  take(what: string): void {
    const r = this.bucket.take(PROCESS);
    if (!r.ok) {
      throw new AppError('RATE_LIMITED', `at most ${this.max} ${what} per ${Math.round(this.windowMs / 1000)} s; try again in ${r.retryAfterSeconds} s`, { retryAfterSeconds: r.retryAfterSeconds });
    }
  }
}
