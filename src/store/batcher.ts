// Gathers items added by concurrent callers and flushes them together: after maxWaitMs, or at maxItems.
// With maxConcurrent, at most that many flushes run at once and items wait for a free slot: under load each
// flush carries more items (one commit for many), and under light load nothing waits longer than maxWaitMs.
// Each add() settles when the flush that carried its item has committed: with the flush's per-item result
// when it returns an array (one entry per item), or with its error. With failWaiting, a flush error for which it names
// an error (the store could not be reached, or did not answer) also fails the items still waiting for a slot, with that
// error: they were never sent, and would only wait out the same timeout again before hearing the same answer.

/** A flush may fail some items and not others (a duplicate key in a multi-row insert): it returns one of these. */
export class PerItemErrors {
  constructor(readonly errors: readonly unknown[]) {}
}

interface Waiter<R> {
  resolve: (value: R) => void;
  reject: (err: unknown) => void;
}

export class Batcher<T, R = void> {
  private items: T[] = [];
  private waiters: Waiter<R>[] = [];
  private timer: NodeJS.Timeout | null = null;
  private inFlight = new Set<Promise<void>>();

  constructor(
    private readonly opts: { maxItems: number; maxWaitMs: number; maxConcurrent?: number; failWaiting?: (err: unknown) => unknown; flush: (items: T[]) => Promise<unknown> },
  ) {}

  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.items.push(item);
      this.waiters.push({ resolve, reject });
      if (this.items.length >= this.opts.maxItems) this.flushNow();
      else this.timer ??= setTimeout(() => this.flushNow(), this.opts.maxWaitMs);
    });
  }

  private flushNow(force = false): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.items.length === 0) return;
    // All slots busy: the items wait for the first flush to finish (see finally below), gathering company.
    if (!force && this.inFlight.size >= (this.opts.maxConcurrent ?? Infinity)) return;
    const items = this.items.splice(0, this.opts.maxItems);
    const waiters = this.waiters.splice(0, items.length);
    const p = Promise.resolve()
      .then(() => this.opts.flush(items))
      .then(
        (result) => waiters.forEach((w, i) => settle(w, result, i)),
        (err) => {
          waiters.forEach((w) => w.reject(err));
          const theirs = this.opts.failWaiting?.(err);
          if (theirs !== undefined) this.rejectWaiting(theirs);
        },
      )
      .finally(() => {
        this.inFlight.delete(p);
        // items held back for a free slot go now
        if (this.opts.maxConcurrent !== undefined && this.items.length > 0) this.flushNow();
      });
    this.inFlight.add(p);
  }

  /** The items not sent yet fail with `err`. */
  private rejectWaiting(err: unknown): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.items = [];
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  /** Flushes what is waiting and waits for every flush in progress. */
  async close(): Promise<void> {
    while (this.items.length > 0 || this.inFlight.size > 0) {
      this.flushNow(true);
      await Promise.all([...this.inFlight]);
    }
  }
}

function settle<R>(w: Waiter<R>, result: unknown, i: number): void {
  if (result instanceof PerItemErrors) {
    const err = result.errors[i];
    return err === undefined ? w.resolve(undefined as R) : w.reject(err);
  }
  w.resolve((Array.isArray(result) ? result[i] : undefined) as R);
}
