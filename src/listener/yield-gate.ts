// The API first: while this process's API is busy, the listener keeps only a few deliveries in progress and
// leaves the rest of its prefetch waiting (unacked, so nothing is lost), so that accepting a mail is not
// slowed down by sending others. When the API quiets down, every waiting delivery goes at once.
// What it buys in a burst (the API's accept rate and p99, the sending meanwhile): docs/performance.md, "What bounds
// end to end" and "What bounds the p99".

export interface YieldPolicy {
  /** true while the API is busy, with a quiet period (stickyBusy in src/core/api-load.ts): a short lull must not let the whole prefetch go */
  busy: () => boolean;
  /** deliveries in progress at most while busy; never 0, so sending always moves on */
  whileBusy: number;
  /** how often waiting deliveries look again whether the API is still busy */
  pollMs: number;
}

export class YieldGate {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private timer: NodeJS.Timeout | null = null;
  private opened = false;

  constructor(private readonly policy: YieldPolicy) {}

  /** Resolves when this delivery may go on; call release() once it is finished. */
  acquire(): Promise<void> {
    if (this.waiting.length === 0 && this.admits()) {
      this.active++;
      return Promise.resolve();
    }
    const entered = new Promise<void>((resolve) => this.waiting.push(resolve));
    this.schedule();
    return entered;
  }

  release(): void {
    this.active--;
    this.pump();
  }

  /** From now on nothing waits (shutting down: the deliveries in hand are finished, not held). */
  open(): void {
    this.opened = true;
    this.pump();
  }

  get waitingCount(): number {
    return this.waiting.length;
  }

  private admits(): boolean {
    return this.opened || this.active < this.policy.whileBusy || !this.policy.busy();
  }

  private pump(): void {
    while (this.waiting.length > 0 && this.admits()) {
      this.active++;
      this.waiting.shift()!();
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.waiting.length === 0 || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.pump();
    }, this.policy.pollMs);
  }
}
