// The callback service's table (statements: CALLBACK_SQL in src/store/check-sql.ts), in CALLBACK_DATABASE_URL's
// database (by default the app's own): per mail, the latest try a listener confirmed it took in hand.
import type { Confirmation } from '../core/delayed-check';
import type { Pool } from './db';
import { MS } from './sql';
import { CALLBACK_SQL as SQL } from './check-sql';

export class CallbackRepo {
  constructor(readonly pool: Pool) {}

  /** Creates the table where it is missing (the callback's database may be one the app's migrations never saw). */
  async ensureTable(): Promise<void> {
    await this.pool.query(SQL.createTable);
  }

  async confirm(confirmations: readonly Confirmation[]): Promise<void> {
    if (confirmations.length === 0) return;
    await this.pool.query(SQL.confirm(confirmations.length), confirmations.flatMap((c) => [c.msgId, c.tryCount]));
  }

  /** For each id, the latest try a listener confirmed (null: none). */
  async confirmed(ids: readonly string[]): Promise<(number | null)[]> {
    const unique = [...new Set(ids)];
    const rows = await this.pool.query<{ msgId: string; tryCount: number }[]>(SQL.confirmed(unique.length), unique);
    const found = new Map(rows.map((r) => [r.msgId, Number(r.tryCount)]));
    return ids.map((id) => found.get(id) ?? null);
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
