// The shapes msg_log's rows take in the repository, and the helpers its statements share.
import type { RecipientRecord } from '../core/recipients';

export interface MsgRow {
  msgId: string;
  msg: string;
  exchange: string;
  routingKey: string;
  status: number;
  tryCount: number;
}

export interface ListenerRow extends MsgRow {
  /** someone holds an unexpired send lease */
  leased: boolean;
  leaseOwner: string | null;
  /** recipients have their own outcomes (msg_recipient) */
  perRecipient: boolean;
}

export interface StoredRecipient extends RecipientRecord {
  tries: number;
  updateTime: Date;
}

export interface DueRow extends MsgRow {
  leaseExpired: boolean;
  /** its first publish nobody made yet (an outbox row, a scheduled mail now due): that publish is no failure */
  unpublished?: boolean;
}

export interface NewRow {
  msgId: string;
  msg: string;
  exchange: string;
  routingKey: string;
}

export interface RepoTiming {
  publishGraceMs: number;
  consumeDeadlineMs: number;
  leaseMs: number;
}

/** Who saw what moved a row (the publisher's answer, the listener's send, the job's round): mail_dead_total's label. */
export type SeenBy = 'publisher' | 'listener' | 'job';

// Typed events on each instance rather than node:diagnostics_channel: a channel is process-wide, and one process can
// hold several repos (listener threads' apps, tests' apps), each counted by its own app's metrics.
export interface RepoEvents {
  /** `n` rows moved to `toStatus` (only rows a guarded update matched: a lost race moves none); `by`: who saw what moved them */
  transition: [t: { toStatus: number; n: number; by?: SeenBy }];
  /** the job took `n` due rows to publish again (automatic retries) */
  redelivered: [r: { n: number }];
  /** a person put a dead mail back in play */
  retried: [r: { msgId: string }];
}

export interface ClaimedRound {
  republish: MsgRow[];
  dead: { msgId: string; reason: string }[];
  postponed: number;
}

export const num = (v: unknown) => Number(v);

// Statements run prepared (binary protocol): MariaDB parses each text once per connection. An IN list is padded to
// the next power of two by repeating its last id (a row matches once however often it is named), so a handful of
// texts serve every batch size instead of one per size.
export const sized = (n: number) => (n <= 1 ? 1 : 2 ** Math.ceil(Math.log2(n)));
export function padded(ids: readonly string[]): string[] {
  const out = ids.slice();
  const n = sized(ids.length);
  while (out.length < n) out.push(ids[ids.length - 1]!);
  return out;
}

export function toMsgRow(r: Record<string, unknown>): MsgRow {
  return {
    msgId: String(r.msgId),
    msg: String(r.msg),
    exchange: String(r.exchange),
    routingKey: String(r.routingKey),
    status: num(r.status),
    tryCount: num(r.tryCount),
  };
}
