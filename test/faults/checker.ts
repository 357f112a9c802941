// The fault suite's checker, in Jepsen's style: after a scenario, compare what was promised (the 202s), what the
// SMTP sink received, and what msg_log says. Pure: no I/O, so it is unit-tested on its own (checker.test.ts) and
// shared with `npm run chaos`.
//
// The invariants:
//   - a 202 means the row was committed: every accepted msgId has a row;
//   - once the faults heal, every row reaches consumed or dead within a bound: a row still pending when the check
//     runs (after the bound) counts as lost, like a missing row;
//   - each msgId reaches the sink at most once, except when the row's uncertain_count says that many sends had an
//     unknown outcome (the process died between DATA and the database update, or the connection dropped with no
//     reply): up to 1 + uncertain_count copies are allowed and counted as `uncertain`, never hidden; any copy
//     beyond that is `duplicated`;
//   - no row is consumed without its mail at the sink;
//   - every copy of a mail carries the same Message-ID, built from its msgId, so a receiver can recognise a resend;
//   - nothing reaches the sink that has no row;
//   - per recipient, at most once: a copy that carries its RCPT list (`to`) is counted for each of its recipients,
//     and a recipient of one msgId given more than 1 + uncertain_count copies is `recipientDuplicated` (a resend
//     after a partial acceptance must go to the refused recipients only). Copies without `to` are counted per mail,
//     as before; `duplicated` counts the msgIds over the allowance either way;
//   - a dead row was really tried: when the caller knows which msgIds reached the relay's RCPT or DATA (`tried`), a
//     dead row outside it whose failure is not on the publish side (publish-nack, publish-returned, publish-error,
//     publish-unavailable, confirm-timeout, no-confirm) gave up on a mail no relay ever saw: `deadNeverTried`.
import { Status } from '../../src/core/status';
import { decodeFailure, isPublishSide } from '../../src/core/failure';

export interface CheckRow {
  msg_id: string;
  status: number;
  try_count: number;
  uncertain_count: number;
  /** a JSON object like {"kind":"smtp-transient","code":450,...}; plain text (or none) is a failure of unknown kind */
  last_error?: string | null;
}

export interface CheckCopy {
  msgId: string | null;
  messageId: string | null;
  /** the recipients this copy was accepted for (its RCPT list); without it the copy is counted per mail */
  to?: readonly string[];
}

export interface CheckInput {
  /** msgIds the API answered 202 for (or rows a scenario seeded itself) */
  accepted: readonly string[];
  /** every copy the sink received */
  sink: readonly CheckCopy[];
  /** the msg_log rows of the scenario (rows without a 202, e.g. a request cut by a crash, are checked too) */
  rows: readonly CheckRow[];
  /** msgIds for which the sink saw an SMTP transaction reach RCPT or DATA; deadNeverTried is checked only when given */
  tried?: ReadonlySet<string>;
}

export interface CheckResult {
  /** 202s */
  accepted: number;
  /** rows checked: the accepted ones plus any committed whose 202 never arrived */
  rows: number;
  consumed: number;
  dead: number;
  /** rows not final at check time */
  pending: number;
  /** accepted msgIds without a row */
  missingRows: number;
  /** missingRows + pending: promised mails that did not reach a final state within the bound */
  lost: number;
  /** msgIds that reached the sink (copies without `to`), or one recipient (copies with `to`), more often than 1 + uncertain_count */
  duplicated: number;
  /** msgIds with a recipient that got more than 1 + uncertain_count copies (a subset of duplicated) */
  recipientDuplicated: number;
  /** msgIds that reached the sink more than once, every extra copy covered by uncertain_count */
  uncertain: number;
  /** sends whose outcome was unknown (sum of uncertain_count) */
  uncertainSends: number;
  /** rows consumed whose mail never reached the sink */
  consumedWithoutMail: number;
  /** dead rows whose mail did reach the sink (an uncertain send that ended dead): allowed, shown */
  deadWithMail: number;
  /** dead rows whose mail never reached the relay (not in `tried`, no copy) though their failure is not a publish-side one */
  deadNeverTried: number;
  /** copies received for the checked rows */
  copies: number;
  /** copies at the sink with no row at all */
  unexpectedMail: number;
  /** copies whose Message-ID is not the one of their msgId, or differs between copies */
  messageIdMismatch: number;
  /** a few msgIds per violation, to start looking */
  examples: Record<'lost' | 'duplicated' | 'recipientDuplicated' | 'deadNeverTried' | 'consumedWithoutMail' | 'unexpectedMail' | 'messageIdMismatch', string[]>;
  ok: boolean;
}

const EXAMPLES = 5;

/** The `kind` of a last_error stored as a JSON object; null for plain text, none, or JSON without a string kind. */
/** A row dead of a publish-side failure never reached a listener, so never the relay (the product's own list). */
const publishSide = (lastError: string | null | undefined): boolean => {
  const f = decodeFailure(lastError);
  return f !== null && isPublishSide(f);
};

export function failureKind(lastError: string | null | undefined): string | null {
  if (!lastError || !lastError.trimStart().startsWith('{')) return null;
  try {
    const parsed: unknown = JSON.parse(lastError);
    const kind = parsed && typeof parsed === 'object' ? (parsed as { kind?: unknown }).kind : undefined;
    return typeof kind === 'string' ? kind : null;
  } catch {
    return null;
  }
}

/** The recipient with the most copies among those carrying `to` (addresses compared case-insensitively). */
function mostCopiedRecipient(got: readonly CheckCopy[]): { recipient: string; n: number } | null {
  const per = new Map<string, { recipient: string; n: number }>();
  for (const c of got) {
    for (const to of new Set((c.to ?? []).map((a) => a.trim().toLowerCase()))) {
      const e = per.get(to) ?? { recipient: to, n: 0 };
      e.n++;
      per.set(to, e);
    }
  }
  let top: { recipient: string; n: number } | null = null;
  for (const e of per.values()) if (!top || e.n > top.n) top = e;
  return top;
}

