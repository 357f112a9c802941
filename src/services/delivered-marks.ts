// Broker confirms, recorded as `delivered` many rows per UPDATE. The record is bookkeeping nobody waits for: it
// moves the row's next_try_time out of the re-delivery job's way (PUBLISH_GRACE_MS) and shows the state. So while
// the API is busy the marks wait, up to maxHoldMs (a fraction of the publish grace), and the database serves the
// inserts that 202s wait on; a mail the listener has consumed meanwhile needs no mark at all (the guarded UPDATE
// matches nothing). Memory: an id per confirmed mail (grouped by try count), nothing else held.
import type { Logger } from '../logger';
import { TUNING } from '../tuning';


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
  /** how long marks the database did not take wait before they are written again */
  retryMs?: number;
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

  /**
   * Writes the marks waiting now, maxItems ids per statement, then looks again. A mark the database did not take
   * waits and is written again (a confirm dropped would cost its mail a try when the job finds the row still sending).
   */
  private write(): Promise<void> {
    const taken = this.byTry;
    this.byTry = new Map();
    this.count = 0;
    let failed = false;
    this.writing = (async () => {
      for (const [tryCount, ids] of taken) {
        for (let i = 0; i < ids.length; i += this.opts.maxItems) {
          const chunk = ids.slice(i, i + this.opts.maxItems);
          await this.opts.write(chunk, tryCount).catch((err: Error) => {
            failed = true;
            this.opts.logger.warn({ rows: chunk.length, err: err.message, retryInMs: this.retryMs }, 'could not record confirms; writing them again');
            this.requeue(chunk, tryCount);
          });
        }
      }
    })().finally(() => {
      this.writing = null;
      if (failed && !this.closed) this.timer ??= setTimeout(() => this.onTimer(), this.retryMs);
      else if (this.count > 0) this.arm();
    });
    return this.writing;
  }

  /** Puts marks back to wait, without arming the gathering window (the retry's own timer brings them back). */
  private requeue(ids: string[], tryCount: number): void {
    if (this.count === 0) this.since = this.now();
    this.count += ids.length;
    this.byTry.set(tryCount, [...(this.byTry.get(tryCount) ?? []), ...ids]);
  }

  private get retryMs(): number {
    return this.opts.retryMs ?? TUNING.confirmRetryMs;
  }

  /** Writes every waiting mark now, held or not (shutting down). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    // A database that is gone for good must not hold the stop: a few more writes, then the job covers the rest.
    for (let attempt = 0; (this.writing || this.count > 0) && attempt < TUNING.confirmCloseAttempts; attempt++) await (this.writing ?? this.write());
    if (this.count > 0) this.opts.logger.warn({ rows: this.count }, 'confirms not recorded at stop; the job looks at those rows after the publish grace');
  }

  private now(): number {
    return this.opts.now ? this.opts.now() : performance.now();
  }
}
