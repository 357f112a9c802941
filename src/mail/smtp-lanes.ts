// The SMTP mailer: SMTP_POOL_SIZE lanes, each with at most one connection (nodemailer's SMTPConnection), kept open
// between mails. A lane sends one mail at a time, so whoever holds a lane is the one sending: there is no queue in
// front of the relay where a claimed mail could wait. The lane knows how far a transaction got (envelope answered,
// content started), which is what tells a relay that is down from a mail that was refused from an unknown outcome.
import { Readable } from 'node:stream';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { scrubError, secretsOfUrl } from '../core/secrets';
import { Slots } from '../core/slots';
import { failureOutcome, successOutcome, type SendOutcome, type SendProgress, type SmtpErrorLike } from '../core/smtp-outcome';
import { messageIdFor, smtpConnectionOptions, type ConnectionSettings, type Lane, type Mailer, type OutgoingMail, type SmtpOptions } from './mailer';
import { buildMail, formatFrom } from './mime';
import { TUNING } from '../tuning';


export class SmtpMailer implements Mailer {
  readonly size: number;
  private readonly free: SmtpLane[] = [];
  /** one per free lane: whoever holds one takes a lane from `free` */
  private readonly slots: Slots;
  private readonly lanes: SmtpLane[] = [];
  readonly settings: ConnectionSettings;
  readonly secrets: string[];
  readonly from: { header: string; address: string; raw: string };

  constructor(options: SmtpOptions) {
    this.size = options.poolSize;
    this.slots = new Slots(this.size);
    this.settings = smtpConnectionOptions(options);
    this.secrets = secretsOfUrl(options.url);
    this.from = { ...formatFrom(options.from), raw: options.from };
    for (let i = 0; i < this.size; i++) this.lanes.push(new SmtpLane(this));
    this.free.push(...this.lanes);
  }

  async acquire(signal?: AbortSignal): Promise<Lane> {
    await this.slots.acquire(signal);
    return this.free.pop()!.take();
  }

  /** @internal a lane's release */
  giveBack(lane: SmtpLane): void {
    this.free.push(lane);
    this.slots.release();
  }

  async verify(): Promise<void> {
    const conn = await openConnection(this.settings).catch((err: unknown) => {
      throw scrubError(err, this.secrets);
    });
    conn.quit();
  }

  async close(): Promise<void> {
    this.slots.close(new Error('the mailer is closed'));
    for (const lane of this.lanes) lane.drop();
  }
}

/** Connects, greets and logs in; resolves with a connection ready for MAIL FROM. */
function openConnection(settings: ConnectionSettings): Promise<SMTPConnection> {
  const conn = new SMTPConnection(settings.connection);
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      conn.close();
      reject(err);
    };
    conn.once('error', fail);
    // A connection closed before the greeting is reported through this callback, not as an 'error'.
    conn.connect((err) => {
      if (err) return fail(err);
      const ready = () => {
        conn.removeListener('error', fail);
        resolve(conn);
      };
      if (!settings.auth) return ready();
      conn.login(settings.auth, (err) => (err ? fail(err) : ready()));
    });
  });
}

class SmtpLane implements Lane {
  private conn: SMTPConnection | null = null;
  private idle: NodeJS.Timeout | null = null;
  private held = false;

  constructor(private readonly mailer: SmtpMailer) {}

  take(): this {
    this.held = true;
    if (this.idle) clearTimeout(this.idle);
    this.idle = null;
    return this;
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    if (this.conn) this.idle = setTimeout(() => this.drop(), TUNING.laneIdleMs).unref();
    this.mailer.giveBack(this);
  }

  async send(mail: OutgoingMail, beforeContent?: () => boolean): Promise<SendOutcome> {
    const reused = this.conn !== null;
    const outcome = await this.attempt(mail, beforeContent);
    // A kept connection the relay closed meanwhile fails before anything was sent: once more on a new one.
    if (outcome.kind === 'relay-down' && reused) return this.attempt(mail, beforeContent);
    return outcome;
  }

  private async attempt(mail: OutgoingMail, beforeContent?: () => boolean): Promise<SendOutcome> {
    const progress: SendProgress = { envelope: null, contentStarted: false };
    let conn: SMTPConnection;
    try {
      conn = await this.connection();
    } catch (err) {
      return failureOutcome(scrubError(err, this.mailer.secrets) as SmtpErrorLike, mail.envelopeTo, progress);
    }
    const { from } = this.mailer;
    const raw = buildMail({ fromHeader: from.header, to: mail.to, cc: mail.cc, replyTo: mail.replyTo, subject: mail.subject, text: mail.text, html: mail.html, messageId: messageIdFor(mail.msgId, from.raw), msgId: mail.msgId });
    let gaveUp = false;
    let started = false;
    // Read only once the server has answered DATA with 354: the moment the content starts to go out.
    const content = new Readable({
      read() {
        if (started) return;
        started = true;
        progress.envelope = envelopeOf(conn);
        if (beforeContent && !beforeContent()) {
          gaveUp = true;
          this.destroy(new Error('the claim is no longer held'));
          return;
        }
        progress.contentStarted = true;
        this.push(raw);
        this.push(null);
      },
    });
    return new Promise<SendOutcome>((resolve) => {
      conn.send({ from: from.address, to: [...mail.envelopeTo] }, content, (err, info) => {
        if (!err && info) return resolve(successOutcome(info));
        // After any failure the session's state is unclear (a transaction half done): the connection is not reused.
        this.drop();
        if (gaveUp) return resolve({ kind: 'not-sent', reason: 'the claim was no longer held before the content went out' });
        // DATA refused: the envelope's answers (who was refused at RCPT TO, and why) are still on the connection.
        progress.envelope ??= envelopeOf(conn);
        resolve(failureOutcome(scrubError(err, this.mailer.secrets) as SmtpErrorLike, mail.envelopeTo, progress));
      });
    });
  }

  private async connection(): Promise<SMTPConnection> {
    if (this.conn) return this.conn;
    const conn = await openConnection(this.mailer.settings);
    // From here on errors reach the send in flight through its callback; the events only retire the connection.
    conn.on('error', () => this.forget(conn));
    conn.once('end', () => this.forget(conn));
    this.conn = conn;
    return conn;
  }

  private forget(conn: SMTPConnection): void {
    if (this.conn === conn) this.conn = null;
  }

  drop(): void {
    if (this.idle) clearTimeout(this.idle);
    this.idle = null;
    const conn = this.conn;
    this.conn = null;
    conn?.close();
  }
}

/**
 * The envelope's answers as nodemailer keeps them while the content is sent (its public result only comes at the
 * end, and an error after the content carries none). Read, never written; test/integration/smtp-lanes.int.test.ts pins it.
 */
function envelopeOf(conn: SMTPConnection): SendProgress['envelope'] {
  const env = (conn as unknown as { _envelope?: { accepted?: string[]; rejectedErrors?: SmtpErrorLike[] } })._envelope;
  return env?.accepted ? { accepted: [...env.accepted], rejectedErrors: [...(env.rejectedErrors ?? [])] } : null;
}
