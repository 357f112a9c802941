// Failures as data: every failure the product records is a Failure (what kind, the SMTP reply code and enhanced
// code, the recipient), stored as JSON in msg_log.last_error (and so in msg_event.error) and turned into a sentence
// only where a person reads it (src/core/explain.ts). Nothing parses text back.

export const FAILURE_KINDS = {
  // the broker side (src/broker/publisher.ts, the re-delivery job)
  'publish-nack': 'the broker refused the publish (nack)',
  'publish-returned': 'the broker returned the publish as unroutable',
  'publish-error': 'the publish failed',
  'publish-unavailable': 'the broker was not reachable',
  'confirm-timeout': 'no publisher confirm came in time',
  'no-confirm': 'no publisher confirm came within the publish grace',
  'not-consumed': 'no listener consumed it before the consumption deadline',
  'unconfirmed': 'its check message found no confirmation from a listener (RELIABILITY_SCHEME=delayed-check)',
  // the SMTP side (src/mail/smtp-lanes.ts)
  'smtp-transient': 'the SMTP server deferred it',
  'smtp-permanent': 'the SMTP server refused it permanently',
  'smtp-unknown': 'the connection failed after the message went out, with no reply (uncertain)',
  'relay-down': 'the SMTP relay was not reachable',
  'lease-lost': 'a listener took it but recorded no outcome before its lease ran out (uncertain)',
  'tries-exhausted': 'its tries ran out',
  // the suppression list (src/core/suppression.ts)
  'suppressed': 'the recipient is on the suppression list: an earlier mail to it was refused as unknown',
  // two-phase sending (src/core/check-back.ts)
  'check-back-unreachable': 'its check-back URL could not be reached',
  'check-back-undecided': 'its check-back URL answered neither commit nor cancel',
  'check-back-cancelled': 'its check-back URL answered cancel',
  'prepare-expired': 'it was prepared, never committed, and had no check-back URL to ask',
  'other': 'it failed',
} as const;

export type FailureKind = keyof typeof FAILURE_KINDS;

export interface Failure {
  kind: FailureKind;
  /** the SMTP reply code, e.g. 450 */
  code?: number;
  /** the enhanced status code (RFC 3463), e.g. "4.2.0" */
  enhanced?: string;
  /** the recipient the reply was about, for refusals at RCPT TO */
  recipient?: string;
  /** the SMTP command that got the reply, e.g. "RCPT TO" */
  command?: string;
  /** the server's words or the error's code, short; for people, never parsed */
  detail?: string;
}

const PUBLISH_SIDE: ReadonlySet<FailureKind> = new Set(['publish-nack', 'publish-returned', 'publish-error', 'publish-unavailable', 'confirm-timeout', 'no-confirm']);

export const isPublishSide = (f: Failure): boolean => PUBLISH_SIDE.has(f.kind);

/** last_error is VARCHAR(1000): the detail is cut so the JSON always fits. */
const MAX_DETAIL = 300;
const MAX_STORED = 1000;

export function encodeFailure(f: Failure): string {
  const out: Failure = { kind: f.kind };
  if (f.code !== undefined) out.code = f.code;
  if (f.enhanced) out.enhanced = f.enhanced;
  if (f.recipient) out.recipient = f.recipient.slice(0, 254);
  if (f.command) out.command = f.command.slice(0, 20);
  if (f.detail) out.detail = f.detail.replace(/\s+/g, ' ').trim().slice(0, MAX_DETAIL);
  let json = JSON.stringify(out);
  // Characters JSON escapes (control characters) take six each: cut the detail until the record fits.
  while (json.length > MAX_STORED && out.detail) {
    out.detail = out.detail.slice(0, Math.floor(out.detail.length / 2));
    json = JSON.stringify(out);
  }
  return json;
}

/** Reads last_error. Rows written before failures were data hold plain text: it becomes the detail of an `other`. */
export function decodeFailure(stored: string | null | undefined): Failure | null {
  if (!stored) return null;
  if (stored.startsWith('{')) {
    try {
      const f = JSON.parse(stored) as Failure;
      if (typeof f.kind === 'string' && Object.hasOwn(FAILURE_KINDS, f.kind)) return f;
    } catch {
      // not ours: fall through
    }
  }
  return { kind: 'other', detail: stored.slice(0, MAX_DETAIL) };
}

/** The enhanced status code at the start of a reply's text, after any reply code ("450 4.2.0 Greylisted" → "4.2.0"). */
export function enhancedCodeOf(reply: string | undefined): string | undefined {
  return reply ? /^(?:\d{3}[ -])?([245]\.\d{1,3}\.\d{1,3})(?=\s|$)/.exec(reply.trim())?.[1] : undefined;
}

/** A short phrase for people, e.g. "SMTP answered 450 4.2.0 for b@example.org". */
export function failurePhrase(f: Failure): string {
  if ((f.kind === 'smtp-transient' || f.kind === 'smtp-permanent') && f.code) {
    const who = f.recipient ? ` for ${f.recipient}` : '';
    return `SMTP answered ${f.code}${f.enhanced ? ` ${f.enhanced}` : ''}${who}`;
  }
  if (f.kind === 'relay-down' && f.code) return `the SMTP relay refused the session (${f.code}${f.enhanced ? ` ${f.enhanced}` : ''}${f.command ? ` at ${f.command}` : ''})`;
  if (f.kind === 'relay-down' && f.detail) return `${FAILURE_KINDS['relay-down']} (${f.detail})`;
  if (f.kind === 'other' && f.detail) return `it failed (${f.detail.slice(0, 120)})`;
  if (f.kind === 'publish-error' && f.detail) return `${FAILURE_KINDS['publish-error']} (${f.detail.slice(0, 80)})`;
  return FAILURE_KINDS[f.kind];
}

export const isPermanent = (f: Failure): boolean => f.kind === 'smtp-permanent';
