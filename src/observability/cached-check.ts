// A health check that is cheap to ask often: its result is kept for `ttlMs`, callers asking at the same time
// share one probe, and a probe that hangs counts as down after `timeoutMs`. Used for SMTP in /ready.
export class CachedCheck {
  private last: { at: number; ok: boolean; error: string | null } | null = null;
  private inFlight: Promise<boolean> | null = null;

  constructor(
    private readonly probe: () => Promise<unknown>,
    private readonly opts: { ttlMs: number; timeoutMs: number; now?: () => number },
  ) {}

  /** The last probe's error, for logs and the readiness body. */
  get lastError(): string | null {
    return this.last?.error ?? null;
  }

  async check(): Promise<boolean> {
    const now = this.opts.now ?? Date.now;
    if (this.last && now() - this.last.at < this.opts.ttlMs) return this.last.ok;
    this.inFlight ??= this.run(now).finally(() => (this.inFlight = null));
    return this.inFlight;
  }

  private async run(now: () => number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.opts.timeoutMs} ms`)), this.opts.timeoutMs);
    });
    try {
      await Promise.race([this.probe(), timeout]);
      this.last = { at: now(), ok: true, error: null };
    } catch (err) {
      this.last = { at: now(), ok: false, error: (err as Error)?.message ?? String(err) };
    } finally {
      clearTimeout(timer);
    }
    return this.last.ok;
  }
}
