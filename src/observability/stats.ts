// What the dashboard and /metrics show about msg_log as a whole, read from the database (so it is the same for
// every instance), cheaply enough to refresh every second during a load run:
// - counts of the non-final statuses and dead: an index range over idx_msg_log_status_update_time (the backlog);
// - the consumed count, the largest (RETENTION_DAYS of mails): the same index, refreshed less often when it gets slow;
// - throughput: msg_event buckets, read incrementally (each refresh re-reads only the last two buckets) through
//   the covering index idx_msg_event_at (at, from_status, to_status).
// Times are read as epoch milliseconds computed by the database, so no time zone is ever involved.
// The statements are STATS_SQL in src/store/read-sql.ts.
import { PENDING, Status, statusName, type StatusName } from '../core/status';
import { failurePhrase } from '../core/failure';
import type { Pool } from '../store/db';
import { STATS_SQL } from '../store/read-sql';
import type { RelayRepo } from '../store/relay-repo';
import { TUNING } from '../tuning';

export type StatusCounts = Record<StatusName, number>;

export interface ThroughputBucket {
  /** start of the bucket, ISO time */
  t: string;
  /** new mails accepted */
  accepted: number;
  /** mails the SMTP server accepted */
  consumed: number;
  /** counted failures that leave the mail in play (delivery_failed, consume_failed) */
  failed: number;
  /** mails that became dead */
  dead: number;
  /** published again: by the job, or a person's retry */
  retried: number;
}

export interface Stats {
  /** the database's clock when these were read */
  at: string;
  counts: StatusCounts;
  total: number;
  /** rows not final yet */
  backlog: number;
  /** rows whose next_try_time has passed: the job's work for its next round */
  due: number;
  oldestPending: { msgId: string; createTime: string; ageSeconds: number } | null;
  /** when the consumed count was last counted exactly (it is refreshed less often on a big table) */
  consumedCountedAt: string;
  throughput: { bucketSeconds: number; windowSeconds: number; buckets: ThroughputBucket[] };
  /** the SMTP relay as the listeners see it: up, or down since when and why (a phrase for people) */
  relay: { up: boolean; downSince: string | null; why: string | null };
}

export interface StatsOptions {
  bucketSeconds?: number;
  windowMinutes?: number;
  /** the consumed count is re-counted after max(this, 20 x the time its last count took) */
  consumedMinIntervalMs?: number;
  /** where the listeners report their relay (src/store/relay-repo.ts) */
  relay?: Pick<RelayRepo, 'state'>;
}

type Counts = Omit<ThroughputBucket, 't'>;

export class StatsReader {
  private cached: { stats: Stats; readAt: number } | null = null;
  private inFlight: Promise<Stats> | null = null;
  private consumed = { n: 0, countedAt: 0, countedAtIso: new Date(0).toISOString(), costMs: 0 };
  private readonly buckets = new Map<number, Counts>();
  private lastBucketRead: number | null = null;
  private readonly bucketSeconds: number;
  private readonly windowBuckets: number;
  private readonly consumedMinIntervalMs: number;

  private readonly relay: Pick<RelayRepo, 'state'> | null;

  constructor(
    private readonly pool: Pool,
    opts: StatsOptions = {},
  ) {
    this.bucketSeconds = opts.bucketSeconds ?? TUNING.stats.bucketSeconds;
    this.windowBuckets = Math.ceil(((opts.windowMinutes ?? TUNING.stats.windowMinutes) * 60) / this.bucketSeconds);
    this.consumedMinIntervalMs = opts.consumedMinIntervalMs ?? TUNING.stats.consumedMinIntervalMs;
    this.relay = opts.relay ?? null;
  }

  /** The stats, read at most once per `maxAgeMs` however many callers ask (dashboards, SSE, scrapes). */
  async get(maxAgeMs: number = TUNING.stats.maxAgeMs): Promise<Stats> {
    if (this.cached && Date.now() - this.cached.readAt < maxAgeMs) return this.cached.stats;
    if (this.inFlight) return this.inFlight;
    this.inFlight = this.read()
      .then((stats) => {
        this.cached = { stats, readAt: Date.now() };
        return stats;
      })
      .finally(() => (this.inFlight = null));
    return this.inFlight;
  }

