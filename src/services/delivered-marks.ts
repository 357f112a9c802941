// Broker confirms, recorded as `delivered` many rows per UPDATE. The record is bookkeeping nobody waits for: it
// moves the row's next_try_time out of the re-delivery job's way (PUBLISH_GRACE_MS) and shows the state. So while
// the API is busy the marks wait, up to maxHoldMs (a fraction of the publish grace), and the database serves the
// inserts that 202s wait on; a mail the listener has consumed meanwhile needs no mark at all (the guarded UPDATE
// matches nothing). Memory: an id per confirmed mail (grouped by try count), nothing else held.
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
  /** waiting marks by the try count their publish was made at: one statement per group */
  private byTry = new Map<number, string[]>();
  private count = 0;
  /** when the oldest waiting mark was added */
  private since = 0;
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> | null = null;
  private closed = false;

  constructor(private readonly opts: DeliveredMarksOptions) {}

  get waiting(): number {
    return this.count;
  }

  add(msgId: string, tryCount: number): void {
    if (this.count++ === 0) this.since = this.now();
    const group = this.byTry.get(tryCount);
    if (group) group.push(msgId);
    else this.byTry.set(tryCount, [msgId]);
    this.arm();
  }

  private arm(): void {
    if (!this.closed) this.timer ??= setTimeout(() => this.onTimer(), this.opts.windowMs);
  }

  private onTimer(): void {
    this.timer = null;
    if (this.count === 0) return;
    const held = this.opts.hold?.() === true && this.now() - this.since < this.opts.maxHoldMs;
    if (held || this.writing) this.arm();
    else void this.write();
  }

  /** Writes the marks waiting now, maxItems ids per statement, then looks again. A failure is logged: the job covers those rows. */
  private write(): Promise<void> {
    const taken = this.byTry;
    this.byTry = new Map();
    this.count = 0;
    this.writing = (async () => {
      for (const [tryCount, ids] of taken) {
        for (let i = 0; i < ids.length; i += this.opts.maxItems) {
          const chunk = ids.slice(i, i + this.opts.maxItems);
          await this.opts.write(chunk, tryCount).catch((err: Error) => {
            this.opts.logger.warn({ rows: chunk.length, err: err.message }, 'could not record confirms; the job looks at those rows after the publish grace');
          });
        }
      }
    })().finally(() => {
      this.writing = null;
      if (this.count > 0) this.arm();
    });
    return this.writing;
  }

  /** Writes every waiting mark now, held or not (shutting down). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.writing || this.count > 0) await (this.writing ?? this.write());
  }

  private now(): number {
    return this.opts.now ? this.opts.now() : performance.now();
  }
}
