// A counting semaphore whose waits can be given up (an AbortSignal) or ended for good (close): the SMTP lanes, and
// the listener's claims in hand.
export class Slots {
  private free: number;
  private closed: Error | null = null;
  private readonly waiting: { grant: () => void; fail: (e: Error) => void }[] = [];

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
    return new Promise<void>((resolve, reject) => {
      const entry = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        fail: reject,
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(new Error('no longer waiting'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(entry);
    });
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
}
