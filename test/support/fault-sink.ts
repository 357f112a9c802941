// A loopback SMTP sink for fault scenarios (and for `npm run chaos`). It records every copy it accepted and every
// attempt it saw, and answers each mail as told: accept, 4xx, 5xx, hang (never answer), or drop the connection
// after DATA (the mail is kept, the client never learns it: the "uncertain" case). The answer can be set for the
// whole sink (`mode`) or per mail and attempt (`decide`), and the 250 can be held back (`replyDelayMs`) to widen
// the window between the mail arriving and the sender recording it. test/support/smtp-sink.ts is the simple one.
//
// It also behaves like a real relay when told (relay-behaviours.ts): per-recipient answers at RCPT TO (`rcpt`),
// greylisting (`greylist`), a slow relay (`perMailDelayMs`), a rate limit (`throttle`), going down and up on the
// same port (`down`, `up`), and a 421 greeting (`greeting421`). Every RCPT answer is recorded (`rcptAttempts`).
import { SMTPServer } from 'smtp-server';
import type { AddressInfo } from 'node:net';
import { RelayBehaviours, type Delivery } from './relay-behaviours';

export type { Delivery, GreylistRefusal, RcptAnswer, RcptAttempt, RcptQuery, ThrottleRefusal } from './relay-behaviours';

export type SinkAction = 'accept' | 'tempfail' | 'permfail' | 'hang' | 'drop-after-data';

export interface SinkCopy {
  msgId: string | null;
  messageId: string | null;
  /** the recipients the sink accepted at RCPT TO for this copy */
  to: string[];
  subject: string | null;
  at: number;
}

export interface SinkAttempt extends SinkCopy {
  /** 1 for the first DATA this sink saw for the msgId */
  attempt: number;
  action: SinkAction;
  /** set when the client left before a slow relay (perMailDelayMs) answered: the mail was not kept */
  abandoned?: true;
}

export interface FaultSinkOptions {
  port?: number;
  host?: string;
}

type Connection = { id: string; close(): void; _socket?: { destroy(): void } };

export class FaultSink extends RelayBehaviours {
  /** copies the sink kept (accepted, or dropped after DATA) */
  readonly received: SinkCopy[] = [];
  /** every DATA the sink saw, with what it answered */
  readonly attempts: SinkAttempt[] = [];
  mode: SinkAction = 'accept';
  /** per mail and attempt; falls back to `mode` when it returns undefined */
  decide: ((mail: { msgId: string | null; attempt: number; subject: string | null }) => SinkAction | undefined) | null = null;
  /** ms between keeping a mail and answering 250 */
  replyDelayMs = 0;
  /** sessions whose connection is open */
  private readonly open = new Set<string>();
  private readonly server: SMTPServer;
  private readonly perMsg = new Map<string, number>();
  private listenPort = 0;
  private listening = false;

