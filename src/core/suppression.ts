// The suppression list: a recipient the relay refused permanently because the address does not exist (or no longer
// takes mail) is not sent to again until a person lifts it. Pure: which refusals suppress. Other permanent refusals
// (a policy, a spam verdict, a relay that will not relay) are about the mail or the sender, not the address: they
// bounce that mail and suppress nothing.
import type { Failure } from './failure';

/** The enhanced codes (RFC 3463) that say the address itself is bad: 5.1.x (addressing) and 5.2.1 (mailbox disabled). */
const ADDRESS_CODES = /^5\.(1\.\d{1,3}|2\.1)$/;
/** Without an enhanced code: the RCPT TO replies that mean "no such user" (550 mailbox unavailable, 551 not local, 553 name not allowed). */
const RCPT_CODES = new Set([550, 551, 553]);

/** True when this refusal of one recipient puts the address on the suppression list. */
export function suppresses(f: Failure | null | undefined): boolean {
  if (!f || f.kind !== 'smtp-permanent' || f.code === undefined || f.code < 500) return false;
  if (f.enhanced) return ADDRESS_CODES.test(f.enhanced);
  return f.command === 'RCPT TO' && RCPT_CODES.has(f.code);
}

/** The normal form of an address on the list. */
export const suppressionKey = (address: string): string => address.trim().toLowerCase();

export interface SuppressionCheck {
  /** true when the address is on the list (as this process knows it: a change reaches every process within a second) */
  has(address: string): boolean;
}
