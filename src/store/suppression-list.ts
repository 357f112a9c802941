// Each process's copy of the suppression list, so neither the API (422 when every recipient is suppressed) nor the
// listener (a suppressed recipient is not sent to) asks the database per mail. It reads the changes (suppressed or
// lifted, by change_time) every TUNING.suppression.pollMs; an address suppressed by a thread of this process (the
// listener thread records the refusals) is known to its other threads at once, over a BroadcastChannel named after the
// database, so one instance never accepts a mail its own listener has just found unknown.
// Until the first read succeeds (a database that is down at start), nothing is suppressed: mails go, and a relay
// refuses the unknown addresses again, which suppresses them again.
import { BroadcastChannel } from 'node:worker_threads';
import { suppressionKey, type SuppressionCheck } from '../core/suppression';
import type { Logger } from '../logger';
import { Poller } from '../poller';
import { TUNING } from '../tuning';
import type { SuppressionRepo } from './suppression-repo';

export class SuppressionList implements SuppressionCheck {
  private readonly addresses = new Set<string>();
  private last = { time: new Date(0), address: '' };
  private readonly poller: Poller<void>;
  private readonly threads: BroadcastChannel;

  /** `channel`: the threads of one process that share a database share it (the database's name goes in it). */
  constructor(private readonly deps: { repo: SuppressionRepo; logger: Logger; channel: string }) {
    this.threads = new BroadcastChannel(`mail-dispatch:suppressions:${deps.channel}`);
    this.threads.onmessage = (m) => {
      const address = (m as { data?: unknown }).data;
      if (typeof address === 'string') this.addresses.add(address);
    };
    this.threads.unref();
    this.poller = new Poller({
      everyMs: TUNING.suppression.pollMs,
      round: () => this.read(),
      onError: (err) => deps.logger.debug({ err: err.message }, 'suppression list not refreshed; the next read tries again'),
    });
  }

  has(address: string): boolean {
    return this.addresses.size > 0 && this.addresses.has(suppressionKey(address));
  }

  /** An address this process just suppressed (in the transaction that committed): known before the next read. */
  note(address: string): void {
    const key = suppressionKey(address);
    this.addresses.add(key);
    this.threads.postMessage(key);
  }

  get size(): number {
    return this.addresses.size;
  }

  /** The first read, then one every poll interval. Resolves after the first read (or its failure). */
  async start(): Promise<this> {
    await this.refresh().catch((err) => this.deps.logger.warn({ err: (err as Error).message }, 'could not read the suppression list; reading it again shortly'));
    this.poller.start();
    return this;
  }

  /** Reads the changes now (joining a read in progress). */
  refresh(): Promise<void> {
    return this.poller.runOnce();
  }

  private async read(): Promise<void> {
    // From a little before the last change seen: a transaction that committed late, with an earlier change_time than
    // rows already read, is not missed. Rows read twice change nothing.
    let since = new Date(Math.max(0, this.last.time.getTime() - TUNING.suppression.overlapMs));
    let after = '';
    for (;;) {
      const page = await this.deps.repo.changes(since, after, TUNING.suppression.pageRows);
      for (const c of page) {
        if (c.active) this.addresses.add(c.address);
        else this.addresses.delete(c.address);
        if (c.changeTime.getTime() >= this.last.time.getTime()) this.last = { time: c.changeTime, address: c.address };
      }
      if (page.length < TUNING.suppression.pageRows) return;
      since = page.at(-1)!.changeTime;
      after = page.at(-1)!.address;
    }
  }

  async stop(): Promise<void> {
    this.threads.close();
    await this.poller.stop();
  }
}