export function check(input: CheckInput): CheckResult {
  const rows = new Map(input.rows.map((r) => [String(r.msg_id), r]));
  const accepted = new Set(input.accepted.map(String));
  const copies = new Map<string, CheckCopy[]>();
  let unexpectedMail = 0;
  const examples: CheckResult['examples'] = { lost: [], duplicated: [], recipientDuplicated: [], deadNeverTried: [], consumedWithoutMail: [], unexpectedMail: [], messageIdMismatch: [] };
  const note = (k: keyof CheckResult['examples'], id: string) => examples[k].length < EXAMPLES && examples[k].push(id);

  for (const c of input.sink) {
    const id = c.msgId === null ? null : String(c.msgId);
    if (id === null || (!rows.has(id) && !accepted.has(id))) {
      unexpectedMail++;
      note('unexpectedMail', id ?? '(no X-Msg-Id)');
      continue;
    }
    const list = copies.get(id) ?? [];
    list.push(c);
    copies.set(id, list);
  }

  const r: CheckResult = {
    accepted: accepted.size,
    rows: 0,
    consumed: 0,
    dead: 0,
    pending: 0,
    missingRows: 0,
    lost: 0,
    duplicated: 0,
    recipientDuplicated: 0,
    uncertain: 0,
    uncertainSends: 0,
    consumedWithoutMail: 0,
    deadWithMail: 0,
    deadNeverTried: 0,
    copies: 0,
    unexpectedMail,
    messageIdMismatch: 0,
    examples,
    ok: false,
  };

  // copies without `to` count per mail; copies with `to` per recipient (a resend to the refused ones is no duplicate)
  const atMostOnce = (id: string, got: readonly CheckCopy[], allowed: number) => {
    const plainExtra = got.filter((c) => !c.to?.length).length - 1;
    const top = mostCopiedRecipient(got);
    const rcptExtra = (top?.n ?? 0) - 1;
    if (top && rcptExtra > allowed) {
      r.recipientDuplicated++;
      note('recipientDuplicated', `${id} (${top.recipient} x${top.n})`);
    }
    if (plainExtra > allowed || rcptExtra > allowed) {
      r.duplicated++;
      note('duplicated', id);
    } else if (plainExtra > 0 || rcptExtra > 0) {
      r.uncertain++;
    }
  };

  const ids = new Set([...accepted, ...rows.keys()]);
  for (const id of ids) {
    const row = rows.get(id);
    const got = copies.get(id) ?? [];
    r.copies += got.length;
    if (!row) {
      r.missingRows++;
      note('lost', id);
      // a copy of a mail without a row still counts against at-most-once
      atMostOnce(id, got, 0);
      continue;
    }
    r.rows++;
    const uncertainCount = Number(row.uncertain_count) || 0;
    r.uncertainSends += uncertainCount;
    const status = Number(row.status);
    if (status === Status.consumed) r.consumed++;
    else if (status === Status.dead) r.dead++;
    else {
      r.pending++;
      note('lost', id);
    }
    if (status === Status.consumed && got.length === 0) {
      r.consumedWithoutMail++;
      note('consumedWithoutMail', id);
    }
    if (status === Status.dead && got.length > 0) r.deadWithMail++;
    if (status === Status.dead && input.tried && got.length === 0 && !input.tried.has(id) && !publishSide(row.last_error)) {
      r.deadNeverTried++;
      note('deadNeverTried', `${id} (${failureKind(row.last_error) ?? 'unknown kind'})`);
    }
    atMostOnce(id, got, uncertainCount);
    const mids = new Set(got.map((c) => c.messageId));
    if (got.length > 0 && (mids.size > 1 || !got[0]!.messageId?.startsWith(`<${id}@`))) {
      r.messageIdMismatch++;
      note('messageIdMismatch', id);
    }
  }
  r.lost = r.missingRows + r.pending;
  r.ok = r.lost === 0 && r.duplicated === 0 && r.recipientDuplicated === 0 && r.deadNeverTried === 0 && r.consumedWithoutMail === 0 && r.unexpectedMail === 0 && r.messageIdMismatch === 0;
  return r;
}

/** One line per scenario: `broker-restart: sent=3000 consumed=3000 dead=0 lost=0 duplicated=0 uncertain=0 (12.3 s)`. */
export function formatLine(scenario: string, r: CheckResult, ms: number): string {
  const extras: string[] = [];
  if (r.rows > r.accepted) extras.push(`unanswered-rows=${r.rows - r.accepted}`);
  if (r.uncertainSends) extras.push(`uncertain-sends=${r.uncertainSends}`);
  if (r.recipientDuplicated) extras.push(`recipient-duplicated=${r.recipientDuplicated}`);
  if (r.deadNeverTried) extras.push(`dead-never-tried=${r.deadNeverTried}`);
  if (r.consumedWithoutMail) extras.push(`consumed-without-mail=${r.consumedWithoutMail}`);
  if (r.unexpectedMail) extras.push(`unexpected-mail=${r.unexpectedMail}`);
  if (r.messageIdMismatch) extras.push(`message-id-mismatch=${r.messageIdMismatch}`);
  const tail = extras.length ? ` ${extras.join(' ')}` : '';
  return `${scenario}: sent=${r.accepted} consumed=${r.consumed} dead=${r.dead} lost=${r.lost} duplicated=${r.duplicated} uncertain=${r.uncertain}${tail} (${(ms / 1000).toFixed(1)} s)`;
}
