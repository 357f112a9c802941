// A small in-process sliding-window limit: at most `max` takes per `windowMs`. Per process, which is the point
// for bulk retries: it bounds what one instance's dashboard can put back on the broker per minute.
import { AppError } from '../../errors';

export class RateLimit {
  private readonly taken: number[] = [];

  constructor(
    readonly max: number,
    readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one, or throws RATE_LIMITED (429, with Retry-After in whole seconds). */
  take(what: string): void {
    const t = this.now();
    while (this.taken.length && this.taken[0]! <= t - this.windowMs) this.taken.shift();
    if (this.taken.length >= this.max) {
      const retryAfterSeconds = Math.max(1, Math.ceil((this.taken[0]! + this.windowMs - t) / 1000));
      throw new AppError('RATE_LIMITED', `at most ${this.max} ${what} per ${Math.round(this.windowMs / 1000)} s; try again in ${retryAfterSeconds} s`, { retryAfterSeconds });
    }
    this.taken.push(t);
  }
}
