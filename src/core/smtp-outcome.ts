// What one SMTP transaction meant, per recipient, from what nodemailer's SMTPConnection reported. Pure: the lanes
// (src/mail/smtp-lanes.ts) tell where the transaction got to; this decides what it means for the mail.
//
// Three kinds of failure, kept apart because each is handled differently:
//   - the relay is down or refuses the session (connect, greeting, EHLO, STARTTLS, AUTH, MAIL FROM): nothing reached
//     a relay that was up, so no mail is at fault, no try is counted, the listener pauses (src/listener/relay-circuit.ts);
//   - a recipient or the mail is refused (RCPT TO, DATA, the reply after the content): per recipient, 4xx deferred
//     and tried again later for that recipient only, 5xx bounced;
//   - the content went out and no reply came: the outcome is unknown (uncertain), the only case that may duplicate.
import { enhancedCodeOf, type Failure } from './failure';

export type RecipientState = 'accepted' | 'deferred' | 'bounced';

export interface RecipientResult {
  recipient: string;
  state: RecipientState;
  /** why it was not accepted */
  failure?: Failure;
}

export type SendOutcome =
  /** the transaction ended with an answer for every recipient (accepted, deferred or bounced) */
  | { kind: 'done'; recipients: RecipientResult[]; response: string }
  /** nothing reached a relay that was up */
  | { kind: 'relay-down'; failure: Failure }
  /** the content went out and no reply came */
  | { kind: 'unknown'; failure: Failure }
  /** the send was given up before the content went out (the claim was no longer held) */
  | { kind: 'not-sent'; reason: string };

/** The fields of a nodemailer error this product reads. */
export interface SmtpErrorLike {
  message?: string;
  code?: string;
  originalCode?: string;
  responseCode?: number;
  response?: string;
  command?: string;
  recipient?: string;
  rejectedErrors?: SmtpErrorLike[];
}

/** Where the transaction was when it failed, as the lane saw it. */
export interface SendProgress {
  /** the envelope's answers (known once DATA was answered with 354): accepted recipients, and the refusals */
  envelope: { accepted: readonly string[]; rejectedErrors: readonly SmtpErrorLike[] } | null;
  /** the message content started to go out (after DATA's 354) */
  contentStarted: boolean;
}

const reply = (e: SmtpErrorLike) => (e.response ?? e.message ?? '').trim();

/** A reply to one command as a Failure: 4xx transient, 5xx permanent. */
export function replyFailure(e: SmtpErrorLike, recipient?: string): Failure {
  const code = e.responseCode;
  const text = reply(e);
  return {
    kind: code !== undefined && code >= 500 ? 'smtp-permanent' : 'smtp-transient',
    code,
    enhanced: enhancedCodeOf(text),
    recipient,
    command: e.command,
    detail: text,
  };
}

const asResult = (recipient: string, failure: Failure): RecipientResult => ({
  recipient,
  state: failure.kind === 'smtp-permanent' ? 'bounced' : 'deferred',
  failure,
});

/** Recipients refused at RCPT TO, each with its own reply. */
export function refusedAtRcpt(errors: readonly SmtpErrorLike[] | undefined): RecipientResult[] {
  return (errors ?? []).filter((e) => e.recipient).map((e) => asResult(e.recipient!, replyFailure(e, e.recipient)));
}

/** A successful transaction: the accepted recipients, and those refused at RCPT TO. */
export function successOutcome(info: { accepted?: unknown[]; rejectedErrors?: SmtpErrorLike[]; response?: unknown }): SendOutcome {
  const accepted: RecipientResult[] = (info.accepted ?? []).map((r) => ({ recipient: String(r), state: 'accepted' }));
  return { kind: 'done', recipients: [...accepted, ...refusedAtRcpt(info.rejectedErrors)], response: String(info.response ?? '') };
}

// A sender refused for the size of the mail is the mail's problem; any other refusal of MAIL FROM (throttling, 421,
// a sender the relay does not allow) is the relay's or the operator's, and every mail would get it.
const MAIL_FROM_MAILS_FAULT = (code: number | undefined, enhanced: string | undefined) => code === 552 || enhanced === '5.3.4';

/** A failed transaction, given where it got to. */
export function failureOutcome(err: SmtpErrorLike, recipients: readonly string[], progress: SendProgress): SendOutcome {
  const code = err.responseCode;
  const all = (failure: Failure): SendOutcome => ({
    kind: 'done',
    recipients: [...(progress.envelope?.accepted ?? recipients).map((r) => asResult(r, failure)), ...refusedAtRcpt(progress.envelope?.rejectedErrors ?? err.rejectedErrors)],
    response: reply(err),
  });
  if (progress.contentStarted) {
    // The server answered the content: that answer is the mail's. No answer: nobody knows whether it was taken.
    if (code !== undefined && code >= 400) return all(replyFailure(err));
    return { kind: 'unknown', failure: { kind: 'smtp-unknown', command: 'DATA', detail: `${err.code ?? 'error'}: ${reply(err)}` } };
  }
  // Every recipient refused at RCPT TO: each keeps its own reply.
  if (err.command === 'RCPT TO' && err.rejectedErrors?.length) {
    return { kind: 'done', recipients: refusedAtRcpt(err.rejectedErrors), response: reply(err) };
  }
  // DATA refused after some recipients were accepted (e.g. 554 no valid recipients, 451 local error).
  if (err.command === 'DATA' && code !== undefined) return all(replyFailure(err));
  if (err.command === 'MAIL FROM' && code !== undefined && MAIL_FROM_MAILS_FAULT(code, enhancedCodeOf(reply(err)))) {
    return all(replyFailure(err));
  }
  // Refused by nodemailer itself before talking to the server: the mail can never be sent as it is.
  if ((err.code === 'EENVELOPE' || err.code === 'EMESSAGE') && err.command === 'API') {
    return all({ kind: 'smtp-permanent', command: 'API', detail: reply(err) });
  }
  if (err.code === 'EMESSAGE' && code === undefined) return all({ kind: 'smtp-permanent', command: err.command, detail: reply(err) });
  // Connect, greeting, EHLO, STARTTLS, AUTH, MAIL FROM, or a connection lost before the content: the relay's.
  return { kind: 'relay-down', failure: relayFailure(err) };
}

/** A failure of the relay itself (also what a probe that failed reports). */
export function relayFailure(err: SmtpErrorLike): Failure {
  const code = err.responseCode;
  return {
    kind: 'relay-down',
    code,
    enhanced: code ? enhancedCodeOf(reply(err)) : undefined,
    command: err.command,
    detail: `${err.originalCode ?? err.code ?? 'error'}: ${reply(err)}`.slice(0, 200),
  };
}