  private async read(): Promise<Stats> {
    const conn = await this.pool.getConnection();
    try {
      const [clock] = await conn.query<{ nowMs: number }[]>(STATS_SQL.clock);
      const nowMs = Number(clock!.nowMs);
      const active = await conn.query<{ status: number; n: number }[]>(STATS_SQL.activeCounts);
      const [due] = await conn.query<{ n: number }[]>(STATS_SQL.due);
      const [oldest] = await conn.query<{ msgId: string; createMs: number }[]>(STATS_SQL.oldestPending);
      if (Date.now() - this.consumed.countedAt >= Math.max(this.consumedMinIntervalMs, this.consumed.costMs * TUNING.stats.consumedCostFactor)) {
        const started = performance.now();
        const [c] = await conn.query<{ n: number }[]>(STATS_SQL.consumedCount);
        this.consumed = { n: Number(c!.n), countedAt: Date.now(), countedAtIso: new Date(nowMs).toISOString(), costMs: performance.now() - started };
      }
      await this.readThroughput(conn, nowMs);

      const counts = Object.fromEntries(Object.values(Status).map((s) => [statusName(s), 0])) as StatusCounts;
      for (const r of active) counts[statusName(Number(r.status))] = Number(r.n);
      counts.consumed = this.consumed.n;
      const backlog = PENDING.reduce((sum: number, s) => sum + counts[statusName(s)], 0);
      const relay = await this.relay?.state().catch(() => null);
      return {
        at: new Date(nowMs).toISOString(),
        counts,
        total: Object.values(counts).reduce((a, b) => a + b, 0),
        backlog,
        due: Number(due?.n ?? 0),
        oldestPending: oldest ? { msgId: String(oldest.msgId), createTime: new Date(Number(oldest.createMs)).toISOString(), ageSeconds: Math.max(0, (nowMs - Number(oldest.createMs)) / 1000) } : null,
        consumedCountedAt: this.consumed.countedAtIso,
        throughput: { bucketSeconds: this.bucketSeconds, windowSeconds: this.windowBuckets * this.bucketSeconds, buckets: this.bucketList(nowMs) },
        relay: { up: !relay?.down, downSince: relay?.since?.toISOString() ?? null, why: relay?.failure ? failurePhrase(relay.failure) : null },
      };
    } finally {
      await conn.release();
    }
  }

  /** Re-reads the buckets from the last one read (a transaction may commit a little late) up to now. */
  private async readThroughput(conn: Awaited<ReturnType<Pool['getConnection']>>, nowMs: number): Promise<void> {
    const size = this.bucketSeconds;
    const current = Math.floor(nowMs / 1000 / size);
    const oldest = current - this.windowBuckets + 1;
    const from = this.lastBucketRead === null ? oldest : Math.max(oldest, this.lastBucketRead - 1);
    const rows = await conn.query<({ b: number } & Counts)[]>(STATS_SQL.throughput, [size, from * size]);
    for (let b = from; b <= current; b++) this.buckets.delete(b);
    for (const r of rows) {
      this.buckets.set(Number(r.b), { accepted: Number(r.accepted), consumed: Number(r.consumed), failed: Number(r.failed), dead: Number(r.dead), retried: Number(r.retried) });
    }
    for (const b of this.buckets.keys()) if (b < oldest) this.buckets.delete(b);
    this.lastBucketRead = current;
  }

  private bucketList(nowMs: number): ThroughputBucket[] {
    const size = this.bucketSeconds;
    const current = Math.floor(nowMs / 1000 / size);
    const list: ThroughputBucket[] = [];
    for (let b = current - this.windowBuckets + 1; b <= current; b++) {
      const c = this.buckets.get(b) ?? { accepted: 0, consumed: 0, failed: 0, dead: 0, retried: 0 };
      list.push({ t: new Date(b * size * 1000).toISOString(), ...c });
    }
    return list;
  }
}
