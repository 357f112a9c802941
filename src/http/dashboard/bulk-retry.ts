// Retry of dead mails in bulk: the same path as one retry (MailService.retry: a guarded dead -> sending, then a
// publish with confirms), over the dead rows matching a filter, in bounded batches with bounded concurrency.
// A dry run only counts.
import { TUNING } from '../../tuning';
import type { DashboardQueries } from './queries';

export interface BulkRetryRequest {
  q?: string;
  dryRun: boolean;
  /** at most this many mails in one request; the rest stay dead and are reported as remaining */
  max: number;
}

export interface BulkRetryResult {
  dryRun: boolean;
  /** dead mails matching the filter when the request started */
  matched: number;
  /** put back in play */
  retried: number;
  /** no longer dead when their turn came (someone else retried them) */
  skipped: number;
  /** dead mails matching the filter left for another request */
  remaining: number;
}

export interface BulkRetryDeps {
  queries: DashboardQueries;
  retry: (msgId: string) => Promise<boolean>;
  batchSize?: number;
  concurrency?: number;
}

export async function bulkRetry(deps: BulkRetryDeps, req: BulkRetryRequest): Promise<BulkRetryResult> {
  const matched = await deps.queries.countDead(req.q);
  if (req.dryRun) return { dryRun: true, matched, retried: 0, skipped: 0, remaining: matched };
  const batchSize = deps.batchSize ?? TUNING.bulkRetry.batch;
  const concurrency = deps.concurrency ?? TUNING.bulkRetry.concurrency;
  let retried = 0;
  let skipped = 0;
  let after: string | null = null;
  while (retried + skipped < req.max) {
    const ids = await deps.queries.deadIds(req.q, after, Math.min(batchSize, req.max - retried - skipped));
    if (ids.length === 0) break;
    after = ids[ids.length - 1]!;
    for (let i = 0; i < ids.length; i += concurrency) {
      const results = await Promise.all(ids.slice(i, i + concurrency).map((id) => deps.retry(id)));
      for (const ok of results) ok ? retried++ : skipped++;
    }
  }
  const remaining = retried + skipped >= req.max ? await deps.queries.countDead(req.q) : 0;
  return { dryRun: false, matched, retried, skipped, remaining };
}