  constructor(private readonly options: FaultSinkOptions = {}) {
    super();
    this.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      disableReverseLookup: true,
      logger: false,
      closeTimeout: 200,
      size: 10 * 1024 * 1024,
      onConnect: (session, callback) => {
        const refused = this.answerConnect(session.id, this.listening);
        if (!refused) this.open.add(session.id);
        callback(refused);
      },
      onMailFrom: (_address, session, callback) => callback(this.answerMail(session.id)),
      onRcptTo: (address, session, callback) => callback(this.answerRcpt(session.envelope.mailFrom ? session.envelope.mailFrom.address : '', address.address, session.id, session.transaction)),
      onData: (stream, session, callback) => {
        const parts: Buffer[] = [];
        const transaction = session.transaction;
        stream.on('data', (d: Buffer) => parts.push(d));
        stream.on('end', () => this.onMessage(Buffer.concat(parts).toString(), session.envelope.rcptTo.map((r) => r.address), callback, session.id, transaction));
      },
      onClose: (session) => {
        this.open.delete(session.id);
        this.limiter?.release(session.id);
      },
    });
    this.server.on('error', () => undefined);
  }

  private onMessage(raw: string, to: string[], callback: (err?: Error | null) => void, sessionId: string, transaction: number): void {
    const head = raw.split(/\r?\n\r?\n/)[0] ?? '';
    const header = (name: string) => new RegExp(`^${name}:\\s*(.+)$`, 'im').exec(head)?.[1]?.trim() ?? null;
    const copy: SinkCopy = { msgId: header('X-Msg-Id'), messageId: header('Message-ID'), to, subject: header('Subject'), at: Date.now() };
    this.linkRcpts(sessionId, transaction, copy.msgId);
    const key = copy.msgId ?? '';
    const attempt = (this.perMsg.get(key) ?? 0) + 1;
    this.perMsg.set(key, attempt);
    const action = this.decide?.({ msgId: copy.msgId, attempt, subject: copy.subject }) ?? this.mode;
    const record: SinkAttempt = { ...copy, attempt, action };
    this.attempts.push(record);
    const keep = () => {
      this.received.push({ ...copy, at: Date.now() });
      this.limiter?.accepted(sessionId, Date.now());
    };
    const answer = (delayed: boolean) => {
      if (delayed && !this.open.has(sessionId)) {
        record.abandoned = true; // the client gave up on a slow relay
        return this.limiter?.release(sessionId);
      }
      switch (action) {
        case 'tempfail':
          this.limiter?.release(sessionId);
          return callback(Object.assign(new Error('4.3.0 mailbox temporarily unavailable'), { responseCode: 451 }));
        case 'permfail':
          this.limiter?.release(sessionId);
          // after DATA a permanent refusal is about the content (a spam verdict): the address stays off the suppression list
          return callback(Object.assign(new Error('5.7.1 message refused by policy'), { responseCode: 550 }));
        case 'accept':
          keep();
          if (this.replyDelayMs > 0) setTimeout(() => callback(), this.replyDelayMs);
          else callback();
      }
    };
    switch (action) {
      case 'hang':
        return; // never answers: the client's timeout must fire
      case 'drop-after-data':
        keep();
        for (const c of this.connections()) if (c.id === sessionId) c.close();
        return;
      default:
        if (this.perMailDelayMs > 0) setTimeout(() => answer(true), this.perMailDelayMs);
        else answer(false);
    }
  }

  private connections(): Set<Connection> {
    return (this.server as unknown as { connections: Set<Connection> }).connections;
  }

  private async listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.server.once('error', reject);
      this.server.listen(port, this.options.host ?? '127.0.0.1', () => {
        this.server.server.off('error', reject);
        resolve();
      });
    });
    this.listenPort = (this.server.server.address() as AddressInfo).port;
    this.listening = true;
  }

  async start(): Promise<this> {
    await this.listen(this.options.port ?? 0);
    return this;
  }

  /** Stops listening and cuts every connection: clients get ECONNREFUSED (or a lost connection) until up(). */
  async down(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    const closed = new Promise<void>((resolve) => this.server.server.close(() => resolve()));
    for (const c of this.connections()) {
      c.close();
      c._socket?.destroy();
    }
    await closed;
  }

  /** Listens again, on the same port. */
  async up(): Promise<void> {
    if (!this.listening) await this.listen(this.listenPort);
  }

  get port(): number {
    return this.listenPort;
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.listenPort}?ignoreTLS=true`;
  }

  countFor(msgId: string): number {
    return this.received.filter((m) => m.msgId === msgId).length;
  }

  attemptsFor(msgId: string): SinkAttempt[] {
    return this.attempts.filter((a) => a.msgId === msgId);
  }

  /** One entry per recipient of every kept copy. */
  deliveries(): Delivery[] {
    return this.received.flatMap((c) => c.to.map((recipient) => ({ msgId: c.msgId, recipient, at: c.at })));
  }

  /**
   * msgIds whose mail reached this sink's RCPT or DATA (for the checker's `tried`). A transaction whose every RCPT
   * was refused sends no DATA, so it has no msgId: pass `msgIdOf` (recipient address -> msgId) to count those.
   */
  triedMsgIds(msgIdOf?: (address: string) => string | undefined): Set<string> {
    const ids = new Set<string>();
    for (const a of this.attempts) if (a.msgId !== null) ids.add(a.msgId);
    for (const r of this.rcptAttempts) {
      const id = r.msgId ?? msgIdOf?.(r.to);
      if (id) ids.add(id);
    }
    return ids;
  }

  /** Forgets what was received and every behaviour set (chaos runs several scenarios on one sink); a sink that is down stays down. */
  clear(): void {
    this.received.length = 0;
    this.attempts.length = 0;
    this.perMsg.clear();
    this.decide = null;
    this.mode = 'accept';
    this.replyDelayMs = 0;
    this.clearRelay();
  }

  async stop(): Promise<void> {
    for (const c of this.connections()) c.close();
    if (!this.listening) return;
    this.listening = false;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
