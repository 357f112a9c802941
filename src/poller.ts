// A background round every `everyMs`, one at a time: the next waits for the end of the one in progress (a slow round
// is never doubled), `runOnce` joins the round in progress instead of starting another, and `stop` waits for it. The
// due publisher, the webhook job and each process's copy of the suppression list poll with it.
export class Poller<T> {
  private timer: NodeJS.Timeout | null = null;
  private current: Promise<T> | null = null;
  private stopped = false;

  constructor(private readonly opts: { everyMs: number; round: () => Promise<T>; onError: (err: Error) => void }) {}

  /** true once stop() was called: a round that loops over batches ends after the batch in hand */
  get stopping(): boolean {
    return this.stopped;
  }

  start(): void {
    this.stopped = false;
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.runOnce()
        .catch((err: unknown) => this.opts.onError(err as Error))
        .finally(() => this.schedule());
    }, this.opts.everyMs);
    this.timer.unref();
  }

  runOnce(): Promise<T> {
    this.current ??= this.opts.round().finally(() => (this.current = null));
    return this.current;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.current?.catch(() => undefined);
  }
}
