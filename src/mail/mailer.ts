// The SMTP side: nodemailer, pooled, behind a small interface so the listener can be tested without it.
import nodemailer from 'nodemailer';
import { scrubError, secretsOfUrl } from '../core/secrets';
import { classifySmtpError } from '../core/smtp-errors';
import { buildPlainMail, formatFrom } from './mime';

export interface OutgoingMail {
  msgId: string;
  to: string[];
  subject: string;
  text: string;
}

export interface SendResult {
  accepted: string[];
  rejected: string[];
  /** the SMTP server's last reply, e.g. "250 OK: queued as ..." */
  response: string;
}

export interface Mailer {
  /** Sends one mail; throws a classified MailSendError (transient or permanent) when it was not accepted. */
  send(mail: OutgoingMail): Promise<SendResult>;
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

export function smtpTransportOptions(o: SmtpOptions) {
  const u = new URL(o.url);
  const secure = u.protocol === 'smtps:';
  return {
    host: u.hostname,
    port: u.port ? Number(u.port) : secure ? 465 : 587,
    secure,
    auth: u.username ? { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } : undefined,
    // Loopback catchers and test sinks speak plain SMTP; anywhere else STARTTLS is used when offered.
    ignoreTLS: u.searchParams.get('ignoreTLS') === 'true',
    tls: { rejectUnauthorized: u.searchParams.get('rejectUnauthorized') !== 'false' },
    pool: true as const,
    maxConnections: o.poolSize,
    maxMessages: Infinity,
    // The product decides about retries, not the pool: a connection lost mid-send must surface as an error.
    maxRequeues: 0,
    connectionTimeout: o.timeoutMs,
    greetingTimeout: o.timeoutMs,
    socketTimeout: o.timeoutMs,
    // Nothing from a request can make the transport read files or fetch URLs.
    disableFileAccess: true,
    disableUrlAccess: true,
  };
}

export class SmtpMailer implements Mailer {
  private readonly transport;
  private readonly from: { header: string; address: string };

  constructor(private readonly options: SmtpOptions) {
    this.transport = nodemailer.createTransport(smtpTransportOptions(options));
    this.from = formatFrom(options.from);
  }

  async send(mail: OutgoingMail): Promise<SendResult> {
    const messageId = messageIdFor(mail.msgId, this.options.from);
    const raw = buildPlainMail({ fromHeader: this.from.header, to: mail.to, subject: mail.subject, text: mail.text, messageId, msgId: mail.msgId });
    try {
      // The envelope sender is MAIL_FROM's address, never anything from the request. messageId only spares
      // nodemailer generating a random one for its bookkeeping; the raw message already carries it.
      const info = await this.transport.sendMail({ envelope: { from: this.from.address, to: [...mail.to] }, raw, messageId });
      return {
        accepted: (info.accepted ?? []).map(String),
        rejected: (info.rejected ?? []).map(String),
        response: String(info.response ?? ''),
      };
    } catch (err) {
      // An SMTP server may echo what it was sent: the password never reaches last_error or the logs.
      throw classifySmtpError(scrubError(err, secretsOfUrl(this.options.url)));
    }
  }

  async verify(): Promise<void> {
    await this.transport.verify();
  }

  async close(): Promise<void> {
    this.transport.close();
  }
}
