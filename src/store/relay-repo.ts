// Where listeners say whether their SMTP relay is up: one row per listener while its circuit is open, so the job
// (which must not count an outage against the mails), /ready, /metrics and the dashboard see it from any process.
import { decodeFailure, encodeFailure, type Failure } from '../core/failure';
import type { Pool } from './db';
import { MS, SQL } from './sql';
import { TUNING } from '../tuning';

export interface RelayState {
  down: boolean;
  /** when the first listener still reporting found it down */
  since: Date | null;
  /** listeners that find it down now */
  listeners: number;
  failure: Failure | null;
}


export class RelayRepo {
  constructor(private readonly pool: Pool) {}

  async report(instance: string, down: boolean, failure: Failure | null): Promise<void> {
    await this.pool.execute(SQL.upsertRelay, [instance.slice(0, 64), down ? 1 : 0, failure ? encodeFailure(failure) : null]);
  }

  async state(): Promise<RelayState> {
    const [r] = await this.pool.execute<{ since: Date | null; listeners: number; failure: string | null }[]>(SQL.relayDown, [TUNING.relayReportFreshMs * MS]);
    const listeners = Number(r?.listeners ?? 0);
    return { down: listeners > 0, since: r?.since ?? null, listeners, failure: decodeFailure(r?.failure) };
  }

  async forget(instance: string): Promise<void> {
    await this.pool.execute(SQL.deleteRelay, [instance.slice(0, 64)]);
  }
}
