// The SMTP side as the listener sees it: a fixed number of lanes (one SMTP connection each). A mail is claimed only
// once a lane is free and sent on it at once, so a claim covers one send and never a place in a queue.
import type { SMTPConnectionOptions } from 'nodemailer/lib/smtp-connection';
import type { SendOutcome } from '../core/smtp-outcome';

export interface OutgoingMail {
  msgId: string;
  /** every recipient of the mail: the To header */
  to: string[];
  /** the recipients this send goes to (the envelope); those still pending after earlier tries */
  envelopeTo: string[];
  subject: string;
  text: string;
  /** an HTML alternative: the mail goes as multipart/alternative with the text first */
  html?: string;
  /** the Cc header (Bcc recipients are in the envelope only) */
  cc?: string[];
  replyTo?: string[];
}

export interface Lane {
  /**
   * Sends one mail; never rejects: every result is a SendOutcome. `beforeContent` is asked once the server has
   * answered the envelope and before the content goes out; false gives the send up (`not-sent`).
   */
  send(mail: OutgoingMail, beforeContent?: () => boolean): Promise<SendOutcome>;
  /** gives the lane back; call exactly once, after send settled */
  release(): void;
}

export interface Mailer {
  /** lanes in all: sends at once at most */
  readonly size: number;
  /** Waits for a free lane. Rejects once the mailer is closed, or when `signal` aborts the wait. */
  acquire(signal?: AbortSignal): Promise<Lane>;
  /** Connects and greets (and logs in): a probe of the relay that sends nothing. */
  verify(): Promise<void>;
  close(): Promise<void>;
}

export interface SmtpOptions {
  url: string;
  from: string;
  poolSize: number;
  timeoutMs: number;
}

/** `<msgId@domain-of-MAIL_FROM>`: every copy of one message carries the same Message-ID, so a receiver can spot a resend. */
export function messageIdFor(msgId: string, from: string): string {
  const domain = /@([^>\s]+)>?\s*$/.exec(from)?.[1] ?? 'mail-dispatch.local';
  return `<${msgId}@${domain}>`;
}

export interface ConnectionSettings {
  connection: SMTPConnectionOptions;
  auth?: { user: string; pass: string };
}

export function smtpConnectionOptions(o: SmtpOptions): ConnectionSettings {
  const u = new URL(o.url);
  const secure = u.protocol === 'smtps:';
  return {
    connection: {
      host: u.hostname,
      port: u.port ? Number(u.port) : secure ? 465 : 587,
      secure,
      // Loopback catchers and test sinks speak plain SMTP; anywhere else STARTTLS is used when offered.
      ignoreTLS: u.searchParams.get('ignoreTLS') === 'true',
      tls: { rejectUnauthorized: u.searchParams.get('rejectUnauthorized') !== 'false' },
      connectionTimeout: o.timeoutMs,
      greetingTimeout: o.timeoutMs,
      socketTimeout: o.timeoutMs,
      allowInternalNetworkInterfaces: true,
    },
    auth: u.username ? { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } : undefined,
  };
}
