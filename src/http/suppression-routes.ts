// The suppression list through the API: GET /suppressions (a page in address order, `after` the last address of the
// previous page, `prefix` to filter), GET /suppressions/:address, DELETE /suppressions/:address (lifts it: the next
// mail to it is sent). Every process sees a lift within about a second (src/store/suppression-list.ts).
import { Router } from 'express';
import { suppressionKey } from '../core/suppression';
import { AppError } from '../errors';
import type { Logger } from '../logger';
import type { SuppressionEntry, SuppressionRepo } from '../store/suppression-repo';

const PAGE_MAX = 500;
const PAGE_DEFAULT = 100;

export interface SuppressionRouteDeps {
  repo: SuppressionRepo;
  /** this process's copy, refreshed at once after a lift made here */
  refresh: () => Promise<void>;
  logger: Logger;
}

const view = (e: SuppressionEntry) => ({ address: e.address, since: e.since.toISOString(), msgId: e.msgId, reason: e.reason });

function addressOf(raw: string): string {
  const address = suppressionKey(raw);
  if (address.length === 0 || address.length > 254) throw new AppError('NOT_SUPPRESSED', 'not an address');
  return address;
}

export function createSuppressionRouter(deps: SuppressionRouteDeps): Router {
  const router = Router();
  router.get('/suppressions', async (req, res) => {
    const q = req.query as Record<string, unknown>;
    const limit = Math.min(PAGE_MAX, Math.max(1, Number.parseInt(String(q.limit ?? PAGE_DEFAULT), 10) || PAGE_DEFAULT));
    const after = typeof q.after === 'string' ? suppressionKey(q.after) : '';
    const prefix = typeof q.prefix === 'string' ? q.prefix.slice(0, 254) : '';
    const [entries, total] = await Promise.all([deps.repo.list({ after, prefix, limit }), deps.repo.count()]);
    const next = entries.length === limit ? entries.at(-1)!.address : null;
    res.json({ total, suppressions: entries.map(view), next });
  });
  router.get('/suppressions/:address', async (req, res) => {
    const entry = await deps.repo.find(addressOf(req.params.address));
    if (!entry) throw new AppError('NOT_SUPPRESSED', `${req.params.address.slice(0, 254)} is not on the suppression list`);
    res.json(view(entry));
  });
  router.delete('/suppressions/:address', async (req, res) => {
    const address = addressOf(req.params.address);
    if (!(await deps.repo.lift(address))) throw new AppError('NOT_SUPPRESSED', `${address} is not on the suppression list`);
    deps.logger.info({ address }, 'suppression lifted by a person');
    await deps.refresh().catch(() => undefined);
    res.json({ address, lifted: true });
  });
  return router;
}
