// Gathers items added by concurrent callers and flushes them together: after maxWaitMs, or at maxItems.
// Each add() resolves when the flush that carried its item has committed (or rejects with its error).

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class Batcher<T> {
  private items: T[] = [];
  private waiters: Waiter[] = [];
  private timer: NodeJS.Timeout | null = null;
  private inFlight = new Set<Promise<void>>();

  constructor(private readonly opts: { maxItems: number; maxWaitMs: number; flush: (items: T[]) => Promise<unknown> }) {}

  add(item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.items.push(item);
      this.waiters.push({ resolve, reject });
      if (this.items.length >= this.opts.maxItems) this.flushNow();
      else this.timer ??= setTimeout(() => this.flushNow(), this.opts.maxWaitMs);
    });
  }

  private flushNow(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.items.length === 0) return;
    const items = this.items;
    const waiters = this.waiters;
    this.items = [];
    this.waiters = [];
    const p = Promise.resolve()
      .then(() => this.opts.flush(items))
      .then(
        () => waiters.forEach((w) => w.resolve()),
        (err) => waiters.forEach((w) => w.reject(err)),
      )
      .finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  /** Flushes what is waiting and waits for every flush in progress. */
  async close(): Promise<void> {
    this.flushNow();
    await Promise.all([...this.inFlight]);
  }
}
