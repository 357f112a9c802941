// Broker confirms, recorded as `delivered` many rows per UPDATE. The record is bookkeeping nobody waits for: it
// moves the row's next_try_time out of the re-delivery job's way (PUBLISH_GRACE_MS) and shows the state. So while
// the API is busy the marks wait, up to maxHoldMs (a fraction of the publish grace), and the database serves the
// inserts that 202s wait on; a mail the listener has consumed meanwhile needs no mark at all (the guarded UPDATE
// matches nothing). Memory: an id and a try count per confirmed mail, nothing else held.
import type { Logger } from '../logger';

export interface DeliveredMarksOptions {
  /** records ids whose publish was made at `tryCount` (one statement); resolves once committed */
  write: (ids: string[], tryCount: number) => Promise<unknown>;
  /** true while the API is busy (give it a quiet period: see stickyBusy): marks younger than maxHoldMs wait */
  hold?: () => boolean;
  /** the longest a mark waits for a busy API; keep it well under the publish grace */
  maxHoldMs: number;
  /** how long marks gather when nothing holds them */
  windowMs: number;
  /** ids per statement */
  maxItems: number;
  logger: Logger;
  now?: () => number;
}

export class DeliveredMarks {
  private ids: string[] = [];
  /** the try count each publish was made at, by position in ids */
  private tries: number[] = [];
  /** when the oldest waiting mark was added */
  private since = 0;
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> | null = null;
  private closed = false;

  constructor(private readonly opts: DeliveredMarksOptions) {}

  get waiting(): number {
    return this.ids.length;
  }

  add(msgId: string, tryCount: number): void {
    if (this.ids.length === 0) this.since = this.now();
    this.ids.push(msgId);
    this.tries.push(tryCount);
    this.arm();
  }

  private arm(): void {
    if (!this.closed) this.timer ??= setTimeout(() => this.onTimer(), this.opts.windowMs);
  }

  private onTimer(): void {
    this.timer = null;
    if (this.ids.length === 0) return;
    const held = this.opts.hold?.() === true && this.now() - this.since < this.opts.maxHoldMs;
    if (held || this.writing) return this.arm();
    this.writing = this.writeTaken().finally(() => {
      this.writing = null;
      if (this.ids.length > 0) this.arm();
    });
  }

  /** Writes the marks waiting now, one statement of maxItems ids at a time. A failure is logged: the job covers those rows. */
  private async writeTaken(): Promise<void> {
    const byTry = new Map<number, string[]>();
    this.ids.forEach((id, i) => {
      const t = this.tries[i]!;
      const group = byTry.get(t);
      if (group) group.push(id);
      else byTry.set(t, [id]);
    });
    this.ids = [];
    this.tries = [];
    for (const [tryCount, group] of byTry) {
      for (let i = 0; i < group.length; i += this.opts.maxItems) {
        const ids = group.slice(i, i + this.opts.maxItems);
        try {
          await this.opts.write(ids, tryCount);
        } catch (err) {
          this.opts.logger.warn({ rows: ids.length, err: (err as Error).message }, 'could not record confirms; the job looks at those rows after the publish grace');
        }
      }
    }
  }

  /** Writes every waiting mark now, held or not (shutting down). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.writing || this.ids.length > 0) {
      if (this.writing) await this.writing;
      else await (this.writing = this.writeTaken().finally(() => (this.writing = null)));
    }
  }

  private now(): number {
    return this.opts.now ? this.opts.now() : performance.now();
  }
}
