// The claims a listener holds while it sends. Each is renewed well before its lease runs out, however slow the relay,
// so no other listener takes a mail over while its first copy is in hand; a send whose lease is nearly out does not
// start its content (holds()). Claims given back unsent (relay down, stopping, a claim whose answer was lost) are
// released without a try; a release that fails is tried again until the database takes it.
import type { Logger } from '../logger';
import type { MsgLogRepo } from '../store/msg-log-repo';
import { TUNING } from '../tuning';

export interface LeaseTiming {
  leaseMs: number;
  /** a send starts its content only with at least this much lease left: the content and its reply must fit */
  marginMs: number;
}


export class LeaseKeeper {
  private readonly held = new Map<string, { owner: string; until: number }>();
  private readonly unreleased = new Map<string, Set<string>>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly deps: { repo: Pick<MsgLogRepo, 'extendLeases' | 'releaseClaims'>; timing: LeaseTiming; logger: Logger; now?: () => number },
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.tick(), this.deps.timing.leaseMs / TUNING.renewalsPerLease);
    this.timer.unref();
  }

  /** A claim taken by a statement that started at `startedAt` (so its lease surely lasts until startedAt + leaseMs). */
  add(msgId: string, owner: string, startedAt: number): void {
    this.held.set(msgId, { owner, until: startedAt + this.deps.timing.leaseMs });
  }

  /** True while the claim has enough lease left for the content and its reply. */
  holds(msgId: string): boolean {
    const h = this.held.get(msgId);
    return h !== undefined && h.until - this.now() > this.deps.timing.marginMs;
  }

  /** The outcome is recorded (and released the lease): nothing to renew any more. */
  drop(msgId: string): void {
    this.held.delete(msgId);
  }

  get count(): number {
    return this.held.size;
  }

  /** Gives claims back unsent. Resolves once released, or once queued for a later try when the database fails. */
  async release(owner: string, ids: readonly string[]): Promise<void> {
    for (const id of ids) if (this.held.get(id)?.owner === owner) this.held.delete(id);
    try {
      await this.deps.repo.releaseClaims(owner, ids);
    } catch (err) {
      this.deps.logger.warn({ owner, rows: ids.length, err: (err as Error).message }, 'could not release claims; trying again');
      const set = this.unreleased.get(owner) ?? new Set<string>();
      for (const id of ids) set.add(id);
      this.unreleased.set(owner, set);
    }
  }

  private async tick(): Promise<void> {
    await this.renew().catch((err: Error) => this.deps.logger.warn({ err: err.message }, 'could not renew send leases; trying again'));
    for (const [owner, ids] of [...this.unreleased]) {
      this.unreleased.delete(owner);
      await this.release(owner, [...ids]);
    }
  }

  private async renew(): Promise<void> {
    const byOwner = new Map<string, string[]>();
    for (const [id, h] of this.held) byOwner.set(h.owner, [...(byOwner.get(h.owner) ?? []), id]);
    for (const [owner, ids] of byOwner) {
      const startedAt = this.now();
      // One owner's failure does not keep the others from being renewed.
      const n = await this.deps.repo.extendLeases(owner, ids).catch((err: Error) => {
        this.deps.logger.warn({ owner, err: err.message }, 'could not renew send leases; trying again');
        return -1;
      });
      // Outcomes recorded meanwhile left both lists. Any other shortfall means a claim was lost: then no deadline
      // moves, and a lost one runs out in holds() instead of sending on a lease someone else may hold.
      const still = ids.filter((id) => this.held.get(id)?.owner === owner);
      if (n >= still.length) for (const id of still) this.held.get(id)!.until = startedAt + this.deps.timing.leaseMs;
    }
  }

  /** Stops renewing; releases queued for a later try get one last one. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const [owner, ids] of [...this.unreleased]) {
      this.unreleased.delete(owner);
      await this.deps.repo.releaseClaims(owner, [...ids]).catch(() => undefined);
    }
  }

  private now(): number {
    return this.deps.now ? this.deps.now() : Date.now();
  }
}
