// The listener's claims: a row is claimed for one send once a lane is about to be free. Claims of lanes freed together
// go in one UPDATE (claimMany); a mail whose recipients have their own outcomes is claimed alone and only its pending
// recipients are sent to; recipients on the suppression list are left out of the send.
import { allRecipients, type MailMessage } from '../core/mail-message';
import { pendingRecipients, type RecipientStateName } from '../core/recipients';
import type { SuppressionCheck } from '../core/suppression';
import { isFinal } from '../core/status';
import type { UncertainPolicy } from '../core/retry';
import type { Logger } from '../logger';
import { Batcher } from '../store/batcher';
import type { MsgLogRepo } from '../store/msg-log-repo';
import { TUNING } from '../tuning';
import type { LeaseKeeper } from './leases';

export interface Claim {
  owner: string;
  /** the recipients this send goes to, and the stored states of those that have one */
  pending: string[];
  before: Map<string, RecipientStateName>;
  /** recipients not final yet that are on the suppression list: not sent to */
  suppressed: string[];
}

const NO_SUPPRESSIONS = { has: () => false };

export class Claimer {
  private claims = 0;
  private readonly claimBatch: Batcher<string, { claimed: boolean; owner: string; startedAt: number }>;

  constructor(
    private readonly deps: {
      repo: MsgLogRepo;
      leases: LeaseKeeper;
      instanceId: string;
      uncertainPolicy: UncertainPolicy;
      suppressions?: SuppressionCheck;
      logger: Logger;
      /** a write retried until the database takes it (undefined: the listener stops) */
      persist: <T>(write: () => Promise<T>) => Promise<T | undefined>;
    },
  ) {
    // claims wait for no window (a lane may be waiting) and one statement in flight: TUNING.claimBatch says why
    this.claimBatch = new Batcher({ ...TUNING.claimBatch, flush: (ids) => this.claimAll(ids) });
  }

  private async claimAll(ids: string[]): Promise<{ claimed: boolean; owner: string; startedAt: number }[]> {
    const owner = `${this.deps.instanceId}:${++this.claims}`;
    const startedAt = Date.now();
    // The same msgId twice in one batch (a duplicate delivery): only its first occurrence may be the holder.
    const unique = [...new Set(ids)];
    // A claim whose answer was lost may have been applied: the same owner asks again (claimMany finds the rows it
    // already holds), so a lost answer costs no try and no uncertain send. The delivery stays in hand meanwhile.
    const held = await this.deps.persist(() => this.deps.repo.claimMany(unique, owner, this.deps.uncertainPolicy === 'resend'));
    if (held === undefined) {
      void this.deps.leases.release(owner, unique);
      throw new Error('could not claim: the database did not answer');
    }
    const holder = new Map(unique.map((id, i) => [id, held[i]!]));
    const seen = new Set<string>();
    return ids.map((id) => {
      const first = !seen.has(id);
      seen.add(id);
      return { claimed: first && holder.get(id)!, owner, startedAt };
    });
  }

  /** Claims the row for this send, or says why not. */
  async claim(message: MailMessage, log: Logger): Promise<Claim | 'no-row' | 'skip'> {
    // Claim first: the common case costs one statement, and only a refused claim needs a look at the row.
    const { claimed, owner, startedAt } = await this.claimBatch.add(message.msgId);
    if (claimed) {
      this.deps.leases.add(message.msgId, owner, startedAt);
      return this.withSuppressed(owner, allRecipients(message), new Map());
    }
    const row = await this.deps.repo.findForListener(message.msgId);
    if (!row) return 'no-row';
    if (row.perRecipient && !isFinal(row.status)) {
      // Recipients with their own outcomes: claimed alone, then only the pending ones are sent to.
      const single = `${this.deps.instanceId}:${++this.claims}`;
      const at = Date.now();
      if (await this.deps.repo.claim(message.msgId, single, this.deps.uncertainPolicy === 'resend', true)) {
        this.deps.leases.add(message.msgId, single, at);
        const before = new Map((await this.deps.repo.findRecipients(message.msgId)).map((r) => [r.recipient.toLowerCase(), r.state]));
        return this.withSuppressed(single, pendingRecipients(allRecipients(message), before), before);
      }
    }
    // Final, held by another delivery, or (under the "dead" policy) an abandoned lease left to the job.
    log.debug({ status: row.status, leased: row.leased }, 'delivery skipped: the mail is final or held elsewhere');
    return 'skip';
  }

  /** Leaves the suppressed recipients out of the send. */
  private withSuppressed(owner: string, recipients: string[], before: Map<string, RecipientStateName>): Claim {
    const suppressions = this.deps.suppressions ?? NO_SUPPRESSIONS;
    const suppressed = recipients.filter((r) => suppressions.has(r));
    return { owner, pending: suppressed.length ? recipients.filter((r) => !suppressions.has(r)) : recipients, before, suppressed };
  }

  close(): Promise<void> {
    return this.claimBatch.close();
  }
}
