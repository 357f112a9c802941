// instance_lease: the instance number (0..1023) in the middle of every msg id, leased by each running instance so that
// no two ever make ids with the same one (src/core/ids.ts). InstanceLeaseRepo runs the statements (INSTANCE_LEASE_SQL
// in src/store/instance-lease-sql.ts); InstanceLease holds one number for a process: takes it at start, renews it on a
// heartbeat, gives it up at stop, and answers "none" (so no id is made) whenever it may no longer be ours.
import { randomBytes, randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { INSTANCE_COUNT, MsgIdGenerator } from '../core/ids';
import { AppError } from '../errors';
import type { Logger } from '../logger';
import type { Pool } from './db';
import { INSTANCE_LEASE_SQL } from './instance-lease-sql';
import { MS } from './sql';
import { TUNING } from '../tuning';

export { INSTANCE_LEASE_SQL };

export interface LeaseRow {
  workerId: number;
  owner: string;
  expired: boolean;
}

/** Every instance number is held by a live instance: taking one more would risk duplicate msg ids. */
export class InstanceIdsExhausted extends Error {
  override readonly name = 'InstanceIdsExhausted';
  constructor(
    readonly maxWorkers: number,
    leaseMs: number,
  ) {
    super(
      `all ${maxWorkers} instance ids are held by live instances (table instance_lease), so this instance cannot make msg ids ` +
        `without risking duplicates: stop an instance, or wait for the lease of one that died to run out (${leaseMs / 1000} s)`,
    );
  }
}

// A take that lost a lock race (two upserts of one number can deadlock) changed nothing: it just did not win.
const LOCK_CODES = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT']);
/** Snapshots of the table a take works through before it gives up (each is re-read after all its candidates were lost to racing takers). */
const TAKE_ROUNDS = 5;

export class InstanceLeaseRepo {
  constructor(private readonly pool: Pool) {}

  async list(): Promise<LeaseRow[]> {
    const rows = await this.pool.query<Record<string, unknown>[]>(INSTANCE_LEASE_SQL.list);
    return rows.map((r) => ({ workerId: Number(r.workerId), owner: String(r.owner), expired: Number(r.expired) === 1 }));
  }

  /**
   * Takes a number below `maxWorkers` that is free (never held, released, or its lease ran out) for `owner`, which must be
   * unique to this take. Candidates come from a snapshot of the table; each is tried with the one guarded upsert, and a
   * candidate another taker got first is simply passed over. Throws InstanceIdsExhausted when none is free.
   */
  async take(owner: string, leaseMs: number, maxWorkers: number = INSTANCE_COUNT): Promise<number> {
    for (let round = 0; round < TAKE_ROUNDS; round++) {
      const live = new Set((await this.list()).filter((r) => !r.expired).map((r) => r.workerId));
      const free: number[] = [];
      for (let n = 0; n < maxWorkers; n++) if (!live.has(n)) free.push(n);
      if (free.length === 0) break;
      // Instances starting together would all race for the lowest free number: each starts at a random one of the lowest few.
      const start = randomInt(Math.min(free.length, TUNING.instanceIdTakeSpread));
      for (const n of [...free.slice(start), ...free.slice(0, start)]) {
        try {
          await this.pool.query(INSTANCE_LEASE_SQL.take, [n, owner, leaseMs * MS]);
        } catch (err) {
          if (LOCK_CODES.has((err as { code?: string }).code ?? '')) continue;
          throw err;
        }
        const [row] = await this.pool.query<{ owner: string }[]>(INSTANCE_LEASE_SQL.ownerOf, [n]);
        if (row?.owner === owner) return n;
      }
    }
    throw new InstanceIdsExhausted(maxWorkers, leaseMs);
  }

  /** True while `owner` still holds the number (its lease now runs `leaseMs` more); false once it was taken over. */
  async renew(workerId: number, owner: string, leaseMs: number): Promise<boolean> {
    const res = await this.pool.query(INSTANCE_LEASE_SQL.renew, [leaseMs * MS, workerId, owner]);
    return Number(res.affectedRows) > 0;
  }

  /** True when the row was `owner`'s and is gone. */
  async release(workerId: number, owner: string): Promise<boolean> {
    const res = await this.pool.query(INSTANCE_LEASE_SQL.release, [workerId, owner]);
    return Number(res.affectedRows) > 0;
  }
}

export interface InstanceLeaseOptions {
  /** this instance's name (its lease_owner); each take adds a token of its own */
  owner: string;
  logger?: Pick<Logger, 'info' | 'warn'>;
  /** numbers 0..maxWorkers-1 are taken (1024 by default: all of them) */
  maxWorkers?: number;
  leaseMs?: number;
  heartbeatMs?: number;
  /** ids stop this long before the lease could have run out by our clock */
  safetyMs?: number;
  /** a renewal or take that failed is tried again after this */
  retryMs?: number;
  /** a monotonic clock in ms (performance.now by default): the lease is timed on it, never on the wall clock */
  now?: () => number;
}

interface Held {
  workerId: number;
  owner: string;
  /** by our clock: up to here the lease surely has not run out (the renewal that set it started earlier) */
  validUntil: number;
}

const silent = { info: () => undefined, warn: () => undefined };

/**
 * One leased instance number for this process. instance() answers it while it is surely ours; after a renewal that
 * failed (the database does not answer) it is still ours until the lease could have run out by our own clock, less a
 * safety margin; after that, or once the heartbeat finds it was taken over, instance() throws (503, nothing is stored)
 * until the heartbeat renews it or takes another. An id is never made with a number another instance may hold.
 */
export class InstanceLease {
  private held: Held | null = null;
  private timer: NodeJS.Timeout | null = null;
  private beating: Promise<boolean> | null = null;
  private stopped = false;
  /** while renewals fail: whether the number is still in use ('kept') or no longer ('lapsed'); each is logged once */
  private failing: 'kept' | 'lapsed' | null = null;
  private readonly leaseMs: number;
  private readonly heartbeatMs: number;
  private readonly safetyMs: number;
  private readonly retryMs: number;
  private readonly maxWorkers: number;
  private readonly logger: Pick<Logger, 'info' | 'warn'>;
  private readonly now: () => number;

  constructor(
    private readonly repo: InstanceLeaseRepo,
    private readonly options: InstanceLeaseOptions,
  ) {
    this.leaseMs = options.leaseMs ?? TUNING.instanceLeaseMs;
    this.heartbeatMs = options.heartbeatMs ?? TUNING.instanceHeartbeatMs;
    this.safetyMs = options.safetyMs ?? TUNING.instanceLeaseSafetyMs;
    this.retryMs = options.retryMs ?? TUNING.instanceLeaseRetryMs;
    this.maxWorkers = options.maxWorkers ?? INSTANCE_COUNT;
    this.logger = options.logger ?? silent;
    this.now = options.now ?? (() => performance.now());
    if (this.safetyMs < 0 || this.safetyMs >= this.leaseMs) throw new RangeError('the safety margin must be shorter than the lease');
    if (this.maxWorkers < 1 || this.maxWorkers > INSTANCE_COUNT) throw new RangeError(`maxWorkers is 1..${INSTANCE_COUNT}`);
  }

  /** Takes a number (throws InstanceIdsExhausted, or the database's error) and starts the heartbeat. */
  async start(): Promise<this> {
    this.held = await this.takeOne();
    this.schedule(this.heartbeatMs);
    return this;
  }

  /** The number held now, when ids may be made with it; null otherwise. */
  get workerId(): number | null {
    const h = this.held;
    return h && this.now() < h.validUntil ? h.workerId : null;
  }

  /** The number to make an id with; throws DATABASE_UNAVAILABLE (503) while none may be used. */
  instance(): number {
    const h = this.held;
    if (h && this.now() < h.validUntil) return h.workerId;
    if (this.stopped) throw new AppError('DATABASE_UNAVAILABLE', 'this instance is stopping and makes no new msg ids; nothing was stored');
    throw new AppError(
      'DATABASE_UNAVAILABLE',
      h
        ? 'this instance could not renew the lease of its msg id number (the database does not answer); nothing was stored'
        : 'this instance lost the lease of its msg id number and has not taken another yet; nothing was stored',
    );
  }

  /** A generator of msg ids made with whatever number this lease holds at each id. */
  ids(now?: () => number): MsgIdGenerator {
    return new MsgIdGenerator(() => this.instance(), now);
  }

  /**
   * One beat, as the timer runs it: renews the number held, or (none held: lost, or never taken) takes one. True when
   * a number is held and renewed or newly taken. Concurrent calls share one beat.
   */
  heartbeat(): Promise<boolean> {
    this.beating ??= this.beat().finally(() => {
      this.beating = null;
    });
    return this.beating;
  }

  /** Stops the heartbeat and deletes the row (only if still ours); the number is free for others at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.beating?.catch(() => undefined);
    const h = this.held;
    this.held = null;
    if (!h) return;
    await this.repo.release(h.workerId, h.owner).then(
      (released) => this.logger.info({ workerId: h.workerId, released }, released ? 'instance id released' : 'instance id was no longer ours at stop'),
      (err: Error) => this.logger.warn({ workerId: h.workerId, err: err.message }, `could not release the instance id; it is free once its lease runs out (${this.leaseMs / 1000} s)`),
    );
  }

  private async beat(): Promise<boolean> {
    if (this.stopped) return false;
    const h = this.held;
    if (h) {
      const startedAt = this.now();
      let renewed: boolean;
      try {
        renewed = await this.repo.renew(h.workerId, h.owner, this.leaseMs);
      } catch (err) {
        const keepMs = Math.max(0, Math.round(h.validUntil - this.now()));
        const state = keepMs > 0 ? 'kept' : 'lapsed';
        if (this.failing !== state) {
          const what = state === 'kept' ? 'it stays in use until its lease could have run out' : 'no msg ids until it is renewed';
          this.logger.warn({ workerId: h.workerId, err: (err as Error).message, keepMs }, `could not renew the instance id lease; ${what}`);
        }
        this.failing = state;
        return false;
      }
      if (this.held !== h) return false; // stopped meanwhile
      if (renewed) {
        h.validUntil = startedAt + this.leaseMs - this.safetyMs;
        if (this.failing) this.logger.info({ workerId: h.workerId }, 'instance id lease renewed again');
        this.failing = null;
        return true;
      }
      this.failing = null;
      // Its lease ran out (a pause, an outage) and another instance took the number: not one more id with it.
      this.held = null;
      this.logger.warn({ workerId: h.workerId }, 'instance id lease lost: another instance took it over; no msg ids until another is taken');
    }
    if (this.stopped) return false;
    try {
      const taken = await this.takeOne();
      if (this.stopped) {
        await this.repo.release(taken.workerId, taken.owner).catch(() => undefined);
        return false;
      }
      this.held = taken;
      return true;
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'could not take an instance id; trying again');
      return false;
    }
  }

  private async takeOne(): Promise<Held> {
    const owner = `${this.options.owner.slice(0, 80)}#${randomBytes(4).toString('hex')}`;
    const startedAt = this.now();
    const workerId = await this.repo.take(owner, this.leaseMs, this.maxWorkers);
    this.logger.info({ workerId, owner }, 'instance id leased');
    return { workerId, owner, validUntil: startedAt + this.leaseMs - this.safetyMs };
  }

  /** The next beat: a heartbeat after a good one, a quick retry after a failed one. */
  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.heartbeat().then(
        (ok) => this.schedule(ok ? this.heartbeatMs : this.retryMs),
        () => this.schedule(this.retryMs),
      );
    }, ms);
    this.timer.unref();
  }
}
