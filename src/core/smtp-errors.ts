// Which SMTP failures are worth retrying. A permanent one (5xx, bad address) goes to dead at once;
// a transient one (4xx, timeout, connection loss) is counted and retried with backoff.

export class MailSendError extends Error {
  override readonly name: string = 'MailSendError';
  constructor(
    message: string,
    readonly permanent: boolean,
    readonly responseCode?: number,
    readonly code?: string,
    /** the server may have accepted the mail before the connection failed: a resend may be a duplicate */
    readonly uncertain = false,
  ) {
    super(message);
  }
}

/** Mirrors BullMQ's UnrecoverableError: retrying cannot help. */
export class PermanentMailError extends MailSendError {
  override readonly name = 'PermanentMailError';
  constructor(message: string, responseCode?: number, code?: string) {
    super(message, true, responseCode, code);
  }
}

export class TransientMailError extends MailSendError {
  override readonly name = 'TransientMailError';
  constructor(message: string, responseCode?: number, code?: string, uncertain = false) {
    super(message, false, responseCode, code, uncertain);
  }
}

interface NodemailerLikeError {
  message?: string;
  code?: string;
  originalCode?: string;
  responseCode?: number;
  response?: string;
}

// The connection never opened: nothing can have been sent.
const NEVER_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
const CONNECTION_LOST = new Set(['ECONNECTION', 'ESOCKET', 'ETIMEDOUT']);

/** Turns whatever nodemailer threw into a typed, classified error. */
export function classifySmtpError(err: unknown): MailSendError {
  if (err instanceof MailSendError) return err;
  const e = (typeof err === 'object' && err !== null ? err : { message: String(err) }) as NodemailerLikeError;
  const text = (e.response ?? e.message ?? 'unknown SMTP error').slice(0, 500);
  const code = typeof e.code === 'string' ? e.code : undefined;
  const responseCode = typeof e.responseCode === 'number' ? e.responseCode : undefined;
  // A bad password is the operator's to fix, not the mail's fault: keep the mail and retry.
  if (code === 'EAUTH') return new TransientMailError(`SMTP authentication failed: ${text}`, responseCode, code);
  if (responseCode !== undefined && responseCode >= 500) return new PermanentMailError(`SMTP ${text}`, responseCode, code);
  if (responseCode !== undefined && responseCode >= 400) return new TransientMailError(`SMTP ${text}`, responseCode, code);
  // Nodemailer rejects a malformed envelope before talking to the server: retrying cannot fix it.
  if (code === 'EENVELOPE') return new PermanentMailError(`invalid envelope: ${text}`, responseCode, code);
  // A connection lost without a reply may have lost it after the server took the mail: the outcome is unknown.
  const uncertain = code !== undefined && CONNECTION_LOST.has(code) && !NEVER_CONNECTED.has(e.originalCode ?? '');
  return new TransientMailError(`SMTP ${code ?? 'error'}: ${text}`, responseCode, code, uncertain);
}
