// The callback service's table (statements: CALLBACK_SQL in src/store/check-sql.ts), in CALLBACK_DATABASE_URL's
// database (by default the app's own): which mails a listener confirmed final.
import type { Confirmation } from '../core/delayed-check';
import type { Pool } from './db';
import { MS } from './sql';
import { CALLBACK_SQL as SQL } from './check-sql';

const OUTCOME = { consumed: 1, dead: 2 } as const;

export class CallbackRepo {
  constructor(readonly pool: Pool) {}

  /** Creates the table where it is missing (the callback's database may be one the app's migrations never saw). */
  async ensureTable(): Promise<void> {
    await this.pool.query(SQL.createTable);
  }

  async confirm(confirmations: readonly Confirmation[]): Promise<void> {
    if (confirmations.length === 0) return;
    await this.pool.query(SQL.confirm(confirmations.length), confirmations.flatMap((c) => [c.msgId, OUTCOME[c.outcome]]));
  }

  /** For each id, whether it was confirmed. */
  async confirmed(ids: readonly string[]): Promise<boolean[]> {
    const unique = [...new Set(ids)];
    const rows = await this.pool.query<{ msgId: string }[]>(SQL.confirmed(unique.length), unique);
    const found = new Set(rows.map((r) => r.msgId));
    return ids.map((id) => found.has(id));
  }

  /** Deletes confirmations older than ageMs, in batches; returns how many. */
  async prune(ageMs: number, batch: number): Promise<number> {
    let total = 0;
    for (;;) {
      const res = (await this.pool.query(SQL.prune, [ageMs * MS, batch])) as { affectedRows: number };
      total += res.affectedRows;
      if (res.affectedRows < batch) return total;
    }
  }
}
