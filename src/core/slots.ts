// A counting semaphore whose waits can be given up (an AbortSignal) or ended for good (close): the SMTP lanes, and
// the listener's claims in hand. Every delivery of the prefetch may wait here with the same signal, so a signal gets
// one abort listener of ours, not one per wait: Node's EventTarget walks its listeners on every add and remove,
// which made each wait cost in proportion to the prefetch (17 µs of the listener thread's time per mail at 300).

interface Waiter {
  grant: () => void;
  fail: (e: Error) => void;
  signal: AbortSignal | undefined;
}

export class Slots {
  private free: number;
  private closed: Error | null = null;
  private waiting: Waiter[] = [];
  /** the signals our abort listener is on */
  private readonly watched = new WeakSet<AbortSignal>();

  constructor(readonly size: number) {
    this.free = size;
  }

  /** Resolves once a slot is this caller's; rejects when `signal` aborts first. Call release() once. */
  acquire(signal?: AbortSignal): Promise<void> {
    if (this.closed) return Promise.reject(this.closed);
    if (signal?.aborted) return Promise.reject(new Error('no longer waiting'));
    if (this.free > 0 && this.waiting.length === 0) {
      this.free--;
      return Promise.resolve();
    }
    if (signal && !this.watched.has(signal)) {
      this.watched.add(signal);
      signal.addEventListener('abort', () => this.giveUp(signal), { once: true });
    }
    return new Promise<void>((grant, fail) => this.waiting.push({ grant, fail, signal }));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next.grant();
    else this.free++;
  }

  /** Every wait and every later acquire fails with `err`. */
  close(err: Error): void {
    this.closed = err;
    for (const w of this.waiting.splice(0)) w.fail(err);
  }

  /** The waits on `signal` end, in their order; the others keep their places. */
  private giveUp(signal: AbortSignal): void {
    const gone = this.waiting.filter((w) => w.signal === signal);
    this.waiting = this.waiting.filter((w) => w.signal !== signal);
    for (const w of gone) w.fail(new Error('no longer waiting'));
  }
}
